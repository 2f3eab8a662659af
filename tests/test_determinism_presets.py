"""Determinism: every shipped preset, with its generators, the neural timbre and effects, renders
the same float32 samples, bit for bit, whatever the block size that renders it.

Presets are discovered by listing them (they change); nothing is compared with a stored checksum,
only the renders of the same seed with each other. Dry renders at 1, 64, 65, 500 and 8193 frames
a block; with effects (the preset's own ``[fx]``, else the "hall" rack) at 64, 500 and 8193,
which the effects rack rounds to whole multiples of its own 64-frame block.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.backends.offline import render_array
from rtgen.cli import apply_preset, load_preset_arg
from rtgen.gen.presets import list_presets

SECONDS = 1.5
DRY_BLOCKS = (1, 64, 65, 500, 8193)
FX_BLOCKS = (64, 500, 8193)


def _engine(name: str) -> tuple[Engine, dict | None]:
    eng = Engine(EngineSpec(seed=3), timbre="neural")
    preset = load_preset_arg(name)
    apply_preset(eng, preset)
    return eng, getattr(preset, "fx", None)


@pytest.mark.parametrize("name", list_presets())
def test_preset_renders_bit_identically_at_every_block_size(name: str) -> None:
    dry = {}
    for bs in DRY_BLOCKS:
        eng, _ = _engine(name)
        assert eng.neural
        dry[bs] = render_array(eng, SECONDS, block=bs)
    ref = dry[64]
    assert ref.dtype == np.float32 and np.abs(ref).max() > 0.01, "the preset played nothing"
    for bs, a in dry.items():
        assert a.shape == ref.shape and np.array_equal(a, ref), \
            f"{name}: block {bs} differs from block 64 at {np.flatnonzero((a != ref).any(axis=1))[:5]}"


@pytest.mark.parametrize("name", list_presets())
def test_preset_with_effects_renders_bit_identically_at_every_block_size(name: str) -> None:
    from rtgen.fx import pyo_available, render_with_fx
    from rtgen.fx.config import preset as fx_preset

    if not pyo_available():
        pytest.skip("pyo is an optional extra (pip install 'rtgen[fx]')")
    wet = {}
    for bs in FX_BLOCKS:
        eng, fx = _engine(name)
        wet[bs] = render_with_fx(eng, SECONDS, fx or fx_preset("hall"), block=bs)
    ref = wet[64]
    assert ref.dtype == np.float32 and np.abs(ref).max() > 0.01
    for bs, a in wet.items():
        assert a.shape == ref.shape and np.array_equal(a, ref), \
            f"{name} with effects: block {bs} differs from block 64"
