"""Grammars: the PCFG parser, the compiled expansion (language, limits) and L-systems."""

from __future__ import annotations

import numpy as np
import pytest
from gen_harness import make_slot, run_kernel, run_reference

from rtgen.errors import ConfigError
from rtgen.gen import grammar as G
from rtgen.gen.registry import make_reference

SEED_GRAMMAR = """
Melody -> Phrase Phrase
Phrase -> Pitch Duration | Pitch Pitch Duration
Pitch -> C | D | E | F | G | A | B
Duration -> Whole | Half | Quarter
"""
PITCHES = set("CDEFGAB")
DURS = {"Whole", "Half", "Quarter"}


def test_parse_seed_grammar():
    g = G.parse_grammar(SEED_GRAMMAR)
    assert g.start == "Melody"
    assert g.nonterminals == ["Melody", "Phrase", "Pitch", "Duration"]
    assert set(g.terminals) == PITCHES | DURS
    assert g.rules["Phrase"] == [(1.0, ("Pitch", "Duration")), (1.0, ("Pitch", "Pitch", "Duration"))]


def test_weights_and_continuation_lines():
    g = G.parse_grammar("S -> (0.7) like | (0.3) love\n   | hate  # comment\nT -> ε | x")
    assert g.rules["S"] == [(0.7, ("like",)), (0.3, ("love",)), (1.0, ("hate",))]
    assert g.rules["T"] == [(1.0, ()), (1.0, ("x",))]
    assert G.cumulative_weights([0.7, 0.3]) == [int(round(0.7 * 2**24)), 2**24]


@pytest.mark.parametrize("text,line,col", [
    ("S -> a\nT b", 2, 3),                 # missing arrow
    ("S -> (0.x) a", 1, 7),               # bad weight
    ("S -> (0) a", 1, 7),                 # weight must be positive
    ("S -> a | ", 1, 10),                 # empty alternative
    ("S -> a\nT -> b $ c", 2, 8),         # unexpected character
    ("S -> (1 a", 1, 6),                  # unclosed weight
    ("-> a", 1, 1),                       # no rule name
    ("S -> a (2) b", 1, 8),               # weight in the middle
])
def test_parse_errors_have_line_and_column(text, line, col):
    with pytest.raises(ConfigError, match=f"line {line}, column {col}"):
        G.parse_grammar(text)


def test_unknown_terminal_is_a_config_error():
    with pytest.raises(ConfigError, match="Zz"):
        G.GrammarSeq("S -> C Zz")
    seq = G.GrammarSeq("S -> C Zz", terminals={"Zz": ["beats", 3]})
    assert seq.terminal_code("Zz") == (G.T_DUR, 12)
    with pytest.raises(ConfigError):
        G.GrammarSeq("S -> C", terminals={"C": ["loud", 1]})


def _kernel_stream(seq: G.GrammarSeq, n: int, seed: int = 3) -> list:
    gi, gf, gbuf = make_slot(seq, seed)
    terms = seq.grammar.terminals
    out = []
    while len(out) < n:
        x = G.grammar_next(gi, gbuf)
        assert x != -2 and x != -3
        out.append(None if x == -1 else terms[x])
    return out


def _derivations(stream: list) -> list[list[str]]:
    ders, cur = [], []
    for x in stream:
        if x is None:
            ders.append(cur)
            cur = []
        else:
            cur.append(x)
    return ders


def test_seed_grammar_language_and_reachability():
    seq = G.GrammarSeq(SEED_GRAMMAR)
    stream = _kernel_stream(seq, 60000)
    forms = set()
    ders = _derivations(stream)
    assert len(ders) > 8000
    for d in ders:
        # Melody = Phrase Phrase; Phrase = Pitch Duration | Pitch Pitch Duration
        phrases, cur = [], []
        for s in d:
            cur.append(s)
            if s in DURS:
                phrases.append(tuple(cur))
                cur = []
        assert cur == [] and len(phrases) == 2, d
        for ph in phrases:
            assert len(ph) in (2, 3) and all(x in PITCHES for x in ph[:-1]), ph
            forms.add(ph)
    assert len(forms) == 7 * 3 + 7 * 7 * 3
    # the kernel's derivation stream is the reference's
    ref = make_reference(seq, 3, 0)
    assert ref.terminals(3000) == stream[:3000]


def test_weights_shape_the_distribution():
    seq = G.GrammarSeq("S -> (0.9) C | (0.1) D", terminals={})
    stream = [x for x in _kernel_stream(seq, 20000) if x is not None]
    frac = stream.count("C") / len(stream)
    assert 0.88 < frac < 0.92


