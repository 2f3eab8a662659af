"""Music theory: scales, Roman numerals, SATB voice leading, Euclidean rhythms, the dice table."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen.errors import ConfigError
from rtgen.gen import theory as T
from rtgen.gen.rules import roll_two_dice
from rtgen.rt.layout import GEN_NI, GI_RNG
from rtgen.rt.rng import seed_state


def test_scales_and_messiaen_modes():
    assert T.SCALES["dorian"] == (0, 2, 3, 5, 7, 9, 10)
    assert T.SCALES["harmonic_minor"] == (0, 2, 3, 5, 7, 8, 11)
    assert T.SCALES["melodic_minor"] == (0, 2, 3, 5, 7, 9, 11)
    assert len(T.SCALES["major_pentatonic"]) == 5
    # "limited transposition": Messiaen's modes have 2, 3, 4, 6, 6, 6, 6 distinct transpositions
    assert [T.transpositions(T.MESSIAEN_MODES[i]) for i in range(1, 8)] == [2, 3, 4, 6, 6, 6, 6]
    assert [len(T.MESSIAEN_MODES[i]) for i in range(1, 8)] == [6, 8, 9, 8, 6, 8, 10]
    for name in ("major", "lydian", "harmonic_minor", "major_pentatonic"):
        assert T.transpositions(T.SCALES[name]) == 12
    with pytest.raises(ConfigError):
        T.scale_by_name("nonesuch")


def test_pitch_and_key_names():
    assert T.pitch_class("F#") == 6 and T.pitch_class("Bb") == 10 and T.pitch_class("eb") == 3
    assert T.parse_key("a") == (9, True)
    assert T.parse_key("F# minor") == (6, True)
    assert T.parse_key("Eb major") == (3, False)
    for bad in ("H", "C$", "", "C dorian x"):
        with pytest.raises(ConfigError):
            T.parse_key(bad)


def test_roman_numerals_major():
    ch = T.parse_progression("I vi ii7 V7")
    assert [c.pcs for c in ch] == [(0, 4, 7), (9, 0, 4), (2, 5, 9, 0), (7, 11, 2, 5)]
    assert ch[3].dominant and not ch[0].dominant
    assert T.parse_numeral("IVmaj7").pcs == (5, 9, 0, 4)
    assert T.parse_numeral("I6").bass_pc == 4
    assert T.parse_numeral("I64").bass_pc == 7
    assert T.parse_numeral("V65").bass_pc == 11
    assert T.parse_numeral("V42").bass_pc == 5
    assert T.parse_numeral("viio7").pcs == (11, 2, 5, 8)
    assert T.parse_numeral("V7/V").pcs == (2, 6, 9, 0)
    assert T.parse_numeral("bVI").pcs == (8, 0, 3)


def test_roman_numerals_minor():
    ch = T.parse_progression("i iv V i", minor=True)
    assert [c.pcs for c in ch] == [(0, 3, 7), (5, 8, 0), (7, 11, 2), (0, 3, 7)]
    assert T.parse_numeral("viio", minor=True).root == 11   # leading tone
    assert T.parse_numeral("VII", minor=True).root == 10    # subtonic
    assert T.parse_numeral("V7", minor=True).pcs == (7, 11, 2, 5)
    for bad in ("X", "Iz", "V8", ""):
        with pytest.raises(ConfigError):
            T.parse_progression(bad)


@pytest.mark.parametrize("prog,key", [
    ("I vi ii7 V7 I", "C"),
    ("I IV V I6 ii65 V7 I", "D"),
    ("i iv V i", "a"),
    ("i iio6 V7 i VI iv V i", "e"),
    ("I vi IV ii7 V7 I IV V I6 ii65 V7 I", "Bb"),
    ("I V7/V V I", "G"),
])
def test_chorale_voicing_obeys_the_rules(prog, key):
    tonic, minor = T.parse_key(key)
    chords = T.parse_progression(prog, minor)
    v = T.voice_chorale(chords, tonic)
    assert len(v) == len(chords)
    assert T.check_chorale(v, chords, tonic) == []


def test_checker_catches_known_bad_voice_leading():
    chords = T.parse_progression("I V")
    # C major to G major with S/B both moving up a fifth apart: parallel fifths and octaves
    bad = [(67, 64, 60, 48), (74, 71, 67, 55)]
    errs = T.check_chorale(bad, chords, 0)
    assert any("parallel fifths" in e for e in errs)
    assert any("parallel octaves" in e for e in errs)
    # leading tone (B in the soprano) falling to G in V -> I
    ch2 = T.parse_progression("V I")
    errs = T.check_chorale([(71, 67, 62, 43), (67, 64, 60, 48)], ch2, 0)
    assert any("leading tone" in e for e in errs)
    # crossing, range and wrong bass
    errs = T.check_chorale([(60, 64, 55, 48)], T.parse_progression("I"), 0)
    assert any("crossing" in e for e in errs)
    errs = T.check_chorale([(84, 76, 67, 48)], T.parse_progression("I"), 0)
    assert any("out of range" in e for e in errs)
    errs = T.check_chorale([(72, 67, 60, 52)], T.parse_progression("I"), 0)
    assert any("bass" in e for e in errs)
    # a good progression stays clean
    assert T.check_chorale([(72, 67, 64, 48), (71, 67, 62, 43)], chords, 0) == []


def _rot_equal(a: list[int], b: list[int]) -> bool:
    return len(a) == len(b) and any(a[r:] + a[:r] == b for r in range(len(a)))


def _pat(s: str) -> list[int]:
    return [1 if c == "x" else 0 for c in s.split()]


# Toussaint (2005), section 4: E(k, n) as he writes them.
TOUSSAINT = {
    (2, 5): "x . x . .", (3, 4): "x . x x", (3, 5): "x . x . x", (3, 7): "x . x . x . .",
    (3, 8): "x . . x . . x .", (4, 9): "x . x . x . x . .", (5, 8): "x . x x . x x .",
    (5, 12): "x . . x . x . . x . x .", (7, 12): "x . x x . x . x x . x .",
    (5, 16): "x . . x . . x . . x . . x . . .", (7, 16): "x . . x . x . x . . x . x . x .",
    (9, 16): "x . x x . x . x . x x . x . x .",
    (11, 24): "x . . x . x . x . x . x . . x . x . x . x . x .",
    (13, 24): "x . x x . x . x . x . x . x x . x . x . x . x .",
}


@pytest.mark.parametrize("kn", sorted(TOUSSAINT))
def test_euclidean_rhythms_match_toussaint(kn):
    k, n = kn
    got = T.bjorklund(k, n)
    want = _pat(TOUSSAINT[kn])
    assert sum(got) == k and len(got) == n
    assert _rot_equal(got, want)
    if kn != (3, 4):            # Bjorklund gives [x x x .], a rotation of Toussaint's [x . x x]
        assert got == want


def test_euclid_rotation_and_errors():
    assert T.euclid(3, 8, 0) == _pat("x . . x . . x .")
    assert T.euclid(3, 8, 1) == _pat(". . x . . x . x")
    assert T.euclid(3, 8, -1) == _pat(". x . . x . . x")
    assert T.bjorklund(0, 4) == [0, 0, 0, 0] and T.bjorklund(4, 4) == [1, 1, 1, 1]
    with pytest.raises(ConfigError):
        T.bjorklund(5, 4)


def test_dice_table():
    flat = [m for row in T.DICE_TABLE for m in row]
    assert len(T.DICE_TABLE) == 11 and all(len(r) == 16 for r in T.DICE_TABLE)
    assert sorted(flat) == list(range(1, 177))          # 176 measures, each once
    assert T.dice_measure(0, 2) == 96 and T.dice_measure(0, 12) == 54
    assert T.dice_measure(7, 7) == 91 and T.dice_measure(15, 12) == 131
    assert T.dice_measure(8, 6) == 25 and T.dice_measure(14, 6) == 1
    mel, bass = T.standin_measure(96, 0)
    assert (mel, bass) == T.standin_measure(96, 0) and len(mel) == 3   # deterministic


def test_two_dice_are_triangular():
    gi = np.zeros(GEN_NI, np.int64)
    gi[GI_RNG] = seed_state(7, 1)
    n = 36000
    counts = np.zeros(13)
    for _ in range(n):
        counts[roll_two_dice(gi)] += 1
    expected = np.array([0, 0] + [min(s - 1, 13 - s) for s in range(2, 13)]) * n / 36.0
    chi2 = (((counts[2:] - expected[2:]) ** 2) / expected[2:]).sum()
    assert counts[:2].sum() == 0
    assert chi2 < 29.6        # chi-square, 10 degrees of freedom, p = 0.001


def test_mode_of_values_associates_each_pitch_with_fixed_values():
    tab = T.mode_of_values(3)
    assert len(tab) == 36
    for d in range(3):
        div = tab[12 * d:12 * d + 12]
        assert sorted(e[0] % 12 for e in div) == list(range(12))     # each pitch class once
        assert sorted(e[1] for e in div) == [(i + 1) << d for i in range(12)]
    assert len({e[0] for e in tab}) == len(tab)         # a pitch (with its register) is one entry
