"""Python generators: notes land on their exact samples, renders are block-size independent."""

from __future__ import annotations

import random

import numpy as np

from rtgen import Engine, EngineSpec
from rtgen.backends.offline import render_array
from rtgen.gen.pygen import BeatWindow, Chord, Note, PyGenerator, PyGenRunner
from rtgen.rt.layout import H_CHORD, H_CHORD_LEN, H_CHORD_ROOT, O_NOTE_ON


class Walker(PyGenerator):
    """A seeded random walk on eighths, and a chord change every bar."""

    def __init__(self) -> None:
        super().__init__(layer=1)
        self.rng = random.Random(3)
        self.note = 60

    def next_events(self, w: BeatWindow):
        for b in w.beats(4.0):
            yield Chord(b, (7, 11, 2) if int(b) % 8 else (0, 4, 7))   # G on beat 4, C on 0 and 8
        for b in w.beats(0.5):
            self.note += self.rng.choice((-2, -1, 1, 2))
            yield Note(b, self.note, 80, 0.4)


def _render(block: int) -> tuple[np.ndarray, np.ndarray, Engine, PyGenRunner]:
    eng = Engine(EngineSpec(bpm=125, seed=1))
    run = PyGenRunner(eng, [Walker()], window=1.0, ahead=2.0).attach()
    audio = render_array(eng, 3.0, block=block)
    return audio, eng.events(), eng, run


def test_notes_on_exact_samples_and_block_size_independent() -> None:
    a, ev, eng, run = _render(4096)
    ons = ev[ev[:, 0] == O_NOTE_ON]
    spb = 48000 * 60 / 125
    want = [int(np.floor(k * 0.5 * spb + 0.5)) for k in range(len(ons))]
    assert len(ons) >= 12 and list(ons[:, 1].astype(int)) == want
    assert run.stats.late == 0 and run.stats.dropped == 0
    b, _, _, _ = _render(100)
    c, _, _, _ = _render(64)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    h = eng.state.harm                           # 3 s at 125 bpm = 6.25 beats: the second bar's chord
    assert int(h[H_CHORD_ROOT]) == 7 and int(h[H_CHORD_LEN]) == 3 and int(h[H_CHORD + 1]) == 11


def test_late_events_are_dropped_and_counted() -> None:
    eng = Engine(EngineSpec(bpm=120, seed=1))
    run = PyGenRunner(eng, [Walker()], window=1.0, ahead=1.0)
    run.fill(0.0, now_sample=48000.0)          # a stalled runner: beat 2 is playing already
    assert (run.stats.late, run.stats.events) == (3, 0)   # the chord and two eighths of beat 0..1
    run.fill(48000.0, now_sample=48000.0)      # caught up: beats 1..2 late, 2..3 on time
    assert (run.stats.late, run.stats.events) == (5, 2)
