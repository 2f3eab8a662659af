"""The effects rack on known signals, its configuration, the pyo source, and the bypass without pyo."""

from __future__ import annotations

import builtins
import logging
from typing import Any

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.errors import ConfigError
from rtgen.fx import _pyo
from rtgen.fx.config import preset, validate
from rtgen.rt.fxsend import FXL_INSERT, allocate_sends, mix_block, set_sends
from rtgen.rt.layout import FX_CAP

HAVE_PYO = _pyo.load_pyo() is not None
needs_pyo = pytest.mark.skipif(not HAVE_PYO, reason=f"pyo is not importable ({_pyo.why()}): "
                               "pip install 'rtgen[fx]'")
SR = 48000


def _sine(f: float, n: int = SR, amp: float = 0.5) -> np.ndarray:
    s = (amp * np.sin(2 * np.pi * f * np.arange(n) / SR)).astype(np.float32)
    return np.stack([s, s], 1).copy()


def _rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2))))


# ------------------------------------------------------------------ known results
@needs_pyo
@pytest.mark.parametrize("shift", [1, 64, 100, 1000])
def test_delay_shifts_an_impulse_by_n_samples(shift: int) -> None:
    from rtgen.fx import FxRack

    with FxRack.from_config({"master": [{"type": "delay", "time": shift / SR, "feedback": 0.0,
                                         "mix": 1.0}]}) as rack:
        x = np.zeros((2048, 2), np.float32)
        x[10, 0] = 1.0
        x[20, 1] = -0.5
        y = rack.process(x)
    assert np.argmax(np.abs(y[:, 0])) == 10 + shift and np.argmax(np.abs(y[:, 1])) == 20 + shift
    assert y[10 + shift, 0] == pytest.approx(1.0, abs=1e-5)
    assert y[20 + shift, 1] == pytest.approx(-0.5, abs=1e-5)
    y[10 + shift, 0] = y[20 + shift, 1] = 0.0
    assert np.abs(y).max() < 1e-5


@needs_pyo
@pytest.mark.parametrize(("shape", "f0", "f"), [("lowpass", 1000.0, 8000.0), ("lowpass", 500.0, 4000.0),
                                                 ("highpass", 2000.0, 250.0)])