def test_runaway_grammars_are_truncated_and_reported():
    for text in ("S -> S S | S C", "S -> C S", "S -> T\nT -> S"):
        seq = G.GrammarSeq(text, max_depth=64, max_length=100)
        gi, gf, gbuf = make_slot(seq)
        ev = run_kernel(seq, 400, slot_arrays=(gi, gf, gbuf))
        assert gi[G.GR_TRUNC] > 0, text
        assert gi[G.GR_SP] <= 64
        if text == "S -> C S":
            assert len(ev) > 0           # the truncated derivation still played its notes


def test_grammar_events_follow_durations_and_key():
    from rtgen.rt.harmony import make_harmony

    seq = G.GrammarSeq("S -> C D Half E Quarter Rest F", steps_per_beat=4, gate=1.0)
    ev = run_kernel(seq, 3200, harm=make_harmony(root=2))      # D major: C.. = degrees of D
    spb = 24000  # samples per beat at 120 bpm
    got = [(int(t), int(n), int(d)) for t, n, _, d, *_ in ev[:5]]
    # C half, D half, E quarter, rest (1 beat), F (end of derivation: default 1 beat), then again
    assert got == [(0, 62, 2 * spb), (2 * spb, 64, 2 * spb), (4 * spb, 66, spb), (6 * spb, 67, spb),
                   (7 * spb, 62, 2 * spb)]


def test_kernel_equals_reference_for_grammar_events():
    seq = G.GrammarSeq(SEED_GRAMMAR, humanize=0.3, density=1.0)
    for seed in (1, 2):
        a = run_kernel(seq, 15000, seed=seed, swing=0.2, bpm=300)
        b = run_reference(seq, 15000, seed=seed, swing=0.2, bpm=300)
        assert len(a) > 20 and np.array_equal(a, b)


# ------------------------------------------------------------------ L-systems
def test_fibonacci_word():
    rules = {"A": "AB", "B": "A"}
    assert G.lsystem_expand("A", rules, 5, 1000) == ("ABAABABAABAAB", False)
    fib = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    assert [len(G.lsystem_expand("A", rules, n, 10**6)[0]) for n in range(10)] == fib
    s, trunc = G.lsystem_expand("A", rules, 20, 1000)
    assert trunc and len(s) == 1000 and s == G.lsystem_expand("A", rules, 16, 10**6)[0][:1000]


def test_lsystem_text_and_errors():
    ax, rules = G.parse_lsystem("axiom: X\nX -> F[+X]F[-X]+X\nF -> FF")
    assert ax == "X" and rules == {"X": "F[+X]F[-X]+X", "F": "FF"}
    with pytest.raises(ConfigError):
        G.parse_lsystem("X -> F")                     # no axiom
    with pytest.raises(ConfigError):
        G.parse_lsystem("axiom: X\nXY -> F")           # two-symbol left side
    with pytest.raises(ConfigError):
        G.LSystem(actions={"A": "dance"})
    with pytest.raises(ConfigError):
        G.LSystem(axiom="Q", rules={}, iterations=1)  # nothing sounds


def test_lsystem_truncation_is_reported():
    seq = G.LSystem(rules={"A": "AB", "B": "A"}, iterations=40, actions={"A": "note", "B": "up"},
                    max_length=500)
    assert seq.truncated and len(seq.string) == 500
    gi, gf, gbuf = make_slot(seq)
    assert gi[G.LS_TRUNC] == 1 and gi[G.LS_LEN] == 500


def test_lsystem_turtle_push_pop():
    from rtgen.rt.harmony import make_harmony

    seq = G.LSystem(axiom="F[++F]F", rules={}, iterations=0, gate=1.0)
    ev = run_kernel(seq, 400, harm=make_harmony())
    notes = [int(n) for n in ev[:4, 1]]
    assert notes == [60, 64, 60, 60]       # up two degrees inside the brackets, restored after


@pytest.mark.parametrize("kw", [
    {"rules": {"A": "AB", "B": "A"}, "iterations": 10, "actions": {"A": "note up", "B": "note down down"}},
    {"rules": "axiom: X\nX -> F[+X]F[-X]+X\nF -> FF", "iterations": 3, "actions": {"X": "rest"},
     "density": 0.7, "humanize": 0.5},
    {"axiom": "F", "rules": {"F": "F>F<+F-r"}, "iterations": 3, "low": 0, "high": 4},
])
def test_kernel_equals_reference_for_lsystems(kw):
    seq = G.LSystem(**kw)
    a = run_kernel(seq, 3000, seed=5)
    b = run_reference(seq, 3000, seed=5)
    assert len(a) > 10 and np.array_equal(a, b)
