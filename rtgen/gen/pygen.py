"""Generators written in plain Python: ``next_events(window)`` run a little ahead of the audio.

For users who will not write a Numba kernel. A :class:`PyGenerator` answers, for each window
of beats on a fixed grid, the notes (and chord changes) that start inside it::

    class Pulse(PyGenerator):
        def next_events(self, w):
            for beat in w.beats(1.0):                 # every whole beat in the window
                yield Note(beat, 60, 90, 0.5)

A :class:`PyGenRunner` calls its generators window by window, ``ahead`` beats before the
window's first beat, and hands the results to the engine as *timed commands* (a one-shot note
at its exact sample, chord changes into the shared harmony), as the timbre worker hands frames
a hop ahead. The audio thread never waits for Python:

- offline (``render``/the embedded ``Engine.render``) the runner is called before each block
  and fills every window that starts before the block's end plus ``ahead``; the windows lie on
  an absolute beat grid and the times on a fixed tempo anchor, so a seeded render is
  bit-identical whatever the block size;
- live, a thread of the host process does the same against the stream's clock; an event whose
  sample has already passed when it is ready is dropped and counted (``late``), never waited
  for. ``benchmarks/bench_music.py`` measures how many are late with a busy Python thread.

Events go through ring ``RING_PYGEN`` (their own single producer).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..rt.commands import NoteFor, NoteOff, NoteOn, SetLayer, harmony_commands
from ..rt.layout import CHUNK, LAYER_AUX1, LF_GAIN, P_BEATS_PER_BAR, P_BPM, P_SR, RING_PYGEN

#: note ids of placed notes (far above the engine's own counter; exact in float64)
_NOTE_ID_BASE = 1 << 40


@dataclass(frozen=True)
class BeatWindow:
    """Beats ``start`` (inclusive) .. ``end`` (exclusive) on the engine's beat clock."""

    start: float
    end: float
    beats_per_bar: int = 4
    bpm: float = 120.0

    def beats(self, step: float, offset: float = 0.0) -> Iterator[float]:
        """Every ``offset + k * step`` inside the window."""
        k = math.ceil((self.start - offset) / step - 1e-9)
        while True:
            b = offset + k * step
            if b >= self.end - 1e-9:
                return
            yield b
            k += 1


@dataclass(frozen=True)
class Note:
    """A note starting at ``beat`` for ``beats`` beats; ``layer``/``instrument`` -1 = the generator's."""

    beat: float
    note: float
    velocity: float
    beats: float
    layer: int = -1
    instrument: int = -1
    pan: float = 0.0                 # added to the layer's pan, -1..1


@dataclass(frozen=True)
class Chord:
    """From ``beat`` on, the shared harmony's chord is ``pcs`` (pitch classes, root first)."""

    beat: float
    pcs: tuple[int, ...]


@dataclass(frozen=True)
class LayerGain:
    """From ``beat`` on, mixer layer ``layer`` has gain ``gain`` (the engine smooths it over 10 ms)."""

    beat: float
    layer: int
    gain: float


class PyGenerator:
    """Base class of a Python generator: override :meth:`next_events`."""

    name = "python"

    def __init__(self, layer: int = LAYER_AUX1, instrument: int = -1) -> None:
        self.layer = int(layer)
        self.instrument = int(instrument)

    def next_events(self, window: BeatWindow) -> Iterable[Note | Chord | LayerGain]:
        """The events starting in ``window`` (beats outside it are moved to its start)."""
        return ()


@dataclass
class RunnerStats:
    windows: int = 0
    events: int = 0
    late: int = 0               # events dropped: their sample had passed when they were ready
    dropped: int = 0            # commands the ring refused (full)
    worst_lead_ms: float = math.inf   # smallest margin between an event's push and its sample
    busy_s: float = 0.0         # time spent in next_events and sending
    leads_ms: list[float] = field(default_factory=list)


