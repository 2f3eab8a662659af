"""Neural notes on reused and stolen voices start like the recording, through the engine.

Issue 12: every note on a reused voice started with a 5-20 ms burst near full scale (the
voice kept the previous note's neural flag and played its cached attack at the model's last
level). For every instrument of the shipped model, the same timed notes (a note alone, the
note again on a reused voice, fast repeats, overlapping notes) go through the Engine and
through tinysoundfont from the SoundFont the model learnt from; each onset's peak over the
instrument's body level must not stand above the recording's by more than a few dB, and no
sample-to-sample step may exceed a few times the recording's largest one.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.rt.layout import O_NOTE_ON, VF_NEURAL, VF_STATE, VS_FREE
from rtgen.timbre import load_timbre
from rtgen.timbre import onsets as ons

pytest.importorskip("tinysoundfont")

# measured (see the module doc): the largest excess of an onset over the recording's is 9 dB
# (clarinet: the model's attack is faster than the SoundFont's), the burst was 20-58 dB; the
# largest step was 2.0x the recording's (chords of strings), with the burst 15-60x
ONSET_EXCESS_DB = 15.0
JUMP_RATIO = 4.0


@pytest.fixture(scope="module")
def neural():  # type: ignore[no-untyped-def]
    tb = load_timbre("neural")
    if type(tb).__name__ != "OnnxTimbre":
        pytest.skip("the neural model did not load")
    return tb


def _instrument_take(name: str, take: ons.Take) -> tuple[ons.Take, bool]:
    if name != "drums":
        return take, False
    rows = tuple((t, ons.DRUM_KEY + (n - take.notes[0][1]), v, d) for t, n, v, d in take.notes)
    return ons.Take(rows, take.seconds, take.ref_onset), True


def _check(name: str, x: np.ndarray, r: np.ndarray, take: ons.Take) -> None:
    m, ms = ons.measure(x, take), ons.measure(r, take)
    # a burst stands above the recording's onset AND above the note's own body (the bug read +18 to
    # +34 dB over the body); a recording whose sample starts late (FluidR3's electric guitar: -32 dB
    # in its first 8 ms) makes an onset under the body read high against it without being a burst
    excess = np.where(np.array(m["onset_db"]) > 0.0, np.array(m["onset_db"]) - np.array(ms["onset_db"]), 0.0)
    worst = int(np.argmax(excess))
    assert excess[worst] <= ONSET_EXCESS_DB, (
        f"{name}: note {worst} at {take.notes[worst][0]} s starts {excess[worst]:.1f} dB above the recording's "
        f"onset (engine {m['onset_db'][worst]:.1f} dB, recording {ms['onset_db'][worst]:.1f} dB over the body)")
    assert m["jump"] <= JUMP_RATIO * ms["jump"], (
        f"{name}: a sample step of {m['jump']:.2f} x the body level, the recording's largest is {ms['jump']:.2f}")
    assert np.all(np.isfinite(x))


def test_every_instrument_starts_clean_on_reused_voices(neural) -> None:  # type: ignore[no-untyped-def]
    sf2 = ons.reference_soundfont(neural)
    eng = Engine(EngineSpec(seed=1), timbre=neural)
    assert eng.neural
    base = ons.reuse_take()
    reused = 0
    for name, prog in neural.instruments():
        take, drums = _instrument_take(name, base)
        x = ons.engine_take(eng, take, name)
        ev = eng.events()
        voices = ev[ev[:, 0] == O_NOTE_ON, 5]
        reused += len(voices) - len(np.unique(voices))
        r = ons.soundfont_take(take, prog, sf2, eng.sample_rate, drums=drums)
        _check(name, x, r, take)
    assert reused > 0, "the take must play notes on voices used before"
    st = eng.stats()
    assert st["late_frames"] == 0 and st["voice_hops"] > 0


def test_stolen_voices_start_from_their_level(neural) -> None:  # type: ignore[no-untyped-def]
    """Two voices for three overlapping notes: every new note steals a sounding neural voice."""
    sf2 = ons.reference_soundfont(neural)
    eng = Engine(EngineSpec(seed=1, voices=2), timbre=neural)
    base = ons.reuse_take()
    for name, prog in neural.instruments()[:8]:
        take, drums = _instrument_take(name, base)
        x = ons.engine_take(eng, take, name)
        r = ons.soundfont_take(take, prog, sf2, eng.sample_rate, drums=drums)
        m, ms = ons.measure(x, take), ons.measure(r, take)
        # a steal cuts the old note (the recording keeps it): bound the onsets, not the steps
        excess = np.where(np.array(m["onset_db"]) > 0.0, np.array(m["onset_db"]) - np.array(ms["onset_db"]), 0.0)
        assert excess.max() <= ONSET_EXCESS_DB, f"{name}: a stolen voice starts {excess.max():.1f} dB too loud"
    assert eng.stats()["steals"] > 0


def test_a_freed_voice_forgets_the_neural_flag(neural) -> None:  # type: ignore[no-untyped-def]
    eng = Engine(EngineSpec(seed=1, voices=1), timbre=neural)
    eng.note_on(60, 90, instrument=0)
    eng.note_off(60, time=4800)
    eng.render(frames=48000 * 4)
    assert eng.state.vf[0, VF_STATE] == VS_FREE and eng.state.vf[0, VF_NEURAL] == 0.0
    eng.note_on(60, 90, instrument=0)
    out = eng.render(frames=64)
    assert eng.state.vf[0, VF_NEURAL] == 0.0           # it plays its cached attack on the envelope
    assert np.abs(out).max() < 0.05