def test_biquad_attenuates_by_the_expected_db(shape: str, f0: float, f: float) -> None:
    from rtgen.fx import FxRack
    from rtgen.fx.rack import expected_biquad_db

    x = _sine(f)
    with FxRack.from_config({"master": [{"type": "filter", "shape": shape, "freq": f0, "q": 0.7071}]}) as rack:
        y = rack.process(x)
    got = _rms_db(y[SR // 2:, 0]) - _rms_db(x[SR // 2:, 0])
    assert got == pytest.approx(expected_biquad_db(shape, f0, 0.7071, f, SR), abs=0.1)
    assert got < -20


@needs_pyo
def test_eq_boosts_its_band_and_leaves_far_bands_alone() -> None:
    from rtgen.fx import FxRack

    cfg = {"master": [{"type": "eq", "freq": 1000.0, "q": 2.0, "boost": 6.0}]}
    with FxRack.from_config(cfg) as rack:
        at = rack.process(_sine(1000.0))
    with FxRack.from_config(cfg) as rack:
        far = rack.process(_sine(100.0))
    assert _rms_db(at[SR // 2:]) - _rms_db(_sine(1000.0)[SR // 2:]) == pytest.approx(6.0, abs=0.3)
    assert abs(_rms_db(far[SR // 2:]) - _rms_db(_sine(100.0)[SR // 2:])) < 0.3


@needs_pyo
def test_compressor_reduces_a_loud_tone_and_passes_a_quiet_one() -> None:
    from rtgen.fx import FxRack

    cfg = {"master": [{"type": "compressor", "thresh": -20.0, "ratio": 4.0, "lookahead": 0.0}]}
    with FxRack.from_config(cfg) as rack:
        loud = rack.process(_sine(440.0, amp=0.9))
        quiet = rack.process(_sine(440.0, amp=0.02))
    red = _rms_db(loud[SR // 2:]) - _rms_db(_sine(440.0, amp=0.9)[SR // 2:])
    assert red < -6.0                                             # well above the threshold: reduced
    assert abs(_rms_db(quiet[SR // 2:]) - _rms_db(_sine(440.0, amp=0.02)[SR // 2:])) < 0.5


@needs_pyo
def test_every_effect_type_runs_and_stays_finite() -> None:
    from rtgen.fx import FxRack

    cfg = preset("hall")
    cfg["master"].append({"type": "filter", "name": "hp", "shape": "highpass", "freq": 40.0,
                          "q": 0.7071})
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, (SR // 2, 2)).astype(np.float32)
    with FxRack.from_config(cfg) as rack:
        y = rack.process(noise)
        assert rack.effect_names == ["chorus", "delay", "reverb", "compressor", "hp"]
    assert np.all(np.isfinite(y)) and 0.01 < np.abs(y).max() < 4.0
    assert not np.allclose(y, noise, atol=1e-3)


@needs_pyo
@pytest.mark.parametrize("cfg", [{"enabled": False, "master": [{"type": "reverb"}]}, {}, {"master": []}])
def test_bypass_is_the_identity(cfg: dict[str, Any]) -> None:
    from rtgen.fx import FxRack

    x = np.random.default_rng(2).uniform(-1, 1, (1000, 2)).astype(np.float32)
    with FxRack.from_config(cfg) as rack:
        assert rack.bypassed
        assert np.array_equal(rack.process(x), x)


@needs_pyo
def test_a_rack_without_effects_passes_through_pyo_unchanged() -> None:
    """A bus with an empty chain builds the pyo graph; dry + silent aux comes out bit-exact."""
    from rtgen.fx import FxRack

    x = np.random.default_rng(3).uniform(-1, 1, (1024, 2)).astype(np.float32)
    with FxRack.from_config({"buses": {"a": {"chain": [{"type": "reverb", "mix": 1.0}]}}}) as rack:
        assert not rack.bypassed
        y = rack.process(x, aux=[np.zeros_like(x)])
    np.testing.assert_allclose(y, x, atol=1e-6)


@needs_pyo
def test_live_parameter_change_applies_at_the_next_block() -> None:
    from rtgen.fx import FxRack

    x = _sine(300.0, 4096)
    with FxRack.from_config({"master": [{"type": "delay", "name": "echo", "time": 0.001, "mix": 1.0,
                                         "feedback": 0.0}]}) as rack:
        a = rack.process(x[:2048])
        rack.set("echo", "mix", 0.0)
        b = rack.process(x[2048:])
        with pytest.raises(ConfigError, match="echo.mix"):
            rack.set("echo", "mix", 1.5)
        with pytest.raises(ConfigError, match="no effect named"):
            rack.set("nope", "mix", 0.5)
    assert not np.allclose(a, x[:2048], atol=1e-3)
    np.testing.assert_allclose(b, x[2048:], atol=1e-6)


@needs_pyo
def test_render_with_fx_equals_render_then_process() -> None:
    from rtgen.fx import FxRack, render_with_fx

    cfg = {"master": [{"type": "chorus"}, {"type": "reverb", "mix": 0.4}]}
    e1 = Engine(EngineSpec(seed=4))
    e1.note_on(60, 100)
    e1.note_on(64, 100)
    got = render_with_fx(e1, 0.5, cfg)
    e2 = Engine(EngineSpec(seed=4))
    e2.note_on(60, 100)
    e2.note_on(64, 100)
    with FxRack.from_config(cfg) as rack:
        want = np.empty((94 * 256, 2), np.float32)
        for p in range(0, 94 * 256, 256):             # any block size that is a multiple of the rack's
            want[p:p + 256] = rack.process(e2.render(frames=256))
    assert got.shape == (24000, 2)
    np.testing.assert_allclose(got, np.clip(want[:24000], -1, 1), atol=1e-6)


@needs_pyo
def test_rtgen_source_inside_a_pyo_graph_plays_the_engine() -> None:
    import ctypes

    pyo = _pyo.load_pyo()
    from rtgen.fx.source import RtgenSource

    s = pyo.Server(sr=SR, nchnls=2, buffersize=256, duplex=0, audio="manual", verbosity=0)
    s.deactivateMidi()
    s.boot().start()
    try:
        eng = Engine(EngineSpec(seed=9))
        eng.note_on(60, 100)
        ref = Engine(EngineSpec(seed=9))
        ref.note_on(60, 100)
        src = RtgenSource(eng, server=s)
        src.out()
        ob = np.ctypeslib.as_array((ctypes.c_float * 512).from_address(int(s.getOutputAddr(), 16)))
        outs = []
        for _ in range(8):
            s.process()
            outs.append(ob.reshape(256, 2).copy())
        got = np.concatenate(outs)
        want = ref.render(frames=8 * 256)
        assert src.blocks == 8
        np.testing.assert_allclose(got[256:], want[256:], atol=1e-6)   # pyo fades in its first 5 ms
    finally:
        s.stop()
        s.shutdown()


# ------------------------------------------------------------------ configuration
@pytest.mark.parametrize(("cfg", "key"), [
    ({"reverbb": 1}, "fx.reverbb"),
    ({"block": 100}, "fx.block"),
    ({"block": "64"}, "fx.block"),
    ({"worker": "gpu"}, "fx.worker"),
    ({"enabled": 1}, "fx.enabled"),
    ({"latency": -3}, "fx.latency"),
    ({"master": [{"type": "flanger"}]}, "fx.master[0].type"),
    ({"master": [{"type": "reverb"}, {"type": "delay", "mix": 3}]}, "fx.master[1].mix"),
    ({"master": [{"type": "delay", "time": "long"}]}, "fx.master[0].time"),
    ({"master": [{"type": "delay", "mixx": 0.2}]}, "fx.master[0].mixx: delay has no parameter 'mixx'"),
    ({"master": [{"type": "filter", "shape": "notch"}]}, "fx.master[0].shape"),
    ({"master": [{"type": "eq", "freq": True}]}, "fx.master[0].freq"),
    ({"master": "reverb"}, "fx.master"),
    ({"master": [{"type": "reverb", "name": "a"}, {"type": "delay", "name": "a"}]}, "fx.master[1].name"),
    ({"buses": {"b": {"sends": {"drums": 0.5}}}}, "fx.buses.b.sends.drums"),
    ({"buses": {"b": {"chain": [], "send": {}}}}, "fx.buses.b.send"),
    ({"buses": {"b": {"sends": {"rules": 9.0}}}}, "fx.buses.b.sends.rules"),
])
def test_config_errors_name_the_key(cfg: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert key in str(ei.value)


def test_config_defaults_and_presets() -> None:
    v = validate({"master": [{"type": "reverb"}, {"type": "reverb", "mix": 0.1}]})
    assert [e["name"] for e in v["master"]] == ["reverb", "reverb2"]
    assert v["master"][0]["mix"] == 0.25 and v["worker"] == "process" and v["block"] == 64
    assert [e["type"] for e in preset("chorus,delay,reverb")["master"]] == ["chorus", "delay", "reverb"]
    with pytest.raises(ConfigError, match="presets"):
        preset("shimmer")


def test_toml_table_validates() -> None:
    import tomllib

    doc = tomllib.loads("""
[fx]
block = 128
[[fx.master]]
type = "compressor"
thresh = -18.0
[fx.buses.space]
sends = { rules = 0.4 }
[[fx.buses.space.chain]]
type = "reverb"
name = "hall"
mix = 1.0
""")
    v = validate(doc["fx"])
    assert v["block"] == 128 and v["buses"]["space"]["chain"][0]["name"] == "hall"
    assert v["buses"]["space"]["sends"] == {"rules": 0.4}


# ------------------------------------------------------------------ without pyo
def test_without_pyo_effects_are_bypassed_with_one_warning(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    real_import = builtins.__import__

    def no_pyo(name: str, *a: Any, **k: Any) -> Any:
        if name == "pyo" or name.startswith("pyo."):
            raise ImportError("No module named 'pyo' (simulated)")
        return real_import(name, *a, **k)

    from rtgen.fx import FxRack, FxWorker, render_with_fx

    monkeypatch.setattr(builtins, "__import__", no_pyo)
    _pyo.reset_for_tests()
    try:
        with caplog.at_level(logging.WARNING, logger="rtgen.fx"):
            rack = FxRack.from_config({"master": [{"type": "reverb"}]})
            assert rack.bypassed and "pyo is not importable" in rack.describe()
            x = np.ones((100, 2), np.float32) * 0.25
            assert np.array_equal(rack.process(x), x)
            rack.set("reverb", "mix", 0.5)              # ignored, not an error
            eng = Engine(EngineSpec(seed=1))
            for mode in ("thread", "process"):
                w = FxWorker(eng, {"master": [{"type": "delay"}]}, worker=mode).start()
                assert w.bypass_reason and eng.state.fxi[4] == 0
                w.stop()
            eng.note_on(60, 100)
            y = render_with_fx(eng, 0.1, {"master": [{"type": "chorus"}]})
            assert y.shape == (4800, 2) and np.abs(y).max() > 0
        warns = [r for r in caplog.records if "effects bypassed" in r.getMessage()]
        assert len(warns) == 1
    finally:
        monkeypatch.setattr(builtins, "__import__", real_import)
        _pyo.reset_for_tests()


# ------------------------------------------------------------------ per-layer sends (kernel hook)
def test_layer_sends_fill_the_aux_rings_and_inserts_leave_the_dry_mix() -> None:
    fxa, fxl = allocate_sends()
    rng = np.random.default_rng(0)
    layers = rng.uniform(-0.5, 0.5, (8, 200, 2))
    set_sends(fxl, 0, {0: 0.5, 2: 1.0})
    set_sends(fxl, 1, {3: 0.25}, insert=True)
    assert fxl[3, FXL_INSERT] == 1.0
    out = np.zeros((200, 2))
    t0 = FX_CAP - 50                                   # across the ring's wrap
    mix_block(layers, fxl, fxa, t0, out)
    idx = (t0 + np.arange(200)) % FX_CAP
    np.testing.assert_allclose(fxa[0, idx], 0.5 * layers[0] + layers[2], atol=1e-6)
    np.testing.assert_allclose(fxa[1, idx], 0.25 * layers[3], atol=1e-6)
    assert np.all(fxa[2:, idx] == 0)
    dry = layers.sum(0) - layers[3]
    np.testing.assert_allclose(out, dry, atol=1e-12)
    # zeroed sends: the plain mix, nothing on the buses
    fxa2, fxl2 = allocate_sends()
    mix_block(layers, fxl2, fxa2, 0, out)
    np.testing.assert_allclose(out, layers.sum(0), atol=1e-12)
    assert not fxa2.any()
