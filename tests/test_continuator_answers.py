"""Answers with shape, on real phrases: length, no circling, stable endings, copy limit, cost per note."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen.gen.continuator import (
    ContinuatorConfig,
    ContinuatorModel,
    Item,
    circles,
    fitness_weights,
    max_copy_length,
)
from rtgen.gen.keydetect import detect_key, scale_of
from tests.midi_harness import MELODIES, corpus_melody

pytest.importorskip("music21")


def _phrases(key: str, size: int = 10) -> list[list[Item]]:
    mel = corpus_melody(key)
    return [[Item(p, 80, d * 0.9, d) for p, d in mel[a: a + size]] for a in range(0, len(mel) - size + 1, size)]


def _answer(m: ContinuatorModel, phrase: list[Item], key: tuple[int, int]) -> list[int]:
    g = m.start_answer(phrase, fitness_weights(key[0], scale_of(*key)), phrase, key)
    out: list[int] = []
    while len(out) < len(phrase):
        it = g.step(final=len(out) == len(phrase) - 1)
        if it is None:
            break
        out.append(it.pitch)
    return out


def test_answers_to_real_phrases_have_shape():
    m = ContinuatorModel(ContinuatorConfig(max_copy=5), seed=1)
    n = stable = 0
    for key in sorted(MELODIES):
        played: list[int] = []
        for ph in _phrases(key)[:6]:
            played += [it.pitch for it in ph]
            r, mode, _ = detect_key(played)
            m.set_key(r, mode)
            m.learn(ph)
            out = _answer(m, ph, (r, mode))
            assert len(out) == len(ph)                                  # as long as the phrase
            assert not circles(out), out
            assert max_copy_length(out, m.phrases()) <= 5
            n += 1
            stable += (out[-1] - r) % 12 in (0, 7, 3 if mode else 4)
    assert n >= 30
    assert stable / n >= 0.7, f"only {stable}/{n} answers end on the tonic, 3rd or 5th"
    assert np.median(np.array(m.step_ns)) / 1e6 < 10.0                # ms per note (about 1 here)


def test_an_answer_does_not_circle_even_when_the_memory_does():
    # the answer went round F# F# A G almost three times
    loop = [66, 66, 69, 67] * 6 + [66]
    for seed in range(6):
        m = ContinuatorModel(ContinuatorConfig(max_copy=32), seed=seed)
        m.learn([Item(p, 80, 0.2, 0.25) for p in loop])
        ph = [Item(p, 80, 0.2, 0.25) for p in [62, 64, 66, 66, 69, 67, 66, 62, 64, 66, 67, 69]]
        m.learn(ph)
        out = _answer(m, ph, (7, 0))
        assert len(out) == len(ph) and not circles(out), out


def test_a_player_who_circles_may_be_answered_in_circles():
    ph = [Item(p, 80, 0.2, 0.25) for p in [66, 66, 69, 67] * 3]
    assert circles([it.pitch for it in ph])
    m = ContinuatorModel(ContinuatorConfig(max_copy=32, contour_sigma=0.0), seed=0)
    for _ in range(4):
        m.learn(ph)
    outs = [_answer(m, ph, (7, 0)) for _ in range(4)]
    assert any(circles(o) for o in outs)


def test_a_new_tune_does_not_replay_the_previous_songs_phrase():
    # the issue: an answer to a G-major tune replayed six notes verbatim from the previous song
    prev = [Item(p, 80, d * 0.9, d) for p, d in corpus_melody("oneill1")[:40]]       # D major
    tune = [Item(p, 80, d * 0.9, d) for p, d in corpus_melody("bach26")[:24]]
    worst = {}
    for older in (6, 0):                                  # 0: earlier tunes quoted at most max_copy - 2
        worst[older] = 0
        for seed in range(8):
            m = ContinuatorModel(ContinuatorConfig(max_copy=6, max_copy_older=older), seed=seed)
            r, mode, _ = detect_key([it.pitch for it in prev])
            m.set_key(r, mode)
            m.learn(prev[:20])
            m.learn(prev[20:])
            r, mode, _ = detect_key([it.pitch for it in tune])
            m.set_key(r, mode)
            m.learn(tune[:12])
            out = _answer(m, tune[:12], (r, mode))
            assert max_copy_length(out, m.phrases()) <= 6
            worst[older] = max(worst[older], max_copy_length(out, [np.array([it.pitch for it in prev])]))
    assert worst[0] <= 4, worst
    assert worst[6] > worst[0], worst                     # without the rule the scenario does replay (6 notes)
