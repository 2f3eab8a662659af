"""Game API edges: an out-of-range parameter value is clamped with one warning per parameter, and
one-shot notes take layer (and instrument) names as ``note_on`` does."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.errors import ConfigError
from rtgen.game import MusicController
from rtgen.rt.layout import LAYER_NAMES, LF_GAIN, O_NOTE_ON

PARAMS = {"intensity": {"default": 0.5, "min": 0.0, "max": 1.0,
                        "map": [{"target": "layer:automata", "curve": "linear", "lo": 0.0, "hi": 2.0}]},
          "danger": {"default": 0.0, "map": [{"target": "tension", "curve": "linear"}]}}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "outside its range" in
            r.getMessage()]


def test_out_of_range_parameter_is_clamped_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    eng = Engine(EngineSpec(seed=0))
    music = MusicController(eng, params=PARAMS)
    caplog.set_level(logging.WARNING, logger="rtgen.game")
    assert music.set_param("intensity", 0.25) == 0.25
    assert _warnings(caplog) == []
    assert music.set_param("intensity", 3.0) == 1.0
    eng.render(frames=4096)
    # the clamped value is what reaches the engine: 1.0 on a 0..2 map doubles the layer's 0.8
    assert eng.state.lf[LAYER_NAMES.index("automata"), LF_GAIN] == pytest.approx(1.6)
    assert music.set_param("intensity", -1.0) == 0.0          # clamped again, no second warning
    assert music.set_param("intensity", 7.0) == 1.0
    msgs = _warnings(caplog)
    assert len(msgs) == 1 and "intensity" in msgs[0] and "0..1" in msgs[0]
    assert music.set_param("danger", 1.5) == 1.0              # another parameter warns on its own
    assert len(_warnings(caplog)) == 2
    assert music.clamped == {"intensity": 3, "danger": 1}
    with pytest.raises(ConfigError):
        music.set_param("intensity", float("nan"))            # not a number is still an error


def _note_ons(eng: Engine) -> np.ndarray:
    ev = eng.events()
    return ev[ev[:, 0] == O_NOTE_ON]


def test_play_note_takes_layer_and_instrument_names_as_note_on_does() -> None:
    eng = Engine(EngineSpec(seed=0))
    names = [n for n, _ in eng.timbre.instruments()]
    assert eng.play_note(67, 100, 0.2, layer="aux1", instrument=names[2])
    assert eng.note_on(60, 100, layer="aux2")
    out = eng.render(frames=4800)
    ons = _note_ons(eng)
    assert {(int(r[2]), int(r[4]), int(r[6])) for r in ons} >= {(67, LAYER_NAMES.index("aux1"), 2)}
    assert (60, LAYER_NAMES.index("aux2")) in {(int(r[2]), int(r[4])) for r in ons}
    assert np.abs(out).max() > 0.01
    with pytest.raises(ConfigError, match="unknown layer"):
        eng.play_note(60, 100, 0.2, layer="nosuchlayer")
    with pytest.raises(ConfigError, match="unknown instrument"):
        eng.play_note(60, 100, 0.2, instrument="kazoo")


def test_controller_note_on_a_named_layer_lands_on_the_beat() -> None:
    eng = Engine(EngineSpec(seed=0, bpm=120.0))
    music = MusicController(eng)
    eng.render(frames=1000)
    at = music.boundary("beat")
    assert music.note(72, 100, layer="aux1", seconds=0.1, quantum="beat")
    eng.render(frames=int(at) + 2000 - 1000)
    ons = _note_ons(eng)
    assert [(int(r[1]), int(r[2]), int(r[4])) for r in ons] == [(int(at), 72, LAYER_NAMES.index("aux1"))]
