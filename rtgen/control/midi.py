"""MIDI input and output for rtgen (python-rtmidi on ALSA or JACK).

Input path (control side, may block; never the audio thread)::

    rtmidi port ─► MidiInput poll thread ─► decode ─► engine.command(..., ring=RING_MIDI)
                                               └───► listeners (Continuator, follower)

Every message is scheduled at a *constant latency*: a message that arrives at
monotonic time ``t`` is played at engine sample ``now_sample(t) + latency_samples``.
Jitter of the arrival estimate therefore turns into jitter of the scheduled
sample, and :class:`JitterMeter` measures it.

The rtmidi callback is not used: with the JACK API it would run Python (and take
the GIL) inside JACK's process thread. Messages are instead queued by rtmidi and
drained by a Python thread; the per-message delta times rtmidi records (in the
backend's own thread, at arrival) rebuild each message's arrival time, so the
poll period does not add jitter.

:class:`MidiParser` decodes a raw byte stream (running status, interleaved
real-time bytes, sysex skipping, stray data bytes); :func:`decode_message`
decodes one complete message as rtmidi delivers it. Both count what they drop
or clamp.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import DeviceError
from ..rt.layout import (
    C_ALL_OFF,
    C_LAYER,
    C_NOTE_OFF,
    C_NOTE_ON,
    C_PANIC,
    C_PITCHBEND,
    C_SUSTAIN,
    LAYER_ANSWER,
    LAYER_PLAYER,
    LF_INSTR,
    LF_VIB_DEPTH,
    N_INSTR,
    O_NOTE_OFF,
    O_NOTE_ON,
    RING_MIDI,
)

log = logging.getLogger("rtgen.midi")

MOD_VIBRATO_CENTS = 50.0   # the mod wheel (CC1) at 127: vibrato depth of the input layer's voices

# ---------------------------------------------------------------- decoded message kinds
M_NOTE_ON = 1        # a=note b=velocity (1..127)
M_NOTE_OFF = 2       # a=note b=release velocity
M_CC = 3             # a=controller b=value (controllers without a dedicated kind)
M_PITCHBEND = 4      # a=-8192..8191
M_PROGRAM = 5        # a=program
M_SUSTAIN = 6        # a=0/1 (CC64 >= 64)
M_MOD = 7            # a=0..127 (CC1)
M_ALL_NOTES_OFF = 8  # CC123 (and CC124..127, which imply it)
M_PANIC = 9          # CC120 all sound off, or a system reset byte 0xFF
M_AFTERTOUCH = 10    # a=note (or -1 for channel pressure) b=pressure

KIND_NAMES = {M_NOTE_ON: "note_on", M_NOTE_OFF: "note_off", M_CC: "cc", M_PITCHBEND: "pitchbend",
              M_PROGRAM: "program", M_SUSTAIN: "sustain", M_MOD: "mod", M_ALL_NOTES_OFF: "all_notes_off",
              M_PANIC: "panic", M_AFTERTOUCH: "aftertouch"}


class MidiEvent(NamedTuple):
    kind: int
    channel: int      # 0..15 (-1 for system messages)
    a: int
    b: int


@dataclass
class ParseStats:
    messages: int = 0
    dropped: int = 0          # malformed / unusable messages and stray data bytes
    clamped: int = 0          # values forced into range
    sysex: int = 0            # sysex messages skipped
    realtime: int = 0         # real-time bytes (clock, start, ...) ignored
    ignored: int = 0          # well-formed messages rtgen does not use

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# data bytes that follow each channel status nibble
_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
# system common messages: data bytes that follow (0xF0 sysex handled apart)
_SYS_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF4: 0, 0xF5: 0, 0xF6: 0, 0xF7: 0}


def _channel_event(status: int, d: list[int], stats: ParseStats) -> MidiEvent | None:
    """Decode a channel message whose data bytes are already known to be 0..127."""
    hi = status & 0xF0
    ch = status & 0x0F
    if hi == 0x90:
        if d[1] == 0:                           # velocity 0 is a note-off
            return MidiEvent(M_NOTE_OFF, ch, d[0], 0)
        return MidiEvent(M_NOTE_ON, ch, d[0], d[1])
    if hi == 0x80:
        return MidiEvent(M_NOTE_OFF, ch, d[0], d[1])
    if hi == 0xB0:
        cc, v = d
        if cc == 64:
            return MidiEvent(M_SUSTAIN, ch, 1 if v >= 64 else 0, v)
        if cc == 1:
            return MidiEvent(M_MOD, ch, v, 0)
        if cc == 120:
            return MidiEvent(M_PANIC, ch, 0, 0)
        if cc in (123, 124, 125, 126, 127):     # omni/mono/poly mode changes imply all notes off
            return MidiEvent(M_ALL_NOTES_OFF, ch, 0, 0)
        return MidiEvent(M_CC, ch, cc, v)
    if hi == 0xE0:
        return MidiEvent(M_PITCHBEND, ch, (d[0] | (d[1] << 7)) - 8192, 0)
    if hi == 0xC0:
        return MidiEvent(M_PROGRAM, ch, d[0], 0)
    if hi == 0xA0:
        return MidiEvent(M_AFTERTOUCH, ch, d[0], d[1])
    if hi == 0xD0:
        return MidiEvent(M_AFTERTOUCH, ch, -1, d[0])
    stats.dropped += 1
    return None


def decode_message(msg: Iterable[int], stats: ParseStats | None = None) -> MidiEvent | None:
    """Decode one complete message (as delivered by rtmidi).

    Data bytes above 127 (impossible on the wire, possible from a buggy source) are
    clamped into 0..127 and counted; truncated or unknown messages are dropped and counted.
    """
    st = stats if stats is not None else ParseStats()
    m = list(msg)
    if not m:
        st.dropped += 1
        return None
    status = int(m[0])
    if status < 0x80 or status > 0xFF:
        st.dropped += 1
        return None
    if status == 0xF0:
        st.sysex += 1
        return None
    if status >= 0xF8:
        if status == 0xFF:
            st.messages += 1
            return MidiEvent(M_PANIC, -1, 0, 0)
        st.realtime += 1
        return None
    if status >= 0xF1:
        st.ignored += 1
        return None
    need = _DATA_LEN[status & 0xF0]
    if len(m) < 1 + need:
        st.dropped += 1
        return None
    d = []
    for x in m[1:1 + need]:
        x = int(x)
        if x < 0 or x > 127:
            st.clamped += 1
            x = 0 if x < 0 else 127
        d.append(x)
    ev = _channel_event(status, d, st)
    if ev is not None:
        st.messages += 1
    return ev


class MidiParser:
    """Byte-stream MIDI parser with running status.

    Rules (MIDI 1.0 Detailed Specification, section "Running Status" and "System
    Real Time Messages"): a channel status byte sets the running status; data bytes
    without a new status reuse it; real-time bytes (0xF8..0xFF) may appear anywhere,
    even inside another message, and change nothing; system common messages and sysex
    cancel running status; a sysex runs until 0xF7 or the next status byte. Data bytes
    with no running status (e.g. after a sysex) are dropped and counted.
    """

    def __init__(self) -> None:
        self.stats = ParseStats()
        self._running = 0          # running channel status, 0 = none
        self._sys = 0              # pending system common status
        self._data: list[int] = []
        self._in_sysex = False

    def reset(self) -> None:
        self._running = 0
        self._sys = 0
        self._data = []
        self._in_sysex = False

    def feed(self, data: bytes | bytearray | Iterable[int]) -> list[MidiEvent]:
        out: list[MidiEvent] = []
        st = self.stats
        for raw in data:
            b = int(raw) & 0xFF
            if b >= 0xF8:                       # real-time: transparent
                if b == 0xFF:
                    out.append(MidiEvent(M_PANIC, -1, 0, 0))
                    st.messages += 1
                else:
                    st.realtime += 1
                continue
            if self._in_sysex:
                if b == 0xF7:
                    self._in_sysex = False
                    st.sysex += 1
                    continue
                if b < 0x80:
                    continue                    # sysex payload
                self._in_sysex = False          # unterminated sysex: a status byte ends it
                st.sysex += 1
            if b >= 0x80:
                if self._data:                  # previous message was incomplete
                    st.dropped += 1
                    self._data = []
                if b == 0xF0:
                    self._in_sysex = True
                    self._running = 0
                    self._sys = 0
                elif b >= 0xF1:
                    self._running = 0
                    n = _SYS_LEN[b]
                    if b == 0xF7:               # end of exclusive without a start
                        st.dropped += 1
                        self._sys = 0
                    elif n == 0:
                        st.ignored += 1
                        self._sys = 0
                    else:
                        self._sys = b
                else:
                    self._running = b
                    self._sys = 0
                continue
            # data byte
            if self._sys:
                self._data.append(b)
                if len(self._data) >= _SYS_LEN[self._sys]:
                    st.ignored += 1
                    self._data = []
                    self._sys = 0
                continue
            if not self._running:
                st.dropped += 1                 # stray data byte
                continue
            self._data.append(b)
            if len(self._data) >= _DATA_LEN[self._running & 0xF0]:
                ev = _channel_event(self._running, self._data, st)
                self._data = []
                if ev is not None:
                    st.messages += 1
                    out.append(ev)
        return out


# ---------------------------------------------------------------- ports

def _api_id(api: str) -> int:
    import rtmidi
    a = api.lower()
    if a == "jack":
        return int(rtmidi.API_UNIX_JACK)
    if a == "alsa":
        return int(rtmidi.API_LINUX_ALSA)
    if a == "dummy":
        return int(rtmidi.API_RTMIDI_DUMMY)
    raise ValueError(f"unknown MIDI API {api!r} (auto, jack, alsa)")


def jack_running() -> bool:
    """True when a JACK server is reachable (never starts one)."""
    import rtmidi
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    if int(rtmidi.API_UNIX_JACK) not in rtmidi.get_compiled_api():
        return False
    try:
        probe = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "rtgen-probe")
        probe.get_ports()
        probe.delete()
        return True
    except Exception:
        return False


def resolve_api(api: str = "auto") -> str:
    """Pick the MIDI API: ``auto`` prefers a running JACK server, then the ALSA sequencer."""
    if api != "auto":
        return api
    if jack_running():
        return "jack"
    if os.path.exists("/dev/snd/seq"):
        return "alsa"
    raise DeviceError("no MIDI system: no JACK server is running and /dev/snd/seq does not exist "
                       "(start jackd, or load the ALSA sequencer module snd-seq)")


def list_ports(api: str = "auto") -> dict[str, list[str]]:
    """Input and output port names: ``{"api": [name], "inputs": [...], "outputs": [...]}``."""
    import rtmidi
    a = resolve_api(api)
    mi = rtmidi.MidiIn(_api_id(a), "rtgen-list")
    mo = rtmidi.MidiOut(_api_id(a), "rtgen-list")
    try:
        return {"api": [a], "inputs": list(mi.get_ports()), "outputs": list(mo.get_ports())}
    finally:
        mi.delete()
        mo.delete()


def find_port(names: list[str], want: str, *, exclude: str | None = None) -> int | None:
    """Index of the port named ``want`` exactly, else the first whose name contains it (case-insensitive)."""
    cands = [(i, n) for i, n in enumerate(names) if not (exclude and exclude in n)]
    for i, n in cands:
        if n == want:
            return i
    w = want.lower()
    for i, n in cands:
        if w in n.lower():
            return i
    return None


def open_port(dev: Any, api: str, want: str | None, role: str, client: str, *, output_side: bool) -> str:
    """Open ``want`` (a name or substring) on the rtmidi object ``dev``, or a virtual port named
    ``role`` when ``want`` is None; returns the port's full name. A port that is not there is a
    DeviceError listing the ports that are."""
    if want is None:
        return _open_virtual(dev, api, role, client, output_side=output_side)
    names = dev.get_ports()
    idx = find_port(names, want, exclude=client + ":")
    if idx is None:
        dev.delete()
        raise DeviceError(f"MIDI {role} port {want!r} not found; ports: {', '.join(names) or 'none'}")
    dev.open_port(idx, role)
    return str(names[idx])


def _open_virtual(dev: Any, api: str, port: str, client: str, *, output_side: bool) -> str:
    """Open a virtual port and return its full name as other clients see it.

    JACK renames a client whose name is taken (e.g. ``rtgen`` is already the audio client):
    the port is found as the one that appeared, else ``client:port`` is assumed.
    """
    import rtmidi
    cls = rtmidi.MidiOut if output_side else rtmidi.MidiIn
    probe = None
    try:
        probe = cls(_api_id(api), client + "-probe")
        before = set(probe.get_ports())
    except Exception:
        before = set()
    dev.open_virtual_port(port)
    name = f"{client}:{port}"
    if probe is not None:
        try:
            for _ in range(20):
                new = [n for n in probe.get_ports() if n not in before and n.endswith(":" + port)
                       and n.startswith(client)]
                if new:
                    name = new[0]
                    break
                time.sleep(0.005)
        finally:
            probe.delete()
    return name


class JitterMeter:
    """Statistics of (scheduled sample - reference sample) over messages, in samples."""

    def __init__(self, cap: int = 100_000) -> None:
        self.cap = cap
        self.values: list[float] = []

    def add(self, v: float) -> None:
        if len(self.values) < self.cap:
            self.values.append(float(v))

    def summary(self, sr: float) -> dict[str, float]:
        import numpy as np
        if not self.values:
            return {"n": 0}
        v = np.asarray(self.values)
        d = v - np.median(v)
        return {"n": int(v.size), "jitter_ms_std": float(d.std() / sr * 1e3),
                "jitter_ms_p99": float(np.percentile(np.abs(d), 99) / sr * 1e3),
                "jitter_ms_max": float(np.abs(d).max() / sr * 1e3)}


@dataclass
class MidiInStats:
    received: int = 0
    commands: int = 0
    dropped_ring: int = 0       # engine.command returned False (ring full)
    dropped_queue: int = 0      # rtmidi queue overflow suspected (estimate) / listener errors
    filtered: int = 0           # wrong channel / note out of the accepted range
    no_command: int = 0         # decoded events with no engine command (CCs, mod wheel, aftertouch)
    released: int = 0           # note-offs sent for held keys on stop / disconnect
    disconnects: int = 0
    reconnects: int = 0
    parse: ParseStats = field(default_factory=ParseStats)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "parse"}
        d["parse"] = self.parse.as_dict()
        return d


Listener = Callable[[MidiEvent, float, float], None]   # (event, monotonic time, scheduled sample)


class MidiInput:
    """An rtmidi input feeding the engine through ``RING_MIDI`` at constant latency.

    ``port=None`` opens a virtual input named ``rtgen:in`` (ALSA: client ``rtgen``;
    JACK: client ``rtgen``, port ``in``). A name or substring opens an existing output
    of another client; such a port is watched and reopened when it comes back.
    """

    def __init__(self, engine: Any, port: str | None = None, *, api: str = "auto",
                 client_name: str = "rtgen", latency_s: float | None = None,
                 layer: int = LAYER_PLAYER, channel: int = -1, bend_range: float = 2.0,
                 note_range: tuple[int, int] = (0, 127), poll_s: float = 0.0005,
                 watchdog_s: float = 0.5, sample_rate: float | None = None,
                 listeners: Iterable[Listener] = ()) -> None:
        self.engine = engine
        self.port = port
        self.api = resolve_api(api)
        self.client_name = client_name
        self.sr = float(sample_rate if sample_rate is not None else _engine_sr(engine))
        block = float(_engine_block(engine))
        # default constant latency: one block + 2 ms
        self.latency_s = float(latency_s) if latency_s is not None else block / self.sr + 0.002
        self.layer = int(layer)
        self.channel = int(channel)
        self.bend_range = float(bend_range)
        self.note_range = note_range
        self.poll_s = float(poll_s)
        self.watchdog_s = float(watchdog_s)
        self.listeners: list[Listener] = list(listeners)
        self.stats = MidiInStats()
        self.jitter = JitterMeter()
        self.held: set[int] = set()
        self.port_name: str | None = None
        self._midi: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t_last = 0.0
        self._last_sample = 0.0
        self._connected = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> MidiInput:
        self._open()
        self._stop.clear()
        t = threading.Thread(target=self._poll_loop, name="rtgen-midi-in", daemon=True)
        t.start()
        self._threads.append(t)
        if self.port is not None:
            w = threading.Thread(target=self._watchdog, name="rtgen-midi-watch", daemon=True)
            w.start()
            self._threads.append(w)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads.clear()
        self._release_held()
        with self._lock:
            self._close()

    def __enter__(self) -> MidiInput:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open(self) -> None:
        import rtmidi
        with self._lock:
            self._close()
            # rtmidi's own queue: messages beyond it are lost *uncounted*, so it is sized for
            # seconds of a stalled poll thread at 10,000 messages/s
            mi = rtmidi.MidiIn(_api_id(self.api), self.client_name, queue_size_limit=65536)
            mi.ignore_types(sysex=False, timing=True, active_sense=True)   # sysex is counted, then skipped
            self.port_name = open_port(mi, self.api, self.port, "in", self.client_name, output_side=True)
            self._midi = mi
            self._connected = True
            self._t_last = 0.0

    def _close(self) -> None:
        if self._midi is not None:
            try:
                self._midi.close_port()
                self._midi.delete()
            except Exception:                   # a vanished server: nothing left to close
                pass
            self._midi = None
        self._connected = False

    # -- watchdog: a bounded poll of port names -------------------------------------------
    def _watchdog(self) -> None:
        import rtmidi
        probe = None
        while not self._stop.wait(self.watchdog_s):
            try:
                if probe is None:
                    probe = rtmidi.MidiIn(_api_id(self.api), self.client_name + "-watch")
                names = probe.get_ports()
            except Exception:
                probe = None
                names = []
            present = self.port_name in names or (
                self.port is not None and find_port(names, self.port, exclude=self.client_name) is not None)
            if self._connected and not present:
                log.warning("MIDI input %s disappeared; waiting for it to return", self.port_name)
                self.stats.disconnects += 1
                self._release_held()
                with self._lock:
                    self._close()
            elif not self._connected and present:
                try:
                    self._open()
                    self.stats.reconnects += 1
                    log.warning("MIDI input %s is back", self.port_name)
                except Exception as e:          # it went away again between the poll and the open
                    log.warning("reopening MIDI input failed: %s", e)
        if probe is not None:
            probe.delete()

    # -- the poll thread --------------------------------------------------------------------
    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            got = 0
            with self._lock:
                mi = self._midi
                while mi is not None and got < 4096:
                    try:
                        item = mi.get_message()
                    except Exception:
                        item = None
                    if item is None:
                        break
                    got += 1
                    msg, delta = item
                    self._handle(msg, self._arrival_time(float(delta)))
            if got == 0:
                time.sleep(self.poll_s)

    def _arrival_time(self, delta: float) -> float:
        """Arrival time of a message from rtmidi's delta times, anchored to the monotonic clock."""
        now = time.monotonic()
        t = self._t_last + delta
        if self._t_last == 0.0 or t > now or now - t > 0.02:
            t = now                             # (re-)anchor: first message, or the estimate drifted
        self._t_last = t
        return t

    def _handle(self, msg: list[int], t: float) -> None:
        self.stats.received += 1
        ev = decode_message(msg, self.stats.parse)
        if ev is None:
            return
        self.dispatch(ev, t)

    def dispatch(self, ev: MidiEvent, t: float) -> None:
        """Schedule one decoded event (also the entry point for tests and other sources)."""
        if self.channel >= 0 and ev.channel >= 0 and ev.channel != self.channel:
            self.stats.filtered += 1
            return
        # never earlier than the previous message: MIDI order is meaning (a note-off scheduled
        # before its note-on would leave the note stuck), whatever the arrival-time estimate says
        sample = max(_now_sample(self.engine, t) + self.latency_s * self.sr, self._last_sample)
        self._last_sample = sample
        ok = True
        k = ev.kind
        if k == M_NOTE_ON:
            if not self.note_range[0] <= ev.a <= self.note_range[1]:
                self.stats.filtered += 1
                return
            self.held.add(ev.a)
            ok = self._cmd(C_NOTE_ON, ev.a, ev.b, self.layer, -1.0, -1.0, 0.0, sample)
        elif k == M_NOTE_OFF:
            if not self.note_range[0] <= ev.a <= self.note_range[1]:
                self.stats.filtered += 1
                return
            self.held.discard(ev.a)             # a stray note-off is harmless: the engine ignores it
            ok = self._cmd(C_NOTE_OFF, ev.a, 0.0, self.layer, 0.0, -1.0, 0.0, sample)   # e=-1: any note id
        elif k == M_SUSTAIN:
            ok = self._cmd(C_SUSTAIN, ev.a, 0.0, self.layer, 0.0, 0.0, 0.0, sample)
        elif k == M_PITCHBEND:
            semis = max(-1.0, min(1.0, ev.a / 8192.0)) * self.bend_range
            ok = self._cmd(C_PITCHBEND, semis, 0.0, self.layer, 0.0, 0.0, 0.0, sample)
        elif k == M_PROGRAM:
            ok = self._cmd(C_LAYER, self.layer, LF_INSTR, ev.a % N_INSTR, 0.0, 0.0, 0.0, sample)
        elif k == M_ALL_NOTES_OFF:
            self.held.clear()
            # at the same constant latency as the notes: "asap" would overtake pending note-ons
            ok = self._cmd(C_ALL_OFF, self.layer, 0.0, 0.0, 0.0, 0.0, 0.0, sample)
        elif k == M_PANIC:
            self.held.clear()
            ok = self._cmd(C_PANIC, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, sample)
        elif k == M_MOD:
            # the mod wheel moves the vibrato of the layer's sounding and new notes
            ok = self._cmd(C_LAYER, self.layer, LF_VIB_DEPTH, ev.a / 127.0 * MOD_VIBRATO_CENTS, 0.0, 0.0, 0.0,
                           sample)
        else:
            self.stats.no_command += 1          # for the listeners only (CCs, mod wheel, aftertouch)
        if k in (M_NOTE_ON, M_NOTE_OFF):
            self.jitter.add(sample - t * self.sr)
        if not ok:
            return
        for cb in self.listeners:
            try:
                cb(ev, t, sample)
            except Exception:                   # a listener must never stop MIDI input
                self.stats.dropped_queue += 1
                log.exception("MIDI listener failed")

    def _cmd(self, kind: int, a: float, b: float, c: float, d: float, e: float, f: float,
             time_: float) -> bool:
        ok = bool(self.engine.command(kind, float(a), float(b), float(c), float(d), float(e), float(f),
                                      time=float(time_), ring=RING_MIDI))
        if ok:
            self.stats.commands += 1
        else:
            self.stats.dropped_ring += 1
        return ok

    def _release_held(self) -> None:
        """Note-offs for every key we believe is down (disconnect, stop): no stuck notes.

        They are scheduled after the last scheduled message (a note-on may still be pending
        in the engine's queue: an immediate note-off would reach the voice before it starts).
        """
        when = max(_now_sample(self.engine) + self.latency_s * self.sr, self._last_sample + 1.0)
        c0 = self.stats.commands
        for n in sorted(self.held):
            self._cmd(C_NOTE_OFF, n, 0.0, self.layer, 0.0, -1.0, 0.0, when)
        self.held.clear()
        self._cmd(C_SUSTAIN, 0.0, 0.0, self.layer, 0.0, 0.0, 0.0, when)
        self.stats.released += self.stats.commands - c0
        self.stats.commands = c0


def _engine_sr(engine: Any) -> float:
    spec = getattr(engine, "spec", None)
    return float(getattr(spec, "sample_rate", 48000))


def _engine_block(engine: Any) -> int:
    spec = getattr(engine, "spec", None)
    return int(getattr(spec, "block_size", 128))


def _now_sample(engine: Any, t: float | None = None) -> float:
    """Engine sample at monotonic time ``t`` (default now), from ``engine.now_sample()``."""
    s = float(engine.now_sample())
    if t is None:
        return s
    return s - (time.monotonic() - t) * _engine_sr(engine)


# ---------------------------------------------------------------- output

@dataclass
class MidiOutStats:
    sent: int = 0
    note_on: int = 0
    note_off: int = 0
    skipped: int = 0
    errors: int = 0


class MidiOutput:
    """Sends the engine's notes (drained from ``engine.events()``) to an external synth.

    ``layers`` maps a layer to a MIDI channel (0..15); notes of other layers are not
    sent. Sounding notes are reference-counted per (channel, note) so overlapping
    voices on one key do not cut each other, and :meth:`stop` releases all of them.
    ``events`` may be given to share one drain of ``engine.events()`` with others
    (a callable returning the rows); by default this thread drains it itself. The
    virtual port is ``rtgen-out:out`` (rtmidi opens input and output as two clients).
    """

    def __init__(self, engine: Any, port: str | None = None, *, api: str = "auto",
                 client_name: str = "rtgen-out", layers: dict[int, int] | None = None,
                 poll_s: float = 0.001, events: Callable[[], Any] | None = None) -> None:
        self.engine = engine
        self.port = port
        self.api = resolve_api(api)
        self.client_name = client_name
        self.layers = dict(layers) if layers is not None else {LAYER_PLAYER: 0, LAYER_ANSWER: 1}
        self.poll_s = poll_s
        self._events = events if events is not None else engine.events
        self.stats = MidiOutStats()
        self.sounding: dict[tuple[int, int], int] = {}
        self.port_name: str | None = None
        self._midi: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MidiOutput:
        import rtmidi
        mo = rtmidi.MidiOut(_api_id(self.api), self.client_name)
        self.port_name = open_port(mo, self.api, self.port, "out", self.client_name, output_side=False)
        self._midi = mo
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rtgen-midi-out", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            rows = self._events()
            if rows is not None and len(rows):
                self.send_rows(rows)
            else:
                time.sleep(self.poll_s)

    def send_rows(self, rows: Any) -> None:
        for r in rows:
            kind = int(r[0])
            if kind not in (O_NOTE_ON, O_NOTE_OFF):
                continue
            ch = self.layers.get(int(r[4]))
            if ch is None:
                self.stats.skipped += 1
                continue
            note = max(0, min(127, int(round(float(r[2])))))
            key = (ch, note)
            if kind == O_NOTE_ON:
                vel = max(1, min(127, int(round(float(r[3])))))
                self.sounding[key] = self.sounding.get(key, 0) + 1
                self._send([0x90 | ch, note, vel])
                self.stats.note_on += 1
            else:
                c = self.sounding.get(key, 0)
                if c <= 1:
                    self.sounding.pop(key, None)
                    if c == 1:
                        self._send([0x80 | ch, note, 0])
                        self.stats.note_off += 1
                else:
                    self.sounding[key] = c - 1

    def _send(self, msg: list[int]) -> None:
        try:
            self._midi.send_message(msg)
            self.stats.sent += 1
        except Exception:
            self.stats.errors += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._midi is not None:
            for ch, note in list(self.sounding):
                self._send([0x80 | ch, note, 0])
            self.sounding.clear()
            for ch in sorted(set(self.layers.values())):
                self._send([0xB0 | ch, 123, 0])
            try:
                self._midi.close_port()
                self._midi.delete()
            except Exception:
                pass
            self._midi = None

    def __enter__(self) -> MidiOutput:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