class PyGenRunner:
    """Runs Python generators ahead of an engine (see the module docstring)."""

    def __init__(self, engine: Any, generators: Iterable[PyGenerator] = (), window: float = 1.0,
                 ahead: float = 2.0) -> None:
        if window <= 0 or ahead < window:
            raise ValueError("a runner needs window > 0 and ahead >= window (beats)")
        self.engine = engine
        self.generators = list(generators)
        self.window = float(window)
        self.ahead = float(ahead)
        self.next_k = 0                     # next window index on the absolute beat grid
        self.stats = RunnerStats()
        self._anchor = (0.0, 0.0, float(engine.state.p[P_BPM]))   # (sample, beat, bpm)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next_id = 0

    # -------------------------------------------------------------- beats and samples
    def _spb(self) -> float:
        return float(self.engine.state.p[P_SR]) * 60.0 / self._anchor[2]

    def sample_of(self, beat: float) -> int:
        s0, b0, _ = self._anchor
        return int(math.floor(s0 + (beat - b0) * self._spb() + 0.5))

    def _reanchor_if_tempo_changed(self) -> None:
        bpm = float(self.engine.state.p[P_BPM])
        if bpm != self._anchor[2]:
            s, b = self.engine.beat_anchor()
            self._anchor = (s, b, bpm)

    # -------------------------------------------------------------- the work
    def fill(self, until_sample: float, now_sample: float | None = None) -> int:
        """Process every window starting before ``until_sample`` + ``ahead`` beats; returns events sent.

        ``now_sample``: the engine's position (live); events before it are late and dropped.
        """
        with self._lock:
            t_start = time.perf_counter()
            self._reanchor_if_tempo_changed()
            sent = 0
            horizon = until_sample + self.ahead * self._spb()
            bpb = int(self.engine.state.p[P_BEATS_PER_BAR]) or 4
            while self.sample_of(self.next_k * self.window) < horizon:
                w = BeatWindow(self.next_k * self.window, (self.next_k + 1) * self.window, bpb,
                               self._anchor[2])
                self.next_k += 1
                self.stats.windows += 1
                for g in self.generators:
                    for ev in g.next_events(w):
                        sent += self._send(g, ev, w, now_sample)
            self.stats.busy_s += time.perf_counter() - t_start
            return sent

    def _send(self, g: PyGenerator, ev: Note | Chord | LayerGain, w: BeatWindow, now: float | None) -> int:
        beat = min(max(ev.beat, w.start), w.end)
        t = self.sample_of(beat)
        if now is not None:
            lead = (t - now) / float(self.engine.state.p[P_SR]) * 1e3
            if lead < 0:
                self.stats.late += 1
                return 0
            if t > 0:                 # (the very first events are due at once, by definition)
                self.stats.worst_lead_ms = min(self.stats.worst_lead_ms, lead)
            if t > 0 and len(self.stats.leads_ms) < 100000:
                self.stats.leads_ms.append(lead)
        e = self.engine
        r = RING_PYGEN
        if isinstance(ev, LayerGain):
            ok = e.send(SetLayer(int(ev.layer), LF_GAIN, max(0.0, float(ev.gain))), float(t), r)
        elif isinstance(ev, Chord):
            # a chord must be in the harmony before the compiled generators run the chunk that
            # holds its beat (they run at the chunk's start, timed commands at their sample)
            t = max(0, (t // CHUNK) * CHUNK - 1)
            pcs = [int(x) % 12 for x in ev.pcs][:6]
            sent = [e.send(c, float(t), r) for c in
                    harmony_commands(float(self.stats.events + 1), None, None, pcs, None)]
            ok = all(sent)
        else:
            layer = g.layer if ev.layer < 0 else ev.layer
            instr = g.instrument if ev.instrument < 0 else ev.instrument
            dur = max(1.0, float(self.sample_of(beat + max(ev.beats, 1e-3)) - t))
            vel = min(127.0, max(1.0, float(ev.velocity)))
            if ev.pan == 0.0:
                ok = e.send(NoteFor(float(ev.note), vel, int(layer), int(instr), dur), float(t), r)
            else:                    # a placed note: on and off by this runner's own note id
                nid = _NOTE_ID_BASE + self._next_id
                self._next_id += 1
                pan = min(1.0, max(-1.0, float(ev.pan)))
                ok = e.send(NoteOn(float(ev.note), vel, int(layer), int(instr), nid, pan), float(t), r)
                ok &= e.send(NoteOff(float(ev.note), int(layer), nid), float(t + dur), r)
        self.stats.events += 1
        if not ok:
            self.stats.dropped += 1
        return 1

    # -------------------------------------------------------------- attaching
    def before_render(self, start_sample: int, frames: int) -> None:
        """The offline hook: fill ahead of the block ``start_sample`` .. + ``frames``."""
        self.fill(float(start_sample + frames))

    def attach(self, engine: Any | None = None) -> PyGenRunner:
        """Offline: called before every ``Engine.render``; live: a thread follows the stream."""
        e = engine or self.engine
        hooks = getattr(e, "pre_render", None)
        if hooks is None:
            raise TypeError("this engine has no pre_render hooks")
        hooks.append(self.before_render)
        return self

    def start_live(self, poll_s: float = 0.005) -> None:
        """Start the live thread (call after the stream started)."""
        if self._thread is not None:
            return
        self._stop.clear()
        with self._lock:                    # the stream is running: start at the next window
            s, b = self.engine.beat_anchor()
            self._anchor = (s, b, float(self.engine.state.p[P_BPM]))
            now_beat = b + (self.engine.now_sample() - s) / self._spb()
            self.next_k = max(self.next_k, int(math.floor(now_beat / self.window)) + 1)

        def run() -> None:
            while not self._stop.is_set():
                now = self.engine.now_sample()
                self.fill(now, now_sample=now)
                self._stop.wait(poll_s)

        self._thread = threading.Thread(target=run, name="rtgen-pygen", daemon=True)
        self._thread.start()

    def stop_live(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None


__all__ = ["BeatWindow", "Chord", "LayerGain", "Note", "PyGenRunner", "PyGenerator", "RunnerStats"]
