"""Fuzzing .onnx files: random bytes and corrupted copies of the real model.

Each load is either a ModelError naming the file (and ``load_timbre`` falls back to the
additive timbre with a warning), or a model that runs; nothing else escapes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtgen.errors import ModelError
from rtgen.timbre import load_timbre
from rtgen.timbre.onnx import DEFAULT_MODEL, OnnxTimbre

MODEL = Path(DEFAULT_MODEL).read_bytes()
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _check(path: Path) -> None:
    try:
        t = OnnxTimbre(str(path))
    except ModelError as e:
        assert str(path) in str(e)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert load_timbre("neural", str(path)).name == "additive"
        return
    itab = np.zeros((16, 128, 1025), np.float32)
    iparam = np.zeros((16, 24))
    try:
        t.fill_tables(itab, iparam, 48000.0)
    except ModelError as e:
        assert str(path) in str(e)
        return
    assert np.all(np.isfinite(itab)) and np.all(np.isfinite(iparam)), "a damaged model was accepted"


def test_a_model_with_nan_weights_is_refused_and_the_engine_falls_back(tmp_path: Path) -> None:
    from rtgen import Engine, EngineSpec

    b = bytearray(MODEL)
    b[len(b) // 2: len(b) // 2 + 4000] = b"\xff" * 4000     # NaN floats in the middle of the weights
    p = tmp_path / "nan.onnx"
    p.write_bytes(bytes(b))
    with pytest.raises(ModelError, match="not finite"):
        OnnxTimbre(str(p))
    with pytest.warns(RuntimeWarning):
        eng = Engine(EngineSpec(), timbre=load_timbre("neural", str(p)))
    assert not eng.neural
    eng.note_on(60, 100)
    assert np.abs(eng.render(frames=4800)).max() > 0.01


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_are_model_errors(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "random.onnx"
    p.write_bytes(data)
    with pytest.raises(ModelError, match="random.onnx"):
        OnnxTimbre(str(p))


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(MODEL) - 1), st.integers(0, 255)), min_size=1, max_size=20),
       st.integers(min_value=16, max_value=len(MODEL)))
def test_corrupted_models_load_cleanly_or_are_model_errors(tmp_path: Path, flips: list, cut: int) -> None:
    b = bytearray(MODEL[:cut])
    for pos, val in flips:
        if pos < len(b):
            b[pos] = val
    p = tmp_path / "corrupt.onnx"
    p.write_bytes(bytes(b))
    _check(p)
