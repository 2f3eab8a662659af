"""The generator registry: the written-out dispatch, presets and references agree with it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from rtgen.errors import ConfigError
from rtgen.gen import dispatch
from rtgen.gen import presets as P
from rtgen.gen.registry import COMMON_KEYS, REGISTRY, by_class, make_reference
from rtgen.rt import layout


def _dispatch_table() -> dict[str, str]:
    """GK_* name -> kernel function name, read from gen_process's written-out branches."""
    src = Path(inspect.getsourcefile(dispatch)).read_text()
    fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "gen_process")
    out: dict[str, str] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            gk = node.test.comparators[0]
            ret = node.body[0]
            assert isinstance(gk, ast.Name) and isinstance(ret, ast.Return) and isinstance(ret.value, ast.Call)
            out[gk.id] = ret.value.func.id  # type: ignore[union-attr]
    return out


def test_dispatch_and_registry_agree() -> None:
    table = _dispatch_table()
    codes = {getattr(layout, n): n for n in table}
    assert len(codes) == len(table), "two dispatch branches test the same kernel code"
    for d in REGISTRY.values():
        assert d.kind in codes, f"{d.name}: kernel code {d.kind} has no dispatch branch"
        assert table[codes[d.kind]] == d.kernel, (
            f"{d.name}: dispatch calls {table[codes[d.kind]]}, the registry names {d.kernel}")
        assert callable(getattr(dispatch, d.kernel)), d.kernel
    registered = {d.kind for d in REGISTRY.values()} | {layout.GK_TEST}
    extra = [n for c, n in codes.items() if c not in registered]
    assert not extra, f"dispatch branches without a registry entry: {extra}"


def test_presets_and_references_derive_from_registry() -> None:
    assert list(P.GENERATORS) == list(REGISTRY)
    for name, d in REGISTRY.items():
        cls, keys = P.GENERATORS[name]
        assert cls is d.cls and keys == d.keys
        sig = inspect.signature(d.cls.__init__)
        for k in keys:                          # every TOML key is a constructor argument
            assert k in sig.parameters, f"{name}.{k} is not an argument of {d.cls.__name__}"
        assert set(keys).isdisjoint(COMMON_KEYS)


def test_every_generator_builds_and_has_its_reference() -> None:
    minimal = {"euclid": {"tracks": [{"pulses": 3, "steps": 8}]},
               "grammar": {"text": "S -> C D E"},
               "lsystem": {"axiom": "A", "rules": {"A": "AB", "B": "A"}, "actions": {"A": "note up", "B": "note down"}}}
    for name, d in REGISTRY.items():
        seq = P.build_sequencer({"type": name, **minimal.get(name, {})}, "test")
        assert by_class(seq) is d
        assert isinstance(make_reference(seq), d.reference)


def test_instrument_by_name_and_unknown_name_lists_valid() -> None:
    seq = P.build_sequencer({"type": "melody", "instrument": "flute"}, "t")
    assert seq.instrument == 7
    seq = P.build_sequencer({"type": "melody", "instrument": "synth_bass"}, "t")
    assert seq.instrument >= 0                  # the planned name, or its fallback
    with pytest.raises(ConfigError, match=r"unknown instrument 'kazoo'; valid: piano, .*drums"):
        P.build_sequencer({"type": "melody", "instrument": "kazoo"}, "t")


@pytest.mark.parametrize("table", [
    {"type": "ca1d", "rule": 30, "max_notes": 3, "base_degree": 0},
    {"type": "life", "fill": 0.4, "max_cells": 2},
    {"type": "grammar", "text": "S -> C D E F G A B C"},
    {"type": "lsystem", "axiom": "A", "rules": {"A": "AB", "B": "A"}, "actions": {"A": "note up", "B": "note"}},
    {"type": "cyclic", "voices": 4},
])
def test_fit_chord_kernel_equals_reference_and_removes_semitone_rubs(table: dict) -> None:
    import numpy as np
    from gen_harness import run_kernel, run_reference

    from rtgen.rt.harmony import make_harmony

    h = make_harmony(0, chord=(0, 4, 7))                # C major: F and B rub against E and C
    seq = P.build_sequencer({**table, "fit_chord": True}, "t")
    k = run_kernel(seq, 4000, harm=h.copy())
    r = run_reference(seq, 4000, harm=h.copy())
    assert len(k) > 5 and np.array_equal(k, r)
    pcs = {int(n) % 12 for n in k[:, 1]}
    assert not pcs & {1, 3, 5, 6, 8, 11}, pcs           # every semitone neighbour of C E G moved
    plain = run_kernel(P.build_sequencer(table, "t"), 4000, harm=h.copy())
    assert {int(n) % 12 for n in plain[:, 1]} & {5, 11}   # without the flag the scale's F/B sound
