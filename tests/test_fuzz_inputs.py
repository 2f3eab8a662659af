"""Fuzzing the text inputs a user can hand rtgen: grammar text, L-systems, TOML presets.

Whatever the input, the answer is a working object or a ConfigError with a message, never
another exception or a hang; and what does build runs in the compiled kernel without
writing an event out of range.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rtgen.errors import ConfigError
from rtgen.gen.grammar import GrammarSeq, LSystem
from rtgen.gen.presets import load_preset, parse_preset
from rtgen.rt.layout import N_GEN
from tests.gen_harness import run_kernel

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SYMS = ["Melody", "Phrase", "Pitch", "Duration", "C", "D", "E", "G", "Quarter", "Half", "X", "S"]
_PIECES = st.sampled_from(_SYMS + ["->", "|", "(0.5)", "(2)", "(", ")", "\n", " ", "(-1)", "(1e309)", "0.3",
                                   "→", "\t", "#", "->->", "||", "(nan)"])


def _check_events(ev: np.ndarray) -> None:
    if ev.size:
        assert np.all(np.isfinite(ev))
        assert np.all((ev[:, 1] >= 0) & (ev[:, 1] <= 127)), "note out of MIDI range"
        assert np.all(ev[:, 3] >= 1), "non-positive duration"
        assert np.all((ev[:, 2] >= 1) & (ev[:, 2] <= 127)), "velocity out of range"


@SETTINGS
@given(st.lists(_PIECES, min_size=0, max_size=40).map(" ".join))
def test_grammar_text_is_a_grammar_or_a_config_error(text: str) -> None:
    try:
        g = GrammarSeq(text)
    except ConfigError as e:
        assert str(e)
        return
    _check_events(run_kernel(g, 200))


@SETTINGS
@given(st.text(alphabet=string.printable + "éß→", max_size=200))
def test_arbitrary_grammar_text_never_crashes(text: str) -> None:
    try:
        g = GrammarSeq(text)
    except ConfigError:
        return
    _check_events(run_kernel(g, 50))


@SETTINGS
@given(st.dictionaries(st.sampled_from(list("ABF+-[]xy")), st.text(alphabet="ABF+-[]xy", max_size=12),
                       max_size=5),
       st.integers(min_value=0, max_value=12), st.text(alphabet="ABF", min_size=1, max_size=3))
def test_lsystems_are_bounded_and_play_in_range(rules: dict[str, str], n: int, axiom: str) -> None:
    try:
        ls = LSystem(axiom=axiom, rules=rules, iterations=n)
    except ConfigError:
        return
    assert len(ls.string) <= 65536
    _check_events(run_kernel(ls, 200))


_VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.booleans(), st.lists(st.integers(-3, 3), max_size=4))
_KEYS = st.sampled_from(["tempo", "key", "scale", "swing", "beats_per_bar", "description", "bogus", "type",
                         "layer", "rule", "steps_per_beat", "velocity", "text", "progression", "width"])
_GEN_TYPES = st.sampled_from(["ca1d", "life", "grammar", "euclid", "chorale", "lsystem", "cyclic", "dice",
                              "serial", "melody", "nope"])


@SETTINGS
@given(st.dictionaries(_KEYS, _VALUES, max_size=6),
       st.lists(st.dictionaries(_KEYS, _VALUES, max_size=6).flatmap(
           lambda d: _GEN_TYPES.map(lambda t: {**d, "type": t})), max_size=3))
@example({"tempo": -5}, [{"type": "euclid"}])           # out of range: must be a ConfigError
@example({"tempo": 96, "swing": 0.9}, [{"type": "euclid"}])
@example({"tempo": 96, "beats_per_bar": 0}, [{"type": "euclid"}])
def test_preset_documents_are_presets_or_config_errors_naming_a_key(top: dict, gens: list) -> None:
    doc = dict(top)
    if gens:
        doc["generator"] = gens
    try:
        spec = parse_preset(doc, where="fuzz.toml")
    except ConfigError as e:
        assert "fuzz.toml" in str(e)
        return
    # an accepted document is a preset within the documented ranges, holding the values it gave
    assert 20 <= spec.tempo <= 400 and spec.tempo == float(doc.get("tempo", 110.0))
    assert 0.0 <= spec.swing <= 0.75 and 1 <= spec.beats_per_bar <= 16
    assert 1 <= len(spec.generators) <= N_GEN


@SETTINGS
@given(st.binary(max_size=300))
def test_preset_files_with_random_bytes_are_config_errors(tmp_path_factory: pytest.TempPathFactory,
                                                          data: bytes) -> None:
    p = Path(tmp_path_factory.mktemp("fuzz")) / "bad.toml"
    p.write_bytes(data)
    try:
        load_preset(p)
    except ConfigError as e:
        assert "bad.toml" in str(e)
