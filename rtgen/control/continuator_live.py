"""The live Continuator: a thread fed by MIDI events that answers each phrase through the engine.

The pure model (memory, prediction, generation) is :mod:`rtgen.gen.continuator`; this module
holds what needs a clock and an engine: phrase segmentation by silence, key tracking, the
answer's scheduling on the engine's sample clock (``RING_ANSWER``), interruption by the
player, and the live statistics.

Turn-taking. A player in free time is answered after an adaptive silence (2.5 x the median
inter-onset interval, 0.25-0.5 s). A player in tempo (onsets on a regular grid:
:func:`estimate_pulse`) is answered as a musician would: on the bar line where the next
phrase would begin, counted from the phrase's first note (:func:`next_phrase_start`); the
decision is taken just before that bar line, or at the silence if that comes first.

Latencies (``ContinuatorStats``): ``answer_latency_from_note_off_ms`` from the player's last
note-off, ``answer_latency_from_detection_ms`` from the decision to answer (the old
``answer_latency_ms``), both to the first answer note's onset or, if later, the moment it was
handed to the engine; ``answer_compute_ms`` from the decision to the first note computed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..gen.continuator import (
    AnswerGen,
    ChordClusterer,
    ContinuatorConfig,
    ContinuatorModel,
    Item,
    fitness_weights,
    warm_up,
)
from ..gen.keydetect import KeyTracker
from ..rt.commands import SetLayer
from ..rt.layout import LAYER_ANSWER, LF_GAIN, RING_ANSWER
from .midi import M_ALL_NOTES_OFF, M_NOTE_OFF, M_NOTE_ON, M_PANIC

log = logging.getLogger("rtgen.continuator")

@dataclass
class ContinuatorStats:
    notes_in: int = 0
    phrases: int = 0
    answers: int = 0
    answer_notes: int = 0
    interrupted: int = 0
    dropped: int = 0                     # engine ring full
    late_steps: int = 0                  # generation steps over budget
    late_notes: int = 0                  # notes sent after their own time had passed
    in_time_answers: int = 0             # answers placed on the next phrase's downbeat
    answer_latency_ms: list[float] = field(default_factory=list)   # = answer_latency_from_detection_ms
    # the first answer note's onset (or, if later, the moment it was handed to the engine) ...
    answer_latency_from_note_off_ms: list[float] = field(default_factory=list)  # ... after the last note-off
    answer_latency_from_detection_ms: list[float] = field(default_factory=list)  # ... after the phrase-end decision
    answer_compute_ms: list[float] = field(default_factory=list)   # decision -> first note computed, queued
    answer_in_time: list[bool] = field(default_factory=list)       # per answer (aligned with the latencies)
    wake_late_ms: list[float] = field(default_factory=list)        # deadline timer lateness

    def summary(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if not isinstance(v, list)}
        for k in ("answer_latency_ms", "answer_latency_from_note_off_ms", "answer_latency_from_detection_ms",
                  "answer_compute_ms", "wake_late_ms"):
            v = getattr(self, k)
            if v:
                a = np.asarray(v)
                d[k] = {"n": int(a.size), "min": float(a.min()), "median": float(np.median(a)),
                        "max": float(a.max())}
        return d


def estimate_pulse(onsets: list[float], tolerance: float = 0.12) -> float | None:
    """The player's pulse (seconds) when the onsets sit on a regular grid, else None (free time).

    The grid unit is the longest unit, an inter-onset interval divided by 1..4, that the
    intervals are whole multiples of: within ``tolerance`` of the unit on average, 0.3 at
    worst (a human player's timing wavers), the unit 0.1-1.2 s; at least 4 intervals.
    """
    iois = np.diff(np.asarray(onsets, np.float64))
    iois = iois[iois > 0.03]
    if iois.size < 4:
        return None
    best = None
    for base in np.unique(np.round(iois, 3)):
        for k in (1, 2, 3, 4):
            u = float(base) / k
            if not 0.1 <= u <= 1.2:
                continue
            units = iois / u
            # the unit itself must be close to the intervals actually played (not a tiny subdivision)
            dev = np.abs(units - np.round(units))
            if (np.round(units).min() >= 1 and float(dev.mean()) <= tolerance and float(dev.max()) <= 0.3
                    and (best is None or u > best)):
                best = u
    if best is None:
        return None
    # refine: least squares over the intervals' unit counts
    cnt = np.round(iois / best)
    return float((iois * cnt).sum() / (cnt * cnt).sum())


def beat_of(unit: float) -> float:
    """The tactus: the unit doubled or halved into 0.35-0.9 s (about 67-171 beats per minute)."""
    b = unit
    while b < 0.35:
        b *= 2.0
    while b > 0.9:
        b /= 2.0
    return b


def next_phrase_start(t0: float, last_onset: float, unit: float, beat: float, beats_per_bar: int = 0,
                      earliest: float = 0.0) -> tuple[float, float]:
    """When the next phrase would begin, as a musician counts it: a whole number of bars after ``t0``.

    The phrase lasts from its first onset ``t0`` to its last onset plus half a unit; the
    next phrase begins on the first bar line (bars of ``beats_per_bar`` beats, 4 when 0:
    a phrase alone does not tell 3/4 from 4/4 reliably) at or after both
    that and ``earliest``. Returns (start, bar length in seconds).
    """
    span = (last_onset - t0 + 0.5 * unit) / beat
    bpb = beats_per_bar if beats_per_bar > 0 else 4
    bar = bpb * beat
    n = max(1, math.ceil(span / bpb - 1e-9))
    start = t0 + n * bar
    while start < earliest:
        start += bar
    return start, bar


class Continuator:
    """The live Continuator: a thread fed by MIDI events, answering through the engine.

    ``engine`` needs ``now_sample()``, ``note_on``/``note_off``/``command`` with ``ring=``
    and ``spec.sample_rate``. ``clock`` is the monotonic clock the MIDI times refer to.
    """

    def __init__(self, engine: Any = None, config: ContinuatorConfig | None = None, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic,
                 harmony: Callable[[], np.ndarray] | None = None) -> None:
        self.cfg = config or ContinuatorConfig()
        self.model = ContinuatorModel(self.cfg, seed)
        self.engine = engine
        self.clock = clock
        self.harmony = harmony
        spec = getattr(engine, "spec", None)
        self.sr = float(getattr(spec, "sample_rate", 48000))
        self.key = KeyTracker()
        self.clusterer = ChordClusterer(self.cfg.chord_window)
        self.stats = ContinuatorStats()
        self.iois: deque[float] = deque(maxlen=16)
        self.last_onset = -1.0
        self.last_release = -1.0
        self.last_event = -1.0
        self.on_times: dict[int, tuple[float, int]] = {}
        self._q: deque[tuple[int, int, int, float]] = deque()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = False
        # the answer being played
        self.gen: AnswerGen | None = None
        self.pending: deque[tuple[float, Item]] = deque()   # (onset sample, item) generated, not sent
        self.sent: list[tuple[float, float, int]] = []       # (on sample, off sample, note) sent
        self.answer_target = 0
        self.answer_next_sample = 0.0
        self.answer_phrase: list[Item] = []
        self.answer_index = 0
        self.ducked = False
        self.answers_log: deque[dict[str, Any]] = deque(maxlen=256)
        self.lock = threading.Lock()                          # guards the model (save/load/clear)
        self.in_time: tuple[float, float, float] | None = None  # (next phrase start, pulse, bar) in tempo
        self._in_time_start: float | None = None
        self._bar_s = 0.0
        self._note_off_sample = 0.0
        self._deadline_sample = 0.0
        self._decision_perf = 0.0
        self._first_pending = False

    # -- input (any thread) --------------------------------------------------------------------
    def midi_listener(self, ev: Any, t: float, sample: float) -> None:
        """A :class:`rtgen.control.midi.MidiInput` listener."""
        if ev.kind == M_NOTE_ON:
            self.note_on(ev.a, ev.b, t)
        elif ev.kind == M_NOTE_OFF:
            self.note_off(ev.a, t)
        elif ev.kind in (M_ALL_NOTES_OFF, M_PANIC):
            self._push((3, 0, 0, t))

    def note_on(self, note: int, vel: int, t: float) -> None:
        self._push((1, int(note), int(vel), float(t)))

    def note_off(self, note: int, t: float) -> None:
        self._push((2, int(note), 0, float(t)))

    def _push(self, e: tuple[int, int, int, float]) -> None:
        with self._cv:
            self._q.append(e)
            self._cv.notify()

    # -- thread ----------------------------------------------------------------------------------
    def start(self) -> Continuator:
        warm_up()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="rtgen-continuator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        with self._cv:
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self.stop_answer()

    def _loop(self) -> None:
        while self._running:
            wait = self.poll(self.clock())
            with self._cv:
                if not self._q and self._running:
                    self._cv.wait(timeout=max(0.0, min(wait, 0.05)))

    # -- the state machine (callable directly with a synthetic clock) ---------------------------
    def poll(self, now: float) -> float:
        """Process input, detect the phrase end at its deadline, play the answer; returns seconds to wait."""
        while True:
            with self._cv:
                if not self._q:
                    break
                kind, note, vel, t = self._q.popleft()
            self._event(kind, note, vel, t)
        deadline = self.phrase_deadline()
        if deadline is not None and now >= deadline:
            self._phrase_end(deadline, now)
            deadline = None
        wait = 0.05
        if self.gen is not None or self.pending or self.sent:
            wait = self._play(now)          # (with only ``sent`` left: forgets it once every note is over)
        if deadline is not None:
            wait = min(wait, deadline - now)
        return max(0.0, wait)

    def silence_threshold(self) -> float:
        c = self.cfg
        if not self.iois:
            return c.silence_max
        return float(min(c.silence_max, max(c.silence_min, c.silence_factor * float(np.median(self.iois)))))

    def phrase_deadline(self) -> float | None:
        """When the phrase is over if nothing more is played: after a silence, or in tempo before the next downbeat."""
        if len(self.clusterer) == 0:
            return None
        if self.clusterer.held:
            # keys still down: a stuck key must not block forever
            return self.last_event + 10.0
        silence = self.last_release + self.silence_threshold()
        it = self.in_time
        if it is None:
            return silence
        start, unit, _bar = it
        # decide just in time for the downbeat, unless the player would simply play on
        if start - self.last_onset >= 1.5 * unit:
            return min(silence, start - self.cfg.lookahead_s - 0.02)
        return silence

    def _update_tempo(self) -> None:
        """Re-estimate whether the current phrase is in tempo, and where the next phrase would begin."""
        self.in_time = None
        if not self.cfg.in_time:
            return
        ons = self.clusterer.onsets()
        unit = estimate_pulse(ons, self.cfg.tempo_tolerance)
        if unit is None:
            return
        beat = beat_of(unit)
        start, bar = next_phrase_start(ons[0], ons[-1], unit, beat, self.cfg.beats_per_bar,
                                       earliest=ons[-1] + unit)
        self.in_time = (start, unit, bar)

    def _event(self, kind: int, note: int, vel: int, t: float) -> None:
        self.last_event = max(self.last_event, t)
        if kind == 1:
            self.stats.notes_in += 1
            if self.last_onset >= 0 and len(self.clusterer) > 0:
                d = t - self.last_onset
                if d > self.cfg.chord_window:
                    self.iois.append(d)
            self.last_onset = t
            self.on_times[note] = (t, vel)
            self.clusterer.note_on(note, vel, t)
            self._update_tempo()
            if self.gen is not None or self.pending or self.sent:
                self._player_interrupts()
        elif kind == 2:
            if self.clusterer.note_off(note, t):
                self.last_release = t
            on = self.on_times.pop(note, None)
            if on is not None:
                self.key.add(note, t - on[0], t)
                if self.key.known:
                    self.model.set_key(self.key.root, self.key.mode)
        elif kind == 3:
            self.clusterer.release_all(t)
            self.last_release = t
            self.on_times.clear()

    def _player_interrupts(self) -> None:
        mode = self.cfg.on_play
        if mode == "stop":
            self.stats.interrupted += 1
            self.stop_answer()
        elif mode == "duck" and not self.ducked:
            self._layer_gain(self.cfg.duck_gain)
            self.ducked = True

    def _phrase_end(self, deadline: float, now: float) -> None:
        self._decision_perf = time.perf_counter()
        in_time = self.in_time
        self.in_time = None
        note_off = self.last_release
        items = self.clusterer.take(deadline)
        if not items:
            return
        self._in_time_start = in_time[0] if in_time is not None else None
        self._bar_s = in_time[2] if in_time is not None else 0.0
        self._note_off_sample = self._sample_at(note_off) if self.engine is not None else 0.0
        self.stats.phrases += 1
        self.stats.wake_late_ms.append((now - deadline) * 1e3)
        with self.lock:
            self.model.learn(items)
            if self.cfg.mode != "accompaniment":
                self._start_answer(items, deadline, now)
        if self.ducked:
            self._layer_gain(1.0)
            self.ducked = False

    # -- answering -------------------------------------------------------------------------------
    def weights(self) -> np.ndarray:
        if self.harmony is not None:
            return np.asarray(self.harmony(), np.float64)
        if self.key.known:
            return fitness_weights(self.key.root, self.key.scale)
        return np.ones(12)

    def _sample_at(self, t: float) -> float:
        return float(self.engine.now_sample()) - (self.clock() - t) * self.sr

    def _start_answer(self, phrase: list[Item], deadline: float, now: float) -> None:
        if self.model.n == 0 or not phrase:
            return
        self.stop_answer()
        ctx = phrase if self.cfg.mode == "continuation" else phrase[-1:]
        key = (self.key.root, self.key.mode) if self.key.known else None
        self.gen = self.model.start_answer(ctx, self.weights(), phrase, key)
        self.answer_phrase = phrase
        self.answer_index = 0
        n = int(round(len(phrase) * self.cfg.answer_factor))
        self.answer_target = max(self.cfg.min_answer, min(self.cfg.max_answer, n))
        self.pending.clear()
        self.sent = []
        start = self._sample_at(now) + self.cfg.latency_s * self.sr
        its = self._in_time_start
        if its is not None:
            # in tempo: on the downbeat where the next phrase would begin (a bar later if too close)
            s_its = self._sample_at(its)
            bar = self._bar_s * self.sr
            while s_its < start and bar > 0:
                s_its += bar
            start = s_its
            self.stats.in_time_answers += 1
        elif self.cfg.rhythm == "metrical":
            start = self._next_grid(start)
        self.answer_next_sample = start
        self._deadline_sample = self._sample_at(deadline)
        self._first_pending = True
        self.stats.answers += 1
        self._generate_one()
        # the first note is ready to leave at its time (now, or on the downbeat in tempo)
        self.stats.answer_compute_ms.append((time.perf_counter() - self._decision_perf) * 1e3)

    def _next_grid(self, sample: float) -> float:
        """The first metrical grid point at or after ``sample`` (engine beat clock)."""
        e = self.engine
        if not hasattr(e, "beat_at"):
            return sample
        div = max(1, self.cfg.metrical_div)
        k = math.ceil(float(e.beat_at(sample)) * div - 1e-9)
        return max(sample, float(e.sample_at_beat(k / div)))

    def _ioi_dur(self, it: Item) -> tuple[float, float]:
        c = self.cfg
        if c.rhythm == "natural":
            return it.ioi, it.dur
        if c.rhythm == "input" and self.answer_phrase:
            src = self.answer_phrase[self.answer_index % len(self.answer_phrase)]
            return src.ioi, src.dur
        if c.rhythm == "metrical":
            spb = float(self.engine.samples_per_beat()) if hasattr(self.engine, "samples_per_beat") else self.sr / 2
            step = spb / self.sr / max(1, c.metrical_div)
            k = max(1, int(round(it.ioi / step)))
            return k * step, min(it.dur, k * step * 0.95)
        step = c.linear_step
        if step <= 0:
            iois = [x.ioi for x in self.answer_phrase[:-1]] or [0.25]
            step = float(np.median(iois))
        return step, step * 0.9

    def _generate_one(self) -> bool:
        if self.gen is None:
            return False
        if self.gen.alen >= self.answer_target:
            self._finish_generation()
            return False
        final = self.gen.alen == self.answer_target - 1
        t0 = time.perf_counter()
        it = self.gen.step(final=final)
        if time.perf_counter() - t0 > self.cfg.step_budget_s:
            self.stats.late_steps += 1
        if it is None:
            self._finish_generation()
            return False
        ioi, dur = self._ioi_dur(it)
        ioi = min(max(ioi, 0.03), 2.0)
        dur = min(max(dur, 0.02), 4.0)
        it.ioi, it.dur = ioi, dur
        self.pending.append((self.answer_next_sample, it))
        self.answer_next_sample += ioi * self.sr
        self.answer_index += 1
        return True

    def _finish_generation(self) -> None:
        if self.gen is not None:
            self.answers_log.append({"pitches": [i.pitch for i in self.gen.items],
                                     "context": [i.pitch for i in self.answer_phrase]})
        self.gen = None

    def _play(self, now: float) -> float:
        """Send due notes; generate ahead; returns seconds until work is due again.

        Due notes go first (the first answer note leaves before anything else is computed),
        then the answer is generated up to ``horizon_s`` ahead, then what became due is sent.
        """
        now_s = self._sample_at(now)
        send_until = now_s + self.cfg.lookahead_s * self.sr
        while self.pending and self.pending[0][0] <= send_until:
            on, it = self.pending.popleft()
            self._send(on, it, now_s)
        horizon = now_s + self.cfg.horizon_s * self.sr
        while self.gen is not None and (not self.pending or self.pending[-1][0] < horizon):
            if not self._generate_one():
                break
        now_s = self._sample_at(self.clock())
        send_until = now_s + self.cfg.lookahead_s * self.sr
        while self.pending and self.pending[0][0] <= send_until:
            on, it = self.pending.popleft()
            self._send(on, it, now_s)
        if not self.pending and self.gen is None:
            # finished: forget the sent list once every note is over
            if self.sent and max(off for _, off, _ in self.sent) < now_s:
                self.sent = []
            return 0.05
        if self.pending:
            return max(0.0005, (self.pending[0][0] - send_until) / self.sr)
        return 0.005

    def _send(self, on: float, it: Item, now_s: float) -> None:
        e = self.engine
        if self._first_pending:
            self._first_pending = False
            st = self.stats
            eff = max(on, self._sample_at(self.clock()))       # sounding, or handed over late
            st.answer_latency_ms.append((eff - self._deadline_sample) / self.sr * 1e3)
            st.answer_latency_from_detection_ms.append(st.answer_latency_ms[-1])
            st.answer_latency_from_note_off_ms.append((eff - self._note_off_sample) / self.sr * 1e3)
            st.answer_in_time.append(self._in_time_start is not None)
        if on < now_s:
            self.stats.late_notes += 1
        off = on + it.dur * self.sr
        vel = self.cfg.velocity or it.vel
        for note in it.notes():
            if not 0 <= note <= 127:
                continue
            ok = e.note_on(note, vel, layer=LAYER_ANSWER, time=on, ring=RING_ANSWER)
            if not ok:
                self.stats.dropped += 1
                continue
            if not e.note_off(note, layer=LAYER_ANSWER, time=off, ring=RING_ANSWER):
                self.stats.dropped += 1
            self.sent.append((on, off, note))
            self.stats.answer_notes += 1

    def stop_answer(self) -> None:
        """Silence the answer now: nothing more is sent, sounding and scheduled notes are released."""
        self._finish_generation()
        self.pending.clear()
        if self.engine is None or not self.sent:
            self.sent = []
            return
        now_s = float(self.engine.now_sample())
        for on, off, note in self.sent:
            if off > now_s:
                # a note scheduled in the future is released right after it starts
                t = -1.0 if on <= now_s else on + 1.0
                if not self.engine.note_off(note, layer=LAYER_ANSWER, time=t, ring=RING_ANSWER):
                    self.stats.dropped += 1
        self.sent = []

    def _layer_gain(self, g: float) -> None:
        if self.engine is not None and not self.engine.send(SetLayer(LAYER_ANSWER, LF_GAIN, float(g)),
                                                            ring=RING_ANSWER):
            self.stats.dropped += 1

    # -- memory ------------------------------------------------------------------------------------
    def save(self, path: str) -> None:
        with self.lock:
            self.model.save(path)

    def load(self, path: str) -> None:
        with self.lock:
            self.model.load(path)

    def load_library(self, source: str) -> int:
        """Load a style library (a saved .npz, MIDI files, or a music21 corpus name); returns its notes."""
        with self.lock:
            return self.model.load_library(source)

    def save_library(self, path: str) -> None:
        with self.lock:
            self.model.save_library(path)

    def clear(self) -> None:
        with self.lock:
            self.model.clear()
            self.key.clear()


__all__ = ["Continuator", "ContinuatorStats"]
