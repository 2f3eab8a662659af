"""MIDI input: where a played note enters rtgen.

    rtmidi port ─► MidiInput poll thread ─► decode_message ─► Engine.note_on(..., time=, ring=RING_MIDI)
                                                    └───────► listeners (Continuator, follower, MIDI map)

Every message is scheduled at a *constant latency*: a message that arrives at monotonic time
``t`` is played at engine sample ``now_sample(t) + latency_samples``. Jitter of the arrival
estimate therefore turns into jitter of the scheduled sample, and :class:`JitterMeter`
measures it. The engine's setters turn each event into a typed command
(:mod:`rtgen.rt.commands`) on the MIDI thread's own ring; the kernel plays it on its sample.

The rtmidi callback is not used: with the JACK API it would run Python (and take the GIL)
inside JACK's process thread. Messages are instead queued by rtmidi and drained by a Python
thread; the per-message delta times rtmidi records (in the backend's own thread, at arrival)
rebuild each message's arrival time, so the poll period does not add jitter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ...protocol import EngineLike
from ...rt.layout import (
    LAYER_PLAYER,
    RING_MIDI,
)
from .decode import (
    M_ALL_NOTES_OFF,
    M_MOD,
    M_NOTE_OFF,
    M_NOTE_ON,
    M_PANIC,
    M_PITCHBEND,
    M_PROGRAM,
    M_SUSTAIN,
    MidiEvent,
    ParseStats,
    decode_message,
)
from .ports import _api_id, find_port, open_port, resolve_api

log = logging.getLogger("rtgen.midi")

MOD_VIBRATO_CENTS = 50.0   # the mod wheel (CC1) at 127: vibrato depth of the input layer's voices


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

    def __init__(self, engine: EngineLike, port: str | None = None, *, api: str = "auto",
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
        eng, lay, ring = self.engine, self.layer, RING_MIDI
        if k == M_NOTE_ON:
            if not self.note_range[0] <= ev.a <= self.note_range[1]:
                self.stats.filtered += 1
                return
            self.held.add(ev.a)
            ok = self._count(eng.note_on(ev.a, ev.b, lay, time=sample, ring=ring))
        elif k == M_NOTE_OFF:
            if not self.note_range[0] <= ev.a <= self.note_range[1]:
                self.stats.filtered += 1
                return
            self.held.discard(ev.a)             # a stray note-off is harmless: the engine ignores it
            ok = self._count(eng.note_off(ev.a, lay, time=sample, ring=ring))   # any voice of that note
        elif k == M_SUSTAIN:
            ok = self._count(eng.sustain(bool(ev.a), lay, time=sample, ring=ring))
        elif k == M_PITCHBEND:
            semis = max(-1.0, min(1.0, ev.a / 8192.0)) * self.bend_range
            ok = self._count(eng.pitch_bend(semis, lay, time=sample, ring=ring))
        elif k == M_PROGRAM:
            ok = self._count(eng.program_change(ev.a, lay, time=sample, ring=ring))
        elif k == M_ALL_NOTES_OFF:
            self.held.clear()
            # at the same constant latency as the notes: "asap" would overtake pending note-ons
            ok = self._count(eng.all_notes_off(lay, time=sample, ring=ring))
        elif k == M_PANIC:
            self.held.clear()
            ok = self._count(eng.panic(time=sample, ring=ring))
        elif k == M_MOD:
            # the mod wheel moves the vibrato of the layer's sounding and new notes
            ok = self._count(eng.set_voice_controls(lay, vibrato=ev.a / 127.0 * MOD_VIBRATO_CENTS, time=sample,
                                                    ring=ring))
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

    def _count(self, ok: bool) -> bool:
        """Count an engine setter's answer: a command sent, or one the full ring dropped."""
        if ok:
            self.stats.commands += 1
        else:
            self.stats.dropped_ring += 1
        return bool(ok)

    def _release_held(self) -> None:
        """Note-offs for every key we believe is down (disconnect, stop): no stuck notes.

        They are scheduled after the last scheduled message (a note-on may still be pending
        in the engine's queue: an immediate note-off would reach the voice before it starts).
        """
        when = max(_now_sample(self.engine) + self.latency_s * self.sr, self._last_sample + 1.0)
        c0 = self.stats.commands
        for n in sorted(self.held):
            self._count(self.engine.note_off(n, self.layer, time=when, ring=RING_MIDI))
        self.held.clear()
        self._count(self.engine.sustain(False, self.layer, time=when, ring=RING_MIDI))
        self.stats.released += self.stats.commands - c0
        self.stats.commands = c0


def _engine_sr(engine: EngineLike) -> float:
    return float(engine.sample_rate)


def _engine_block(engine: EngineLike) -> int:
    spec = getattr(engine, "spec", None)
    return int(getattr(spec, "block_size", 128))


def _now_sample(engine: EngineLike, t: float | None = None) -> float:
    """Engine sample at monotonic time ``t`` (default now), from ``engine.now_sample()``."""
    s = float(engine.now_sample())
    if t is None:
        return s
    return s - (time.monotonic() - t) * _engine_sr(engine)
