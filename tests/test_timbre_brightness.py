"""The brightness lowpass: the timbre's formula (``brightness_cutoff``) and the kernel's note-on
agree at every supported sample rate, including the clamp at 0.45 x the rate (at 96 kHz it was
once clamped at 0.45 x 48 kHz on the timbre side only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.rt.layout import IP_BRIGHT, LAYER_PLAYER, VF_INC, VF_LP_COEF, VF_NOTE, VF_STATE, VS_FREE
from rtgen.timbre.base import BRIGHT_MAX_FRACTION, VoiceFeatures, brightness_cutoff, midi_to_hz


def _kernel_cutoffs(sr: int, notes: list[int], instrument: int, vel: int) -> dict[int, tuple[float, float]]:
    """{note: (the kernel's cutoff in Hz from the voice's lowpass coefficient, the voice's f0)}."""
    eng = Engine(EngineSpec(sample_rate=sr, seed=0))
    for n in notes:
        eng.note_on(n, vel, LAYER_PLAYER, instrument=instrument)
    eng.render(frames=256)
    vf = eng.state.vf
    out = {}
    for v in np.flatnonzero(vf[:, VF_STATE] != VS_FREE):
        coef = float(vf[v, VF_LP_COEF])
        out[int(vf[v, VF_NOTE])] = (-math.log(1.0 - coef) * sr / (2.0 * math.pi), float(vf[v, VF_INC]) * sr)
    return out


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_timbre_and_kernel_brightness_cutoffs_agree(sr: int) -> None:
    eng = Engine(EngineSpec(sample_rate=sr, seed=0))
    bright = float(eng.state.iparam[3, IP_BRIGHT])                  # strings: bright enough to reach the clamp
    notes = [48, 72, 96, 108, 120]
    got = _kernel_cutoffs(sr, notes, 3, 127)
    assert sorted(got) == notes
    clamped = 0
    for n in notes:
        fc_kernel, f0 = got[n]
        want = float(brightness_cutoff(bright, f0, 127, sr))
        assert fc_kernel == pytest.approx(want, rel=1e-9), (sr, n)
        clamped += want == BRIGHT_MAX_FRACTION * sr
    assert clamped >= 1                                              # the clamp itself is compared


def test_at_96k_the_cutoff_goes_above_the_48k_clamp() -> None:
    fc_kernel, f0 = _kernel_cutoffs(96000, [108], 3, 127)[108]
    assert fc_kernel > 0.45 * 48000 * 1.5                           # 30 x 4186 Hz, clamped at 43.2 kHz
    assert float(brightness_cutoff(30.0, f0, 127, 96000)) == pytest.approx(fc_kernel, rel=1e-9)


def test_additive_controls_follow_the_engine_rate() -> None:
    """The additive timbre's controls use the engine's rate: at 96 kHz a bright high note keeps
    more of its upper harmonics than the 48 kHz clamp would let through."""
    hi = {}
    for sr in (48000, 96000):
        eng = Engine(EngineSpec(sample_rate=sr, seed=0), timbre="additive")
        f0 = np.array([midi_to_hz(100)])
        feats = VoiceFeatures(f0_hz=f0, velocity=np.array([127.0]), instrument=np.array([3.0]),
                              t_on=np.array([0.05]), released=np.array([False]), t_rel=np.array([0.0]))
        c = eng.timbre.get_controls(feats)
        hi[sr] = float(c.harmonics[0, 4] / c.harmonics[0, 0])     # 5th harmonic, 13 kHz
    assert hi[96000] > hi[48000] * 1.02
