"""Live per-voice controls (vibrato, brightness, breath), one-shot voices and per-note tuning, through
the Engine's kernel and voices, against closed forms (the model's optional f0_cents output is tested
with a real model file in test_timbre_model_errors)."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen import ConfigError, Engine, EngineSpec
from rtgen.control.midi import M_MOD, MOD_VIBRATO_CENTS, MidiEvent, MidiInput
from rtgen.rt.layout import (
    IP_ATTACK,
    IP_BRIGHT,
    IP_DECAY,
    IP_DECAY_TIME,
    IP_NOISE,
    IP_ONESHOT,
    IP_RELEASE,
    IP_SUSTAIN,
    LAYER_PLAYER,
)

SR = 48000


def _inst_freq(x: np.ndarray) -> np.ndarray:
    """Instantaneous frequency (Hz) of a near-sinusoid from its analytic signal, averaged over a
    chunk (64 samples: the engine moves a voice's pitch once per chunk)."""
    from scipy.signal import hilbert

    ph = np.unwrap(np.angle(hilbert(x)))
    return (ph[64:] - ph[:-64]) * SR / (2 * np.pi * 64)


def _sine_engine(**kw: object) -> Engine:
    """An additive engine whose instrument 0 is a plain sine (no lowpass, no noise)."""
    eng = Engine(EngineSpec(seed=1, **kw), timbre="additive")    # type: ignore[arg-type]
    ph = np.arange(eng.state.itab.shape[2]) / (eng.state.itab.shape[2] - 1)
    eng.state.itab[0, :] = np.sin(2 * np.pi * ph).astype(np.float32)
    eng.state.iparam[0, IP_BRIGHT] = 0.0
    eng.state.iparam[0, IP_NOISE] = 0.0
    eng.set_layer("player", pan=0.0)
    return eng


def test_vibrato_moves_the_pitch_by_its_depth_at_its_rate() -> None:
    eng = _sine_engine()
    eng.set_voice_controls("player", vibrato=50.0, vibrato_rate=5.0)
    eng.note_on(69, 100, instrument=0)
    x = eng.render(frames=SR)[:, 0].astype(np.float64)
    f = _inst_freq(x[SR // 10:])[2000:-2000]
    cents = 1200 * np.log2(f / 440.0)
    assert 45.0 < np.percentile(cents, 99.5) < 55.0 and -55.0 < np.percentile(cents, 0.5) < -45.0
    spec = np.abs(np.fft.rfft(cents - cents.mean(), 8 * len(cents)))
    rate = np.argmax(spec) * SR / (8 * len(cents))
    assert abs(rate - 5.0) < 0.3


def test_no_control_is_bit_identical_and_zero_vibrato_returns_to_pitch() -> None:
    a = _sine_engine()
    a.note_on(69, 100, instrument=0)
    ref = a.render(frames=SR // 2)
    b = _sine_engine()
    b.set_voice_controls("player", vibrato=0.0, brightness=0.0, breath=0.0)
    b.note_on(69, 100, instrument=0)
    assert np.array_equal(b.render(frames=SR // 2), ref)
    c = _sine_engine()
    c.note_on(69, 100, instrument=0)
    c.set_voice_controls("player", vibrato=30.0)
    c.render(frames=SR // 4)
    c.set_voice_controls("player", vibrato=0.0)
    c.render(frames=SR // 8)
    tail = c.render(frames=SR // 4)[:, 0].astype(np.float64)
    f = _inst_freq(tail)[500:-500]
    assert abs(np.median(f) - 440.0) < 0.5 and np.ptp(f) < 3.0


def test_the_mod_wheel_drives_the_vibrato_of_sounding_notes() -> None:
    eng = _sine_engine()
    midi = MidiInput(eng, api="jack", layer=LAYER_PLAYER, latency_s=0.0)    # dispatch only: no port opened
    eng.note_on(69, 100, instrument=0)
    eng.render(frames=SR // 10)
    midi.dispatch(MidiEvent(M_MOD, 0, 127, 0), 0.0)
    x = eng.render(frames=SR)[:, 0].astype(np.float64)
    cents = 1200 * np.log2(_inst_freq(x[SR // 10:])[2000:-2000] / 440.0)
    assert abs(np.percentile(cents, 99.5) - MOD_VIBRATO_CENTS) < 0.15 * MOD_VIBRATO_CENTS


def test_brightness_tilts_the_harmonics_as_its_filters_say() -> None:
    """Brightness -1: a one-pole lowpass at f0 (harmonic k falls by 1 / sqrt(1 + k^2)); +1: a shelf
    x + 4 (x - lowpass at 4 f0), whose gain at harmonic k is g(k / 4), g(r) = sqrt(1 + 25 r^2) /
    sqrt(1 + r^2), divided by g(1 / 4) so the fundamental keeps its level."""
    f0 = 220.0

    def harmonics(b: float) -> np.ndarray:
        eng = Engine(EngineSpec(seed=1), timbre="additive")
        eng.state.iparam[eng.instrument_index("trumpet"), IP_NOISE] = 0.0     # the harmonics alone
        eng.set_voice_controls("player", brightness=b)
        eng.note_on(57, 100, instrument="trumpet")
        x = eng.render(frames=SR // 2)[SR // 4:, 0].astype(np.float64)
        s = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        return np.array([s[int(round(k * f0 * len(x) / SR))] for k in (1, 12)])

    neutral, dark, bright = harmonics(0.0), harmonics(-1.0), harmonics(1.0)
    db = lambda a: 20 * np.log10(a / neutral)      # noqa: E731
    g = lambda r: np.sqrt(1 + 25 * r * r) / np.sqrt(1 + r * r)   # noqa: E731
    np.testing.assert_allclose(db(dark), [20 * np.log10(1 / np.sqrt(2)), 20 * np.log10(1 / np.sqrt(145))], atol=1.5)
    np.testing.assert_allclose(db(bright), [0.0, 20 * np.log10(g(3.0) / g(0.25))], atol=1.5)


def test_breath_scales_the_noise_by_its_decibels() -> None:
    """The noise bank is linear in each voice's noise gain and draws the same seeded noise, so
    (out(+12 dB) - out(0 dB)) / (out(0 dB) - out(-60 dB)) = (10^(12/20) - 1) / (1 - 10^(-3))."""
    def take(db: float) -> np.ndarray:
        eng = Engine(EngineSpec(seed=1), timbre="additive")
        eng.set_layer("player", gain=0.2)
        eng.set_voice_controls("player", breath=db)
        eng.note_on(72, 80, instrument="flute")
        return eng.render(frames=SR // 2).astype(np.float64)

    hi, mid, lo = take(12.0), take(0.0), take(-60.0)
    assert np.abs(mid - lo).max() > 1e-4, "the flute has breath noise"
    ratio = np.sum((hi - mid) * (mid - lo)) / np.sum((mid - lo) ** 2)
    assert ratio == pytest.approx((10 ** 0.6 - 1) / (1 - 1e-3), rel=0.02)


def test_note_controls_reach_one_note_only() -> None:
    eng = _sine_engine()
    eng.set_layer("aux1", pan=0.0)
    eng.note_on(69, 100, instrument=0, layer="player")
    eng.note_on(81, 100, instrument=0, layer="aux1")
    eng.set_note_controls(69, "player", vibrato=40.0)
    eng.set_layer("aux1", mute=True)
    x = eng.render(frames=SR)[:, 0].astype(np.float64)
    cents = 1200 * np.log2(_inst_freq(x[SR // 10:])[2000:-2000] / 440.0)
    assert np.percentile(cents, 99.5) > 35.0
    with pytest.raises(ConfigError, match="vibrato"):
        eng.set_voice_controls("player", vibrato=500.0)


def test_one_shot_voices_ignore_note_off_and_bend_and_end_on_their_own() -> None:
    eng = _sine_engine()
    ip = eng.state.iparam[0]
    ip[IP_ONESHOT], ip[IP_DECAY_TIME], ip[IP_RELEASE] = 1.0, 0.6, 0.01
    ip[IP_ATTACK], ip[IP_DECAY], ip[IP_SUSTAIN] = 0.002, 0.005, 1.0   # at once on the 60 dB / 0.6 s decay
    eng.note_on(69, 100, instrument=0)
    eng.note_off(69, time=SR // 20)                      # a short note-off: the hit rings on
    eng.pitch_bend(2.0)
    x = eng.render(frames=SR)[:, 0].astype(np.float64)
    rms = lambda a: float(np.sqrt(np.mean(a ** 2)))      # noqa: E731
    # 60 dB in 0.6 s: from 0.1 s to 0.3 s it falls 20 dB, whatever the note-off said
    assert 20 * np.log10(rms(x[int(0.1 * SR):int(0.12 * SR)]) / rms(x[int(0.3 * SR):int(0.32 * SR)])) == \
        pytest.approx(20.0, abs=1.5)
    assert abs(np.median(_inst_freq(x[SR // 10:SR // 4])) - 440.0) < 1.0   # no bend
    eng.render(frames=SR)
    assert eng.active_voices() == 0


def test_a_tuning_override_sets_the_key_frequency() -> None:
    eng = _sine_engine()
    eng.state.inote_hz[0, 60] = 300.0
    eng.note_on(60, 100, instrument=0)
    x = eng.render(frames=SR // 2)[:, 0].astype(np.float64)
    assert abs(np.median(_inst_freq(x[SR // 10:])) - 300.0) < 0.5


def test_game_and_osc_targets_drive_the_controls() -> None:
    from rtgen.game import MusicController, parse_target

    assert parse_target("layer:player.vibrato") == ("layer", "player", "vibrato")
    with pytest.raises(ConfigError, match="layer control"):
        parse_target("layer:player.wobble")
    eng = _sine_engine()
    music = MusicController(eng)
    eng.note_on(69, 100, instrument=0)
    assert music.set_target("layer:player.vibrato", 40.0)
    x = eng.render(frames=SR)[:, 0].astype(np.float64)
    cents = 1200 * np.log2(_inst_freq(x[SR // 10:])[2000:-2000] / 440.0)
    assert np.percentile(cents, 99.5) > 35.0


def test_presets_choose_the_timbre() -> None:
    from rtgen.gen.presets import parse_preset

    doc = {"generator": [{"type": "melody"}]}
    assert parse_preset(dict(doc)).timbre == "neural"
    assert parse_preset(dict(doc, timbre="additive")).timbre == "additive"
    with pytest.raises(ConfigError, match="timbre"):
        parse_preset(dict(doc, timbre="kazoo"))
