"""Timbre morphing: a parameter (or a MIDI CC through MIDI learn) moves voices between instruments."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen import ConfigError, Engine, EngineSpec
from rtgen.game import MusicController


def _render(amount: float) -> np.ndarray:
    eng = Engine(EngineSpec(seed=1), timbre="neural")
    music = MusicController(eng, params={"brightness": {"map": [{"target": "morph"}]}})
    eng.set_morph("flute", 0.0)
    music.set_param("brightness", amount)
    eng.note_on(60, 100, instrument="clarinet")
    return eng.render(frames=24000)


def test_morph_moves_a_clarinet_towards_the_flute() -> None:
    a, half, b = _render(0.0), _render(0.5), _render(1.0)
    spec = [np.abs(np.fft.rfft(x[4800:, 0].astype(np.float64))) for x in (a, half, b)]
    d_ab = np.linalg.norm(spec[0] - spec[2])
    assert d_ab > 0.0
    # the half-way morph lies between the two ends
    assert np.linalg.norm(spec[1] - spec[0]) < d_ab and np.linalg.norm(spec[1] - spec[2]) < d_ab


def test_morph_amount_is_checked() -> None:
    with pytest.raises(ConfigError):
        Engine(EngineSpec()).set_morph("flute", 2.0)
