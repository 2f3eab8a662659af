"""The generator registry: every generator family defined once.

One :class:`GeneratorDef` per generator names everything the rest of rtgen derives from it:

- ``name``: its preset ``type`` (``[[generator]] type = "euclid"``);
- ``kind``: its kernel code (a ``GK_*`` of :mod:`rtgen.rt.layout`) and ``kernel``: the name of its
  compiled kernel, which :func:`rtgen.gen.dispatch.gen_process` calls for that code (the dispatch
  stays written out for Numba; ``tests/test_gen_registry.py`` fails when it and this table disagree);
- ``cls``: its Python :class:`~rtgen.gen.base.Sequencer` (the keys' defaults are the keyword
  defaults of its constructor, read from its signature, so they are written once, there);
- ``keys``: its own TOML keys and their types (the common keys are :data:`COMMON_KEYS`);
- ``reference``: its pure-Python reference (:mod:`rtgen.gen.reference`), which the known-answer
  tests and ``bench_generators`` compare the kernel against.

The preset loader (:mod:`rtgen.gen.presets`), :func:`make_reference` and the tests read this table;
``docs/generators.md`` shows how to add a generator.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from ..rt import layout
from . import reference as R
from .automata import CA1D, Cyclic, Life
from .base import Sequencer
from .grammar import GrammarSeq, LSystem
from .rules import Chorale, DiceGame, Euclid, ModeOfValues, RuleMelody

_INT = (int,)
_NUM = (int, float)
_STR = (str,)
_BOOL = (bool,)
_LIST = (list,)
_TABLE = (dict,)

#: keys every generator table accepts (the Sequencer base class's constructor)
COMMON_KEYS: dict[str, tuple[type, ...]] = {
    "type": _STR, "layer": (str, int), "steps_per_beat": _INT, "gate": _NUM, "velocity": _NUM,
    "density": _NUM, "humanize": _NUM, "instrument": (int, str), "fit_chord": _BOOL,
}


@dataclass(frozen=True)
class GeneratorDef:
    """One generator family: see the module docstring."""

    name: str
    kind: int
    kernel: str
    cls: type[Sequencer]
    keys: dict[str, tuple[type, ...]]
    reference: type[R.Reference]
    summary: str = ""

    def defaults(self) -> dict[str, Any]:
        """Each own key's default, read from the class constructor (``None``: no default / derived)."""
        sig = inspect.signature(self.cls.__init__)
        out: dict[str, Any] = {}
        for k in self.keys:
            prm = sig.parameters.get(k)
            out[k] = None if prm is None or prm.default is inspect.Parameter.empty else prm.default
        return out


_DEFS: tuple[GeneratorDef, ...] = (
    GeneratorDef("euclid", layout.GK_EUCLID, "euclid_process", Euclid, {"tracks": _LIST}, R.EuclidRef,
                 "Euclidean rhythms (Bjorklund), one track per scale degree"),
    GeneratorDef("chorale", layout.GK_CHORALE, "chorale_process", Chorale,
                 {"progression": _STR, "key": _STR, "beats_per_chord": _INT, "drive_harmony": _BOOL},
                 R.ChoraleRef, "four-part chorale voiced by rule from a Roman-numeral progression"),
    GeneratorDef("melody", layout.GK_RULES, "rules_process", RuleMelody,
                 {"low": _INT, "high": _INT, "start": _INT}, R.MelodyRef,
                 "rule melody: steps preferred, leaps recovered, chord tones on strong beats"),
    GeneratorDef("dice", layout.GK_DICE, "dice_process", DiceGame, {"base_degree": _INT}, R.DiceRef,
                 "musical dice game: a table of one-bar fragments chosen by dice"),
    GeneratorDef("serial", layout.GK_SERIAL, "serial_process", ModeOfValues, {"divisions": _INT},
                 R.SerialRef, "mode of values: pitch, duration and dynamics rows"),
    GeneratorDef("grammar", layout.GK_GRAMMAR, "grammar_process", GrammarSeq,
                 {"text": _STR, "terminals": _TABLE, "max_depth": _INT, "max_length": _INT}, R.GrammarRef,
                 "probabilistic context-free grammar over pitches and durations"),
    GeneratorDef("lsystem", layout.GK_LSYSTEM, "lsystem_process", LSystem,
                 {"axiom": _STR, "rules": (dict, str), "iterations": _INT, "actions": _TABLE,
                  "start_degree": _INT, "base_steps": _INT, "low": _INT, "high": _INT, "max_length": _INT},
                 R.LSystemRef, "L-system string read as a turtle over scale degrees"),
    GeneratorDef("ca1d", layout.GK_CA1D, "ca1d_process", CA1D,
                 {"rule": _INT, "width": _INT, "seed": (str, list), "wrap": _BOOL, "fill": _NUM,
                  "mutation": _NUM, "offset": _INT, "window": _INT, "max_notes": _INT,
                  "base_degree": _INT, "degree_step": _INT}, R.CA1DRef,
                 "elementary cellular automaton; a window of cells plays scale degrees"),
    GeneratorDef("life", layout.GK_LIFE, "life_process", Life,
                 {"rule": _STR, "height": _INT, "width": _INT, "seed": (str, list), "wrap": _BOOL,
                  "fill": _NUM, "mutation": _NUM, "max_cells": _INT, "base_degree": _INT, "snap": _BOOL,
                  "cyclic_states": _INT, "cyclic_threshold": _INT, "instruments": _LIST}, R.LifeRef,
                 "Life-like automaton; births play chord tones"),
    GeneratorDef("cyclic", layout.GK_CYCLIC, "cyclic_process", Cyclic,
                 {"states": _INT, "threshold": _INT, "height": _INT, "width": _INT, "moore": _BOOL,
                  "voices": _INT, "base_degree": _INT, "target": _STR, "mapping": _LIST, "mutation": _NUM},
                 R.CyclicRef, "cyclic cellular automaton; state counts drive voices"),
)

#: name -> definition, in the order presets list them
REGISTRY: dict[str, GeneratorDef] = {d.name: d for d in _DEFS}


def _check_unique() -> None:
    seen: dict[int, str] = {}
    for d in _DEFS:
        if d.kind in seen:
            raise RuntimeError(f"generators {seen[d.kind]!r} and {d.name!r} share kernel code {d.kind}")
        seen[d.kind] = d.name
        if d.cls.kind != d.kind or d.cls.name != d.name:
            raise RuntimeError(f"generator {d.name!r}: class {d.cls.__name__} says {d.cls.name!r}/{d.cls.kind}")


_check_unique()


def by_class(seq: Sequencer) -> GeneratorDef:
    """The definition of a sequencer's family (subclasses find their base's)."""
    for cls in type(seq).__mro__:
        for d in _DEFS:
            if d.cls is cls:
                return d
    raise TypeError(f"{type(seq).__name__} is not a registered generator")


def make_reference(seq: Sequencer, seed: int = 1, slot: int = 0) -> R.Reference:
    """The pure-Python reference of ``seq`` (same seed and slot as the kernel's pack)."""
    return by_class(seq).reference(seq, seed, slot)


__all__ = ["COMMON_KEYS", "REGISTRY", "GeneratorDef", "by_class", "make_reference"]
