"""Rule-based generators: kernel == reference, determinism, clock and harmony following."""

from __future__ import annotations

import numpy as np
import pytest
from gen_harness import make_slot, run_kernel, run_reference

from rtgen.errors import ConfigError
from rtgen.gen import reference as R
from rtgen.gen import rules as RU
from rtgen.gen import theory as T
from rtgen.gen.dispatch import gen_process
from rtgen.gen.grammar import GrammarSeq, LSystem
from rtgen.rt.harmony import make_harmony
from rtgen.rt.layout import (
    CHUNK,
    EV_CAP,
    EV_DUR,
    EV_NOTE,
    EV_TAG,
    EV_TIME,
    EVW,
    GI_DROPPED,
    H_CHORD,
    H_CHORD_LEN,
    H_CHORD_ROOT,
)

SEQS = {
    "euclid": lambda: RU.Euclid(tracks=[{"pulses": 5, "steps": 8, "degree": 0},
                                        {"pulses": 3, "steps": 8, "note": 40, "rotation": 2, "accent": 0.7},
                                        {"pulses": 7, "steps": 16, "degree": 4}], density=0.8, humanize=0.3),
    "chorale": lambda: RU.Chorale("I vi ii7 V7 I IV V I", key="C", humanize=0.2),
    "chorale_minor": lambda: RU.Chorale("i iv V i VI iio6 V7 i", key="a", beats_per_chord=1,
                                        steps_per_beat=2),
    "melody": lambda: RU.RuleMelody(low=-5, high=10, density=0.9, humanize=0.2),
    "dice": lambda: RU.DiceGame(humanize=0.1),
    "serial": lambda: RU.ModeOfValues(divisions=3, density=0.9),
}


@pytest.mark.parametrize("name", sorted(SEQS))
@pytest.mark.parametrize("bpm,swing,seed", [(120, 0.0, 1), (97.3, 0.33, 42)])
def test_kernel_equals_reference(name, bpm, swing, seed):
    seq = SEQS[name]()
    h1, h2 = make_harmony(2, T.SCALES["dorian"]), make_harmony(2, T.SCALES["dorian"])
    a = run_kernel(seq, 3000, seed=seed, bpm=bpm, swing=swing, harm=h1, slot=3)
    b = run_reference(seq, 3000, seed=seed, bpm=bpm, swing=swing, harm=h2, slot=3)
    assert len(a) > 5
    assert a.shape == b.shape and np.array_equal(a, b)
    assert np.array_equal(h1, h2)           # the chorale drives the harmony identically


def test_same_seed_same_events_other_seed_other_events():
    seq = RU.RuleMelody()
    a, b, c = run_kernel(seq, 2000, seed=5), run_kernel(seq, 2000, seed=5), run_kernel(seq, 2000, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a[:, EV_NOTE], c[:, EV_NOTE])


