"""The real-time kernel, tested offline with the additive voice (the neural voice has tests of its own:
test_engine_neural, test_neural_onsets): block sizes, sample accuracy, voices, limiter, rings."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen import ConfigError, Engine, EngineSpec
from rtgen.rt.layout import (
    C_NOTE_ON,
    CMD_CAP,
    LAYER_PLAYER,
    LAYER_RULES,
    O_BEAT,
    O_NOTE_OFF,
    O_NOTE_ON,
    O_STEAL,
    P_LIMIT_CEIL,
    P_MASTER_GAIN,
    RING_CONTROL,
    RING_MIDI,
    S_CMD_BAD,
)


def render_blocks(eng: Engine, n: int, block: int) -> np.ndarray:
    out = np.zeros((n, 2), np.float32)
    for a in range(0, n, block):
        eng.render(out[a:a + block])
    return out


def scripted(eng: Engine) -> None:
    """A little scene with timed notes, a chord, pedal and a tempo change (all sample-stamped)."""
    for i, n in enumerate((60, 64, 67, 72, 71, 69, 65)):
        eng.note_on(n, 60 + 8 * i, layer=LAYER_PLAYER, time=1000 + 3001 * i)
        eng.note_off(n, layer=LAYER_PLAYER, time=1000 + 3001 * i + 2500)
    eng.command(C_NOTE_ON, 48, 110, LAYER_RULES, 3, -1, -0.5, time=777)
    eng.set_tempo(140, time=9000)


@pytest.mark.parametrize("block", [1, 64, 65, 128, 8193])
def test_any_block_size_gives_the_same_samples(block: int) -> None:
    n = 24000
    ref_eng = Engine(EngineSpec(seed=5), timbre="additive")
    scripted(ref_eng)
    ref = render_blocks(ref_eng, n, 256)
    eng = Engine(EngineSpec(seed=5), timbre="additive")
    scripted(eng)
    out = render_blocks(eng, n, block)
    assert np.array_equal(out, ref), f"block size {block} changed the audio"
    assert np.abs(ref).max() > 0.05


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
@pytest.mark.parametrize("t_on", [0, 1, 63, 64, 65, 1000, 4097])
def test_note_starts_on_its_exact_sample(sr: int, t_on: int) -> None:
    eng = Engine(EngineSpec(sample_rate=sr, seed=1), timbre="additive")
    eng.note_on(69, 100, time=t_on)
    out = render_blocks(eng, 6000, 100)
    nz = np.flatnonzero(np.abs(out[:, 0]) > 0)
    # the wavetable starts at phase 0 (a sum of sines is 0 there): first non-zero is t_on + 1
    assert nz[0] == t_on + 1
    ev = eng.events()
    on = ev[ev[:, 0] == O_NOTE_ON]
    assert on.shape[0] == 1 and on[0, 1] == t_on


def test_beats_land_on_exact_samples_and_tempo_changes_on_the_chunk_grid() -> None:
    eng = Engine(EngineSpec(sample_rate=48000, bpm=120.0), timbre="additive")
    render_blocks(eng, 48000 * 3, 333)
    beats = eng.events()
    beats = beats[beats[:, 0] == O_BEAT]
    # 120 bpm at 48 kHz: a beat every 24000 samples
    assert list(beats[:, 1]) == [0, 24000, 48000, 72000, 96000, 120000]
    assert list(beats[:, 2]) == [0, 1, 2, 3, 4, 5]
    assert list(beats[:, 4]) == [0, 1, 2, 3, 0, 1]     # beat in bar, 4/4


def test_voice_stealing_takes_released_voices_first_then_the_quietest() -> None:
    eng = Engine(EngineSpec(voices=8, seed=0), timbre="additive")
    for i in range(8):
        eng.note_on(50 + i, 20 + 10 * i, time=10 * i)
    eng.note_off(55, time=200)                 # released: must be the first stolen
    eng.note_on(80, 100, time=400)
    eng.note_on(81, 100, time=500)             # no released voice left: the quietest (vel 20, note 50)
    render_blocks(eng, 2000, 128)
    ev = eng.events()
    steals = ev[ev[:, 0] == O_STEAL]
    assert list(steals[:, 2]) == [55.0, 50.0]
    assert eng.stats()["steals"] == 2


def test_sustain_pedal_holds_released_notes_until_it_is_lifted() -> None:
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    eng.sustain(True)
    eng.note_on(60, 100)
    eng.note_off(60, time=1000)
    render_blocks(eng, 48000, 512)
    assert eng.active_voices() == 1
    ev = eng.events()
    assert not np.any(ev[:, 0] == O_NOTE_OFF)
    eng.sustain(False)
    render_blocks(eng, 48000 * 2, 512)
    assert eng.active_voices() == 0
    assert np.any(eng.events()[:, 0] == O_NOTE_OFF)


def test_output_never_exceeds_full_scale_or_holds_nan() -> None:
    eng = Engine(EngineSpec(voices=64, seed=2), timbre="additive")
    eng.set_param(P_MASTER_GAIN, 50.0)         # drive the limiter hard
    for i in range(64):
        eng.note_on(24 + i, 127, layer=i % 5)
    out = render_blocks(eng, 48000, 64)
    assert np.all(np.isfinite(out))
    assert np.abs(out).max() <= eng.state.p[P_LIMIT_CEIL] + 1e-6
    assert np.abs(out).max() > 0.5


def test_non_finite_commands_are_rejected_and_counted() -> None:
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    eng.command(C_NOTE_ON, float("nan"), 100, LAYER_PLAYER)
    eng.command(C_NOTE_ON, 60, float("inf"), LAYER_PLAYER)
    eng.command(999, 1, 2, 3)
    out = render_blocks(eng, 4800, 128)
    assert eng.state.st[S_CMD_BAD] == 3
    assert np.all(np.isfinite(out)) and np.abs(out).max() == 0.0


def test_a_full_ring_drops_and_counts_and_never_blocks() -> None:
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    ok = [eng.note_on(60, 1, ring=RING_MIDI) for _ in range(CMD_CAP + 100)]
    assert ok.count(False) == 100
    assert eng.stats()["commands_dropped"] == 100
    render_blocks(eng, 128, 128)                  # the engine drains the ring
    assert eng.note_on(60, 1, ring=RING_MIDI)


def test_mute_and_gain_of_a_layer() -> None:
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    eng.set_layer("player", mute=True)
    eng.note_on(60, 100)
    out = render_blocks(eng, 9600, 128)
    assert np.abs(out[4800:]).max() < 1e-4      # smoothed to silence within 100 ms
    eng.set_layer("player", mute=False, gain=0.5)
    out = render_blocks(eng, 9600, 128)
    assert np.abs(out[4800:]).max() > 0.01


def test_panic_silences_at_once_and_forgets_pending_notes() -> None:
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    for n in range(60, 72):
        eng.note_on(n, 100)
    eng.note_on(40, 100, time=20000)
    render_blocks(eng, 4800, 128)
    eng.panic()
    out = render_blocks(eng, 48000, 128)
    assert eng.active_voices() == 0
    assert np.abs(out[256:]).max() == 0.0


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        EngineSpec(sample_rate=22050)
    with pytest.raises(ConfigError):
        EngineSpec(block_size=0)
    with pytest.raises(ConfigError):
        EngineSpec(block_size=8193)
    with pytest.raises(ValueError):          # ConfigError is a ValueError too
        EngineSpec(voices=0)
    eng = Engine(EngineSpec(), timbre="additive")
    with pytest.raises(ConfigError):
        eng.render(np.zeros((64, 2), np.float64))
    with pytest.raises(ConfigError):
        eng.set_layer("nope", gain=1)
    with pytest.raises(ConfigError):
        eng.set_tempo(1000)


def test_a_generator_never_leaves_a_note_sounding_when_removed() -> None:
    from rtgen.cli import _add_default_generators

    eng = Engine(EngineSpec(seed=0), timbre="additive")
    _add_default_generators(eng)
    render_blocks(eng, 48000, 256)
    assert eng.stats()["notes"] > 0
    eng.events()
    eng.remove_generator(0)
    render_blocks(eng, 48000 * 2, 256)
    assert eng.active_voices() == 0
    assert eng.events()[:, 0].tolist().count(O_NOTE_ON) == 0


def test_ring_is_single_producer_per_thread_and_lossless_under_threads() -> None:
    import threading

    eng = Engine(EngineSpec(seed=0), timbre="additive")
    eng.set_layer("player", mute=True)
    sent = {"n": 0}

    def producer() -> None:
        for i in range(2000):
            while not eng.note_on(60 + i % 12, 10, ring=RING_CONTROL):
                pass
            sent["n"] += 1
            eng.note_off(60 + i % 12, ring=RING_MIDI)

    t = threading.Thread(target=producer)
    t.start()
    out = np.zeros((64, 2), np.float32)
    notes = 0
    while t.is_alive() or eng.state.cmd_idx[RING_CONTROL, 0] > eng.state.cmd_idx[RING_CONTROL, 8]:
        eng.render(out)
        notes = eng.stats()["notes"]
    t.join()
    eng.render(out)
    assert eng.stats()["notes"] == 2000 == sent["n"]
    assert notes <= 2000


def test_next_beat_and_bar_boundaries_are_exact_samples() -> None:
    eng = Engine(EngineSpec(sample_rate=48000, bpm=120.0), timbre="additive")    # 24000 samples a beat, 4/4
    render_blocks(eng, 30000, 100)
    assert eng.next_boundary("beat") == 48000
    assert eng.next_boundary("bar") == 96000
    t = eng.next_boundary("bar")
    eng.note_on(72, 100, time=t)
    render_blocks(eng, 100000, 100)
    on = eng.events()
    on = on[on[:, 0] == O_NOTE_ON]
    assert on[0, 1] == 96000


def test_beat_clock_is_right_on_a_chunk_boundary_before_the_chunk_begins() -> None:
    eng = Engine(EngineSpec(sample_rate=48000, bpm=110.0), timbre="additive")
    render_blocks(eng, 64 * 700, 64)              # the counter sits exactly on a chunk boundary
    t = eng.next_boundary("beat")
    eng.note_on(72, 100, time=t)
    render_blocks(eng, 48000, 64)
    ev = eng.events()
    beats = ev[ev[:, 0] == O_BEAT]
    on = ev[ev[:, 0] == O_NOTE_ON]
    assert on[0, 1] == t
    assert t in set(beats[:, 1].tolist()), "the note must land on the beat the engine plays"


@pytest.mark.parametrize("note", [21.0, 69.0, 69.37, 108.0])
def test_a_sine_table_plays_the_closed_form_sine(note: float) -> None:
    """The oscillator against sin(2 pi f n / sr): the 32-bit fixed-point phase advances by
    round(f / sr * 2**32) per sample, exactly, and linear interpolation of a 1024-point
    table is within (2 pi / 1024)**2 / 8 = 4.7e-6 of the sine."""
    from rtgen.rt.layout import IP_GAIN, IP_SUSTAIN, TS

    sr, t_on, n = 48000, 100, 96000
    eng = Engine(EngineSpec(sample_rate=sr, seed=3), timbre="additive")
    ph = np.arange(TS + 1) / TS
    eng.state.itab[0, :] = np.sin(2 * np.pi * ph).astype(np.float32)
    ip = eng.state.iparam[0]
    ip[:] = 0.0                    # instant attack, no decay, no noise, no brightness filter
    ip[IP_SUSTAIN] = ip[IP_GAIN] = 1.0
    eng.note_on(note, 100, layer=LAYER_PLAYER, instrument=0, time=t_on)
    out = render_blocks(eng, n, 97)[:, 0].astype(np.float64)
    f = 440.0 * 2 ** ((note - 69) / 12)
    inc = round(f / sr * 2**32)
    assert abs(inc / 2**32 * sr - f) < 1.2e-5            # the fixed point's frequency error, in Hz
    k = np.arange(n) - t_on
    ref = np.where(k >= 0, np.sin(2 * np.pi * ((k * inc) % 2**32) / 2**32), 0.0)
    seg = slice(t_on + sr // 10, n)                    # after the layer gain has settled
    a = out[seg] @ ref[seg] / (ref[seg] @ ref[seg])
    assert a > 0.01
    assert np.abs(out[seg] - a * ref[seg]).max() < 5e-6 * a + 2e-7
    assert np.all(out[:t_on] == 0.0)
