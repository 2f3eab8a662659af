"""Per-layer effects end to end: a layer's send reaches its bus's pyo chain in an offline render."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen import Engine, EngineSpec

pyo = pytest.importorskip("pyo", reason="pyo is an optional extra (pip install 'rtgen[fx]')")


def _render(cfg: dict) -> np.ndarray:
    from rtgen.fx import render_with_fx

    eng = Engine(EngineSpec(seed=4))
    eng.note_on(60, 100, layer="rules", time=0)
    eng.note_off(60, layer="rules", time=2400)
    eng.note_on(72, 100, layer="player", time=0)
    eng.note_off(72, layer="player", time=2400)
    return render_with_fx(eng, 1.0, cfg)


def test_a_layer_sent_to_a_delay_bus_comes_back_delayed_and_the_other_layer_does_not() -> None:
    base = {"enabled": True, "block": 64, "master": []}
    dry = _render(base)
    bus = {**base, "buses": {"echo": {"sends": {"rules": 1.0},
                                      "chain": [{"type": "delay", "time": 0.25, "feedback": 0.0, "mix": 1.0}]}}}
    wet = _render(bus)
    diff = wet.astype(np.float64) - dry
    d = int(0.25 * 48000)
    # the echo: nothing added before the delay time, the rules layer's note after it
    assert np.abs(diff[: d - 64]).max() < 1e-4
    assert np.abs(diff[d:d + 4800]).max() > 0.01