def test_euclid_onsets_on_the_grid():
    seq = RU.Euclid(tracks=[{"pulses": 3, "steps": 8, "note": 36}], steps_per_beat=4)
    ev = run_kernel(seq, 1500)     # 2 s = 4 beats = 16 steps at 120 bpm
    step = 48000 * 60 // 120 // 4
    assert [int(t) // step for t in ev[:, EV_TIME]] == [0, 3, 6, 8, 11, 14]
    rot = RU.Euclid(tracks=[{"pulses": 3, "steps": 8, "note": 36, "rotation": 3}], steps_per_beat=4)
    ev = run_kernel(rot, 1500)
    assert [int(t) // step for t in ev[:, EV_TIME]] == [0, 3, 5, 8, 11, 13]


def test_swing_delays_odd_steps():
    seq = RU.Euclid(tracks=[{"pulses": 8, "steps": 8, "note": 60}], steps_per_beat=2)
    ev = run_kernel(seq, 800, swing=1 / 3)
    t = ev[:4, EV_TIME].astype(int)
    assert list(t) == [0, 16000, 24000, 40000]      # eighths swung to a triplet feel


def test_tempo_change_between_chunks_keeps_the_grid():
    seq = RU.Euclid(tracks=[{"pulses": 4, "steps": 4, "note": 60}], steps_per_beat=1)

    def ctl(c, gi, gf, gbuf, p, h):
        if c == 400:
            p[1] = 60.0          # P_BPM: half tempo from here on

    ev = run_kernel(seq, 2000, on_chunk=ctl)
    # 120 bpm up to sample 25600 (beat 1.0667), then 48000 samples per beat: beat 2 at 70400
    beats = [0, 24000, 70400]
    assert list(ev[:3, EV_TIME].astype(int)) == beats
    assert np.all(np.diff(ev[2:, EV_TIME]) == 48000)


def test_chorale_voicings_played_and_harmony_driven():
    seq = RU.Chorale("I IV V7 I", key="C", beats_per_chord=1, steps_per_beat=1)
    assert T.check_chorale(seq.voicings, seq.chords, 0) == []
    h = make_harmony(0)
    ev = run_kernel(seq, 1500, harm=h)     # 4 beats
    chords = [sorted(int(n) for n in ev[ev[:, EV_TAG] == c, EV_NOTE]) for c in range(4)]
    assert chords == [sorted(v) for v in seq.voicings]
    assert h[H_CHORD_ROOT] == 0 and list(h[H_CHORD:H_CHORD + int(h[H_CHORD_LEN])]) == [0, 4, 7]
    # in another key the same voicings are transposed to the engine's tonic
    ev = run_kernel(seq, 300, harm=make_harmony(2))
    assert sorted(int(n) for n in ev[:, EV_NOTE]) == sorted(x + 2 for x in seq.voicings[0])


def test_chorale_bad_progression():
    with pytest.raises(ConfigError):
        RU.Chorale("I Q V")


def test_dice_game_uses_the_table():
    seq = RU.DiceGame()
    gi, gf, gbuf = make_slot(seq, seed=11)
    assert list(gbuf[:16]) == list(T.DICE_TABLE[0]) and list(gbuf[160:176]) == list(T.DICE_TABLE[10])
    ev = run_kernel(seq, 24000, seed=11, slot_arrays=(gi, gf, gbuf))     # 32 s at 120 bpm, 3 steps a bar
    run = run_reference(seq, 24000, seed=11)
    assert np.array_equal(ev, run)
    # measure of every bar = table[sum - 2][bar % 16] with the reference's dice
    bars = ev[:, EV_TIME].astype(int) // 36000
    per_bar = {}
    for b, m in zip(bars, ev[:, EV_TAG].astype(int), strict=True):
        per_bar.setdefault(b, m)
    ref_sums = []
    rng = R.Rng(R.seed_state(11, 1))
    for _ in per_bar:
        ref_sums.append(rng.randint(6) + rng.randint(6) + 2)
    assert [per_bar[b] for b in sorted(per_bar)] == [T.dice_measure(b % 16, s) for b, s in
                                                     zip(sorted(per_bar), ref_sums, strict=True)]


def test_mode_of_values_keeps_associations():
    seq = RU.ModeOfValues(gate=1.0)
    ev = run_kernel(seq, 6000, harm=make_harmony(0))
    seen: dict[int, set] = {}
    for row in ev:
        seen.setdefault(int(row[EV_NOTE]), set()).add((row[EV_DUR], row[2]))
    assert len(seen) > 10
    assert all(len(v) == 1 for v in seen.values())     # each pitch: always the same duration and dynamic


def test_event_buffer_full_counts_drops():
    seq = RU.Chorale("I IV V I", beats_per_chord=1, steps_per_beat=1)
    gi, gf, gbuf = make_slot(seq)
    from gen_harness import make_p
    p = make_p()
    ev = np.zeros((EV_CAP, EVW))
    nev = gen_process(int(gi[0]), gi, gf, gbuf, p, make_harmony(), 0, CHUNK, ev, EV_CAP - 2)
    assert nev == EV_CAP and gi[GI_DROPPED] == 2


def test_all_kernels_survive_odd_slots():
    """Garbage in a slot's words (a bad live write) must not crash or escape the chunk."""
    rng = np.random.default_rng(0)
    seqs = [f() for f in SEQS.values()] + [GrammarSeq("S -> C D Half"), LSystem()]
    for seq in seqs:
        gi, gf, gbuf = make_slot(seq)
        gi[16 + 8] = int(rng.integers(-5, 5))
        run_kernel(seq, 50, slot_arrays=(gi, gf, gbuf))


def test_fast_no_step_check_agrees_with_the_clock():
    from gen_harness import make_p

    from rtgen.gen.kutil import no_step_in_chunk
    from rtgen.rt.clock import first_step_at_or_after, step_sample
    from rtgen.rt.layout import P_BEAT

    rng = np.random.default_rng(4)
    for _ in range(3000):
        p = make_p(bpm=float(rng.uniform(20, 400)), swing=float(rng.choice([0.0, 0.2, 1 / 3, 0.75])))
        r = int(rng.integers(1, 17))
        t0 = int(rng.integers(0, 10**7)) // CHUNK * CHUNK
        p[P_BEAT] = t0 / (48000 * 60 / p[1]) + float(rng.uniform(-2, 2))
        k = int(np.floor(p[P_BEAT] * r)) + int(rng.integers(-3, 4))
        k0 = first_step_at_or_after(p, t0, k, r)
        none = step_sample(p, t0, k0, r) >= t0 + CHUNK
        if no_step_in_chunk(p, t0, CHUNK, k, r):
            assert none and k0 == k


@pytest.mark.parametrize("make", [
    lambda: GrammarSeq("S -> C D E Quarter", steps_per_beat=4),
    lambda: LSystem(steps_per_beat=4),
    lambda: RU.ModeOfValues(steps_per_beat=8),
    lambda: RU.Euclid(tracks=[{"pulses": 4, "steps": 4, "note": 60}], steps_per_beat=4),
])
def test_live_steps_per_beat_change_neither_stalls_nor_rushes(make):
    from rtgen.rt.layout import GI_STEPS_PER_BEAT

    seq = make()

    def ctl(c, gi, gf, gbuf, p, h):
        if c == 3000:                        # at 4 s (beat 8): a coarser grid
            gi[GI_STEPS_PER_BEAT] = 1

    ev = run_kernel(seq, 6000, on_chunk=ctl)
    after = np.unique(ev[ev[:, EV_TIME] >= 3000 * CHUNK, EV_TIME])     # voices may coincide
    assert len(after) >= 2 and after[0] - 3000 * CHUNK <= 2 * 24000 + 64   # plays again within 2 beats
    assert np.all(np.diff(after) >= 24000 - 1)                            # and on the new (beat) grid
