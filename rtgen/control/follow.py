"""The player steers the rest of the engine: key, tempo, density, intensity (and chords).

A :class:`Follower` is a MIDI listener (it runs in the MIDI input thread and writes
through ``RING_MIDI``):

* key and scale: :class:`rtgen.control.keydetect.KeyTracker` (Krumhansl–Schmuckler)
  -> the harmonic context's root and scale (:func:`rtgen.rt.commands.harmony_commands`);
* tempo (optional): the median inter-onset interval folded into 60..180 BPM -> ``set_tempo``;
* density: note rate over the last few seconds -> ``set_density`` (0..1);
* intensity: mean velocity -> ``set_tension`` (0..1) and, optionally, the master
  gain via ``set_master_gain`` scaling;
* accompaniment: notes held together set the current chord (``H_CHORD_*``).

Updates are rate-limited (``interval_s``) so a fast player cannot flood the ring.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..protocol import EngineLike
from ..rt.commands import harmony_commands
from ..rt.layout import (
    H_VERSION,
    P_MASTER_GAIN,
    RING_MIDI,
)
from .keydetect import KeyTracker
from .midi import M_NOTE_OFF, M_NOTE_ON, MidiEvent


class Follower:
    def __init__(self, engine: EngineLike, *, follow_key: bool = True, follow_tempo: bool = False,
                 follow_density: bool = True, accompaniment: bool = False, intensity_gain: bool = False,
                 interval_s: float = 0.25, ring: int = RING_MIDI) -> None:
        self.engine = engine
        self.follow_key = follow_key
        self.follow_tempo = follow_tempo
        self.follow_density = follow_density
        self.accompaniment = accompaniment
        self.intensity_gain = intensity_gain
        self.interval_s = interval_s
        self.ring = ring
        self.key = KeyTracker()
        self.onsets: deque[tuple[float, int]] = deque(maxlen=64)
        self.on: dict[int, float] = {}
        self.bpm = 0.0
        self.density = 0.0
        self.intensity = 0.0
        self._last_update = -1e9
        self._version = 0.0
        self.dropped = 0
        self.key_changes = 0
        base = getattr(getattr(engine, "state", None), "p", None)
        self._base_gain = float(base[P_MASTER_GAIN]) if base is not None else 0.5

    def __call__(self, ev: MidiEvent, t: float, sample: float) -> None:
        if ev.kind == M_NOTE_ON:
            self.onsets.append((t, ev.b))
            self.on[ev.a] = t
            if self.accompaniment and len(self.on) >= 2:
                self._chord(sorted(self.on))
        elif ev.kind == M_NOTE_OFF:
            t0 = self.on.pop(ev.a, None)
            if t0 is not None and self.follow_key and self.key.add(ev.a, t - t0, t):
                self.key_changes += 1
                self._key()
        else:
            return
        if t - self._last_update >= self.interval_s:
            self._last_update = t
            self._rates(t)

    def _sent(self, ok: bool) -> None:
        if not ok:
            self.dropped += 1

    def _next_version(self) -> float:
        harm = getattr(getattr(self.engine, "state", None), "harm", None)
        cur = float(harm[H_VERSION]) if harm is not None else self._version
        self._version = max(self._version, cur) + 1.0
        return self._version

    def _key(self) -> None:
        sc = list(self.key.scale)
        rows = harmony_commands(self._next_version(), root=self.key.root, scale=sc)
        for c in rows:
            self._sent(self.engine.send(c, ring=self.ring))

    def _chord(self, notes: list[int]) -> None:
        pcs: list[int] = []
        for n in notes:                                  # the lowest note is taken as the root
            if n % 12 not in pcs:
                pcs.append(n % 12)
        pcs = pcs[:6]
        for c in harmony_commands(self._next_version(), chord=pcs):
            self._sent(self.engine.send(c, ring=self.ring))

    def _rates(self, t: float) -> None:
        recent = [(ti, v) for ti, v in self.onsets if t - ti <= 4.0]
        if not recent:
            return
        span = max(1.0, t - recent[0][0])
        rate = len(recent) / span                             # notes per second
        self.density = float(min(1.0, rate / 8.0))
        self.intensity = float(np.mean([v for _, v in recent]) / 127.0)
        if self.follow_density:
            self._sent(self.engine.set_density(self.density, ring=self.ring))
            self._sent(self.engine.set_tension(self.intensity, ring=self.ring))
        if self.intensity_gain:
            self._sent(self.engine.set_master_gain(self._base_gain * (0.6 + 0.6 * self.intensity), ring=self.ring))
        if self.follow_tempo and len(recent) >= 6:
            iois = np.diff([ti for ti, _ in recent])
            iois = iois[iois > 0.06]
            if iois.size >= 4:
                beat = float(np.median(iois))
                while beat < 60.0 / 180.0:
                    beat *= 2.0
                while beat > 1.0:
                    beat /= 2.0
                bpm = 60.0 / beat
                if self.bpm == 0.0 or abs(bpm - self.bpm) / self.bpm > 0.03:
                    self.bpm = bpm
                    self._sent(self.engine.set_tempo(bpm, ring=self.ring))

    def harmony_weights(self) -> np.ndarray:
        """Fitness weights of the 12 pitch classes for the Continuator's harmonic bias."""
        from ..gen.continuator import fitness_weights
        if not self.key.known:
            return np.ones(12)
        return fitness_weights(self.key.root, self.key.scale)
