"""The Timbre contract, checked on both built-in timbres (additive fallback and the ONNX model)."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen.rt.layout import IP_GAIN, IP_NOISE_BAND, IP_RELEASE, N_HARM, N_INSTR, N_NOISE_BANDS, NIP, TS
from rtgen.timbre import AdditiveTimbre, Timbre, VoiceFeatures, list_instruments, load_timbre
from rtgen.timbre.base import (
    BEND_HEADROOM_SEMITONES,
    INSTRUMENTS,
    controls_to_tables,
    engine_plays_note_hz,
    midi_to_hz,
)
from rtgen.timbre.onnx import OnnxTimbre

_CACHE: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


def _timbre(kind: str) -> Timbre:
    return AdditiveTimbre() if kind == "additive" else OnnxTimbre()


def _tables(kind: str, sr: int) -> tuple[np.ndarray, np.ndarray]:
    key = (kind, sr)
    if key not in _CACHE:
        itab = np.full((N_INSTR, 128, TS + 1), np.nan, np.float32)
        iparam = np.full((N_INSTR, NIP), np.nan)
        _timbre(kind).fill_tables(itab, iparam, sr)
        _CACHE[key] = (itab, iparam)
    return _CACHE[key]


KINDS = ["additive", "neural"]


@pytest.mark.parametrize("kind", KINDS)
def test_instruments(kind: str) -> None:
    insts = _timbre(kind).instruments()
    assert len(insts) >= 6
    assert insts == list(INSTRUMENTS)
    assert all(isinstance(n, str) and 0 <= p <= 128 for n, p in insts)      # 128: the GM drum kit


@pytest.mark.parametrize("kind", KINDS)
def test_tables_shape_finite_guard_peak(kind: str) -> None:
    itab, iparam = _tables(kind, 48000)
    assert itab.dtype == np.float32 and itab.shape == (N_INSTR, 128, TS + 1)
    assert np.isfinite(itab).all() and np.isfinite(iparam).all()
    np.testing.assert_array_equal(itab[..., TS], itab[..., 0])
    peaks = np.abs(itab).max(axis=-1)
    assert np.all(peaks <= 1.0 + 1e-6)
    # every (instrument, note) that can sound below Nyquist is a real waveform
    assert np.all(peaks[:, :115] > 0.5)
    assert np.all(iparam[:, IP_GAIN] > 0) and np.all(iparam[:, IP_RELEASE] > 0)
    assert np.all(iparam[:, IP_NOISE_BAND:IP_NOISE_BAND + N_NOISE_BANDS] >= 0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sr", [48000, 22050])
def test_tables_band_limited(kind: str, sr: int) -> None:
    """No energy in any table at harmonics at or above Nyquist for the note (with bend headroom)."""
    itab, _ = _tables(kind, sr)
    spec = np.abs(np.fft.rfft(itab[..., :TS].astype(np.float64), axis=-1))     # bin k = harmonic k
    # each (instrument, key) sounds at the timbre's inote_hz (0: equal temperament from the key)
    hz = _timbre(kind).note_frequencies(N_INSTR) if engine_plays_note_hz() else np.zeros((N_INSTR, 128))
    f0 = np.where(hz > 0, hz, midi_to_hz(np.arange(128))[None, :]) * 2.0 ** (BEND_HEADROOM_SEMITONES / 12.0)
    k = np.arange(spec.shape[-1])
    above = k[None, None, :] * f0[:, :, None] >= sr / 2                        # [N_INSTR, 128, bins]
    worst = (spec * above).max()
    assert worst < 1e-3 * spec.max(), f"energy above Nyquist: {worst}"


@pytest.mark.parametrize("kind", KINDS)
def test_get_controls_shapes_and_nyquist(kind: str) -> None:
    tb = _timbre(kind)
    v = 6
    pitches = np.array([36.0, 50.0, 69.0, 90.0, 110.0, 126.0])
    feats = VoiceFeatures(f0_hz=midi_to_hz(pitches), velocity=np.full(v, 90.0),
                          t_on=np.linspace(0.01, 1.0, v),
                          released=np.array([0, 0, 0, 1, 1, 0.0]), t_rel=np.array([0, 0, 0, 0.1, 0.2, 0]),
                          instrument=np.arange(v) % len(tb.instruments()) * 1.0)
    state = None
    for _ in range(3):
        c = tb.get_controls(feats, state)
        state = c.state
    assert c.amplitude.shape == (v,) and c.harmonics.shape == (v, N_HARM)
    assert c.noise.shape == (v, N_NOISE_BANDS)
    assert c.state.shape == (v, tb.state_size)
    for arr in (c.amplitude, c.harmonics, c.noise):
        assert np.isfinite(arr).all() and (arr >= 0).all()
    np.testing.assert_allclose(c.harmonics.sum(-1), c.amplitude, rtol=1e-6, atol=1e-9)
    k = np.arange(1, N_HARM + 1)
    above = midi_to_hz(pitches)[:, None] * k[None, :] >= tb.sample_rate / 2
    assert np.all(c.harmonics[above] == 0.0)
    tabs, gain = controls_to_tables(c.harmonics)
    assert tabs.shape == (v, TS + 1) and np.isfinite(tabs).all() and (gain >= 0).all()


def test_neural_morph_interpolates_embeddings() -> None:
    tb = OnnxTimbre()
    e0 = tb.embeddings(np.array([0.0]))
    e1 = tb.embeddings(np.array([1.0]))
    half = tb.embeddings(np.array([0.5]))
    np.testing.assert_allclose(half, 0.5 * (e0 + e1), atol=1e-6)
    m = tb.embeddings(np.array([0.0]), morph_to=np.array([3.0]), morph=np.array([0.25]))
    np.testing.assert_allclose(m, 0.75 * e0 + 0.25 * tb.embeddings(np.array([3.0])), atol=1e-6)


def test_list_and_load() -> None:
    li = list_instruments()
    assert li[0] == (0, INSTRUMENTS[0][0], INSTRUMENTS[0][1])
    assert isinstance(load_timbre("additive"), AdditiveTimbre)
    assert isinstance(load_timbre("neural"), OnnxTimbre)
    assert AdditiveTimbre().instrument_index("flute") == [n for n, _ in INSTRUMENTS].index("flute")
    assert AdditiveTimbre().instrument_index(56) == [p for _, p in INSTRUMENTS].index(56)
