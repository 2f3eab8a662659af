"""Turn-taking in time: a player in tempo is answered on the next phrase's downbeat; free time keeps the silence rule.

The live Continuator runs on a synthetic clock here (its state machine is callable directly);
the end-to-end version over JACK with the real engine is tests/test_continuator_jack.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtgen.control.continuator_live import Continuator, beat_of, estimate_pulse, next_phrase_start
from rtgen.gen.continuator import ContinuatorConfig
from rtgen.rt.layout import C_NOTE_ON, LAYER_ANSWER
from tests.midi_harness import FakeEngine, corpus_melody, stuck_notes


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_pulse_of_a_chorale_line_and_none_for_free_time():
    mel = corpus_melody("bach66", sec_per_quarter=0.5)[:16]
    on = np.cumsum([0.0] + [d for _, d in mel])[:-1]
    assert estimate_pulse(list(on)) == pytest.approx(0.25, abs=1e-9)         # eighth notes
    assert beat_of(0.25) == pytest.approx(0.5)
    jit = on + np.random.default_rng(0).normal(0, 0.012, on.size)             # a human's timing
    assert estimate_pulse(list(jit)) == pytest.approx(0.25, abs=0.01)
    rng = np.random.default_rng(1)
    for _ in range(20):
        assert estimate_pulse(list(np.cumsum(rng.uniform(0.1, 0.6, 12)))) is None


def test_next_phrase_starts_on_a_bar_line():
    # a 2-bar phrase of quarter notes at 0.5 s: last onset on beat 7 -> the next phrase on beat 8
    assert next_phrase_start(0.0, 3.5, 0.5, 0.5) == (pytest.approx(4.0), pytest.approx(2.0))
    # a phrase ending on the downbeat of bar 3 -> the next phrase on bar 4
    assert next_phrase_start(0.0, 4.0, 0.5, 0.5)[0] == pytest.approx(6.0)
    # 3/4: six beats
    assert next_phrase_start(0.0, 2.5, 0.5, 0.5, beats_per_bar=3)[0] == pytest.approx(3.0)
    assert next_phrase_start(0.0, 3.5, 0.5, 0.5, earliest=4.1)[0] == pytest.approx(6.0)


def _play(cont: Continuator, notes: list[tuple[int, float]], t0: float, gate: float = 0.8) -> tuple[float, float]:
    """Feed (pitch, seconds) notes; returns (last onset, last note-off)."""
    t = t0
    last_on = last_off = t0
    for p, d in notes:
        cont.note_on(p, 90, t)
        cont.note_off(p, t + d * gate)
        last_on, last_off = t, t + d * gate
        t += d
    return last_on, last_off


def _run(cont: Continuator, clock: Clock, until: float, dt: float = 0.001) -> None:
    while clock.t < until:
        clock.t += dt
        cont.poll(clock.t)


def test_a_player_in_tempo_is_answered_on_the_next_phrases_downbeat():
    clock = Clock()
    eng = FakeEngine(clock=clock, t0=0.0)
    cont = Continuator(eng, ContinuatorConfig(max_copy=4), clock=clock)
    mel = corpus_melody("bach66", sec_per_quarter=0.5)
    # two phrases of the chorale, each cut to exactly 4 bars of 4 beats (0.5 s a beat)
    t0 = 100.0
    last_on, last_off = _play(cont, mel[:13], t0)
    span = last_on - t0
    _run(cont, clock, t0 + 12.0)
    assert cont.stats.answers == 1 and cont.stats.in_time_answers == 1
    ons = sorted(c[7] for c in eng.commands if c[0] == C_NOTE_ON and c[3] == LAYER_ANSWER)
    first = ons[0] / 48000.0 + eng.t0
    bars = (first - t0) / 2.0
    assert abs(bars - round(bars)) < 1e-3, f"the answer starts {bars:.3f} bars after the phrase"
    assert first > last_on and first - last_on <= 2.0 + 0.5 + 1e-6     # the first bar line after the phrase
    assert round(bars) == int(np.ceil((span + 0.125) / 2.0 - 1e-9))
    lat = cont.stats.summary()
    assert lat["answer_latency_from_note_off_ms"]["n"] == 1
    assert lat["answer_latency_from_note_off_ms"]["median"] == pytest.approx((first - last_off) * 1e3, abs=1.0)
    assert stuck_notes(eng.notes(LAYER_ANSWER)) == []


def test_a_player_in_free_time_keeps_the_silence_rule():
    clock = Clock()
    eng = FakeEngine(clock=clock, t0=0.0)
    cont = Continuator(eng, ContinuatorConfig(), clock=clock)
    rng = np.random.default_rng(3)
    mel = corpus_melody("essen_ballad")[:14]
    notes = [(p, float(rng.uniform(0.12, 0.45))) for p, _ in mel]
    _, last_off = _play(cont, notes, 100.0)
    deadline = last_off + cont.silence_threshold()
    _run(cont, clock, last_off + 3.0)
    assert cont.stats.answers == 1 and cont.stats.in_time_answers == 0
    s = cont.stats.summary()
    assert s["answer_latency_from_detection_ms"]["max"] < 30.0
    assert s["answer_latency_from_note_off_ms"]["max"] == pytest.approx(
        (deadline - last_off) * 1e3 + s["answer_latency_from_detection_ms"]["max"], abs=2.0)
    # once the answer is over, playing again is a new phrase, not an interruption
    _run(cont, clock, clock.t + 6.0)
    _, last_off = _play(cont, notes, clock.t)
    _run(cont, clock, last_off + 3.0)
    assert cont.stats.answers == 2 and cont.stats.interrupted == 0
