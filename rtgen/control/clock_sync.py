"""Tempo sync: follow MIDI clock, lead with MIDI clock, and Ableton Link (optional).

* :class:`ClockFollower` turns clock messages (24 per beat), Start, Continue, Stop and
  Song Position into engine tempo and beat-phase commands. The tempo comes from a
  least-squares fit of tick times against tick numbers over the last four beats, after
  rejecting outliers; a gap of k tick periods counts as k ticks (a lost message does
  not halve the tempo). :class:`MidiClockIn` feeds it from an rtmidi port.
* :class:`MidiClockOut` sends 24 ticks per beat, each timed from the engine's beat
  clock (``engine.sample_at_beat``) mapped to wall-clock time, plus Start/Stop.
* :class:`LinkSync` joins an Ableton Link session through the ``LinkPython-extern``
  package (``pip install LinkPython-extern``; module ``link``); without it,
  :func:`link_available` says why and ``rtgen play --link`` stops with that message.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..protocol import EngineLike
from ..rt.layout import P_BPM, P_MASTER_GAIN, RING_MIDI

log = logging.getLogger("rtgen.clock")

PPQN = 24
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2


def estimate_tempo(times: list[float] | np.ndarray, min_ticks: int = PPQN) -> float | None:
    """Tempo (bpm) from clock tick arrival times (seconds), robust to jitter, outliers and lost ticks.

    The ticks are walked in order against a running least-squares line (tick number ->
    time): each gets the tick number the line predicts, so a gap of k periods counts as
    k ticks (lost messages); one too far from the line (a late delivery) is left out.
    A last pass drops residual outliers (beyond 4 robust standard deviations) and refits.
    """
    t = np.asarray(times, np.float64)
    if t.size < min_ticks:
        return None
    d = np.diff(t)
    d = d[d > 0]
    if d.size < min_ticks // 2:
        return None
    a = float(np.median(d))
    if not a > 0:
        return None
    t = t - t[0]
    b = 0.0
    xs, ys = [0.0], [0.0]
    sx = sy = sxy = 0.0
    sxx = 0.0
    for ti in t[1:]:
        k = float(round((ti - b) / a))
        if k <= xs[-1] or abs(ti - (a * k + b)) > 0.35 * a:
            continue
        xs.append(k)
        ys.append(float(ti))
        sx, sy, sxx, sxy = sx + k, sy + ti, sxx + k * k, sxy + k * ti
        n = len(xs) - 1
        if n >= 2:
            # the line through the first tick and the accepted ones (the first tick fixes the origin)
            x0, y0 = xs[0], ys[0]
            cx, cy = (sx + x0) / (n + 1), (sy + y0) / (n + 1)
            var = (sxx + x0 * x0) / (n + 1) - cx * cx
            if var > 0:
                a_new = ((sxy + x0 * y0) / (n + 1) - cx * cy) / var
                if a_new > 0:
                    a, b = a_new, cy - a_new * cx
    if len(xs) < min_ticks // 2:
        return None
    x, y = np.asarray(xs), np.asarray(ys)
    a, b = np.polyfit(x, y, 1)
    r = y - (a * x + b)
    dev = np.abs(r - np.median(r))
    keep = dev <= 4.0 * 1.4826 * (float(np.median(dev)) or 1e-9) + 1e-5
    if keep.sum() >= min_ticks // 2 and not keep.all():
        a = float(np.polyfit(x[keep], y[keep], 1)[0])
    if a <= 0:
        return None
    bpm = 60.0 / (a * PPQN)
    return float(bpm) if 20.0 <= bpm <= 400.0 else None


class ClockFollower:
    """Follows an external MIDI clock: engine tempo, beat phase on Start/Continue, silence on Stop."""

    def __init__(self, engine: EngineLike, ring: int = RING_MIDI, window_beats: float = 4.0,
                 min_change_bpm: float = 0.05, mute_on_stop: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.ring = ring
        self.window = max(PPQN, int(window_beats * PPQN))
        self.min_change = min_change_bpm
        self.mute_on_stop = mute_on_stop
        self.clock = clock
        self.ticks: deque[float] = deque(maxlen=self.window)
        self.running = False
        self.bpm: float | None = None
        self.tick_count = 0
        self.position_16ths = 0
        self._reset_at_next_tick: float | None = None
        self._gain: float | None = None
        self.stats = {"clock": 0, "start": 0, "continue": 0, "stop": 0, "tempo_updates": 0, "dropped": 0}
        self._lock = threading.Lock()

    def _sample(self, t: float) -> float:
        now = self.clock()
        return float(self.engine.now_sample()) - (now - t) * float(self.engine.sample_rate)

    def message(self, msg: list[int] | bytes, t: float) -> None:
        """One MIDI system real-time/common message received at monotonic time ``t``."""
        if not msg:
            return
        s = msg[0]
        with self._lock:
            if s == CLOCK:
                self._tick(t)
            elif s == START:
                self.stats["start"] += 1
                self.position_16ths = 0
                self._start(0.0)
            elif s == CONTINUE:
                self.stats["continue"] += 1
                self._start(self.position_16ths / 4.0)
            elif s == STOP:
                self.stats["stop"] += 1
                self.running = False
                if self.mute_on_stop:
                    self._gain = float(self.engine.state.p[P_MASTER_GAIN])
                    self._sent(self.engine.set_master_gain(0.0, ring=self.ring))
                    self.engine.all_notes_off(ring=self.ring)
            elif s == SONG_POSITION and len(msg) >= 3:
                self.position_16ths = int(msg[1]) | (int(msg[2]) << 7)

    def _start(self, beat: float) -> None:
        self.running = True
        self._reset_at_next_tick = beat
        if self._gain is not None:
            self._sent(self.engine.set_master_gain(self._gain, ring=self.ring))
            self._gain = None

    def _tick(self, t: float) -> None:
        self.stats["clock"] += 1
        self.tick_count += 1
        self.ticks.append(t)
        if self._reset_at_next_tick is not None:
            # the first clock after Start/Continue is the beat the transport starts from
            self._sent(self.engine.reset_clock(self._reset_at_next_tick, time=self._sample(t), ring=self.ring))
            self._reset_at_next_tick = None
        if self.tick_count % 6:
            return
        bpm = estimate_tempo(list(self.ticks))
        if bpm is None:
            return
        self.bpm = bpm
        cur = float(self.engine.state.p[P_BPM])
        if abs(bpm - cur) >= self.min_change:
            try:
                if self.engine.set_tempo(round(bpm, 3), ring=self.ring):
                    self.stats["tempo_updates"] += 1
                else:
                    self.stats["dropped"] += 1
            except ConfigError:
                pass

    def _sent(self, ok: bool) -> None:
        if not ok:
            self.stats["dropped"] += 1


def _api(api: str) -> int:
    from .midi import _api_id, resolve_api

    return _api_id(resolve_api(api))


class MidiClockIn:
    """Reads clock messages from an rtmidi port (a name or substring; None: a virtual port ``rtgen:clock``)."""

    def __init__(self, follower: ClockFollower, port: str | None, api: str = "auto", client_name: str = "rtgen-clock",
                 poll_s: float = 0.0005) -> None:
        self.follower = follower
        self.port = port
        self.api = api
        self.client_name = client_name
        self.poll_s = poll_s
        self.port_name: str | None = None
        self._mi: Any = None
        self._stop = threading.Event()
        self._t: threading.Thread | None = None
        self._t_last = 0.0

    def start(self) -> MidiClockIn:
        import rtmidi

        from .midi import open_port, resolve_api

        mi = rtmidi.MidiIn(_api(self.api), self.client_name, queue_size_limit=8192)
        mi.ignore_types(sysex=True, timing=False, active_sense=True)
        self.port_name = open_port(mi, resolve_api(self.api), self.port, "clock", self.client_name,
                                   output_side=True)
        self._mi = mi
        self._stop.clear()
        self._t = threading.Thread(target=self._loop, name="rtgen-clock-in", daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            item = self._mi.get_message()
            if item is None:
                time.sleep(self.poll_s)
                continue
            msg, delta = item
            now = time.monotonic()
            t = self._t_last + float(delta)
            if self._t_last == 0.0 or t > now or now - t > 0.02:
                t = now
            self._t_last = t
            try:
                self.follower.message(msg, t)
            except Exception:
                log.exception("MIDI clock message failed")

    def stop(self) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=2.0)
            self._t = None
        if self._mi is not None:
            self._mi.close_port()
            self._mi.delete()
            self._mi = None


class MidiClockOut:
    """Leads: sends MIDI clock from the engine's beat clock to a port (None: a virtual port ``rtgen-clock:out``).

    Tick ``k`` is sent when the engine plays beat ``k / 24``, mapped from engine samples to
    wall-clock time through ``engine.now_sample()``; ``offset_s`` shifts every message (a
    positive value compensates for the audio output latency).
    """

    def __init__(self, engine: EngineLike, port: str | None, api: str = "auto", client_name: str = "rtgen-clock",
                 offset_s: float = 0.0, send_start: bool = True) -> None:
        self.engine = engine
        self.port = port
        self.api = api
        self.client_name = client_name
        self.offset_s = offset_s
        self.send_start = send_start
        self.port_name: str | None = None
        self.sent = 0
        self.late = 0
        self._mo: Any = None
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def start(self) -> MidiClockOut:
        import rtmidi

        from .midi import open_port, resolve_api

        mo = rtmidi.MidiOut(_api(self.api), self.client_name)
        self.port_name = open_port(mo, resolve_api(self.api), self.port, "out", self.client_name, output_side=False)
        self._mo = mo
        self._stop.clear()
        self._t = threading.Thread(target=self._loop, name="rtgen-clock-out", daemon=True)
        self._t.start()
        return self

    def _wall_of(self, sample: float) -> float:
        sr = float(self.engine.sample_rate)
        return time.monotonic() + (sample - float(self.engine.now_sample())) / sr + self.offset_s

    def _loop(self) -> None:
        from ..game import beat_at, sample_at_beat

        eng = self.engine
        k = math.ceil(beat_at(eng, eng.now_sample()) + 1e-9) * PPQN     # start on the next beat
        started = not self.send_start
        while not self._stop.is_set():
            target = self._wall_of(sample_at_beat(eng, k / PPQN))
            d = target - time.monotonic()
            if d > 0.002:
                self._stop.wait(min(d - 0.001, 0.05))
                continue
            while d > 0:
                d = target - time.monotonic()
            if d < -0.005:
                self.late += 1
            if not started:
                self._send([START])
                started = True
            self._send([CLOCK])
            k += 1

    def _send(self, msg: list[int]) -> None:
        try:
            self._mo.send_message(msg)
            self.sent += 1
        except Exception:
            log.debug("clock send failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=2.0)
            self._t = None
        if self._mo is not None:
            self._send([STOP])
            self._mo.close_port()
            self._mo.delete()
            self._mo = None


# ------------------------------------------------------------------ Ableton Link
def link_available() -> tuple[bool, str]:
    """(True, "") when Ableton Link can be used, else (False, why)."""
    try:
        import link  # noqa: F401
    except ImportError:
        return False, ("Ableton Link needs the LinkPython-extern package (pip install LinkPython-extern); "
                       "it is not installed")
    return True, ""


class LinkSync:
    """Joins an Ableton Link session: the engine follows the session tempo; ``lead=True`` pushes ours.

    Phase: at :meth:`start` the engine's beat clock is reset so that the next bar starts
    on the session's next bar (``quantum`` beats).
    """

    def __init__(self, engine: EngineLike, quantum: float = 4.0, lead: bool = False, poll_s: float = 0.02,
                 ring: int = RING_MIDI) -> None:
        ok, why = link_available()
        if not ok:
            raise ConfigError(why)
        import link

        self.engine = engine
        self.quantum = float(quantum)
        self.lead = lead
        self.poll_s = poll_s
        self.ring = ring
        self.link = link.Link(float(engine.state.p[P_BPM]))
        self.updates = 0
        self._stop = threading.Event()
        self._t: threading.Thread | None = None
        self._pushed = float(engine.state.p[P_BPM])

    def start(self) -> LinkSync:
        self.link.enabled = True
        self.align_phase()
        self._stop.clear()
        self._t = threading.Thread(target=self._loop, name="rtgen-link", daemon=True)
        self._t.start()
        return self

    def session_tempo(self) -> float:
        return float(self.link.captureSessionState().tempo())

    def peers(self) -> int:
        return int(self.link.numPeers())

    def align_phase(self) -> None:
        """Reset the engine's beat so its bars line up with the session's."""
        s = self.link.captureSessionState()
        now_us = self.link.clock().micros()
        beat = float(s.beatAtTime(now_us, self.quantum))
        nxt = math.floor(beat / self.quantum + 1.0) * self.quantum
        t_us = float(s.timeAtBeat(nxt, self.quantum))
        sr = float(self.engine.sample_rate)
        at = float(self.engine.now_sample()) + (t_us - now_us) * 1e-6 * sr
        self.engine.reset_clock(0.0, time=at, ring=self.ring)

    def poll(self) -> None:
        ours = float(self.engine.state.p[P_BPM])
        theirs = self.session_tempo()
        if self.lead and abs(ours - self._pushed) > 1e-6:
            s = self.link.captureAppSessionState()
            s.setTempo(ours, self.link.clock().micros())
            self.link.commitAppSessionState(s)
            self._pushed = ours
            return
        if abs(theirs - ours) > 0.01 and 20.0 <= theirs <= 400.0:
            self.engine.set_tempo(theirs, ring=self.ring)
            self._pushed = theirs
            self.updates += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception:
                log.exception("Link poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=2.0)
            self._t = None
        self.link.enabled = False


__all__ = ["ClockFollower", "LinkSync", "MidiClockIn", "MidiClockOut", "estimate_tempo", "link_available"]
