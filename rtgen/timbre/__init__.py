"""Timbres: what a voice sounds like (see :mod:`rtgen.timbre.base` for the contract).

``AdditiveTimbre`` is the hand-designed fallback, always available. ``OnnxTimbre`` runs the
packaged neural model (``rtgen/models/timbre.onnx``) with onnxruntime; it is imported lazily
so rtgen works without onnxruntime. ``load_timbre("neural")`` falls back to the additive
timbre with a warning when the model cannot be loaded.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from .additive import AdditiveTimbre
from .base import (
    DRUM_PROGRAM,
    DRUMS,
    GM_DRUM_KEYS,
    GM_FAMILIES,
    INSTRUMENTS,
    Controls,
    Timbre,
    VoiceFeatures,
    gm_program_instrument,
)

if TYPE_CHECKING:
    from .onnx import NeuralSlots, OnnxTimbre, TimbreWorker


def __getattr__(name: str) -> Any:
    if name in ("OnnxTimbre", "NeuralSlots", "TimbreWorker"):
        from . import onnx as _onnx

        return getattr(_onnx, name)
    raise AttributeError(f"module 'rtgen.timbre' has no attribute {name!r}")


def load_timbre(kind: str = "neural", path: str | None = None) -> Timbre:
    """A timbre by kind: ``"neural"`` (the ONNX model; additive with a warning if it cannot load)
    or ``"additive"``. ``path`` overrides the packaged model file."""
    k = str(kind).strip().lower()
    if k == "additive":
        return AdditiveTimbre()
    if k in ("neural", "onnx"):
        from ..errors import ModelError

        try:
            from .onnx import OnnxTimbre

            return OnnxTimbre.shared(path)
        except (ModelError, ImportError) as e:
            warnings.warn(f"neural timbre unavailable, using the additive fallback: {e}", RuntimeWarning,
                          stacklevel=2)
            return AdditiveTimbre()
    from ..errors import ConfigError

    raise ConfigError(f"unknown timbre {kind!r}: expected 'neural' or 'additive'")


def list_instruments() -> list[tuple[int, str, int]]:
    """``[(index, name, gm_program), ...]``: the instruments both built-in timbres provide (the kit's
    program is ``DRUM_PROGRAM``, 128: GM bank 128, program 0, MIDI channel 10)."""
    return [(i, name, prog) for i, (name, prog) in enumerate(INSTRUMENTS)]


def drum_kit_keys() -> list[tuple[int, str]]:
    """``[(MIDI key, name), ...]`` of the GM kit's sounds (instrument ``drums``, channel 10)."""
    return sorted(GM_DRUM_KEYS.items())


def instruments_listing() -> str:
    """The text ``rtgen instruments`` prints: every instrument with its GM program and family, then
    the drum kit's keys and names."""
    lines = ["index  name             GM program  family"]
    for i, name, prog in list_instruments():
        if prog == DRUM_PROGRAM:
            lines.append(f"{i:5d}  {name:<15}  bank 128/0  drum kit on MIDI channel 10 (keys below)")
        else:
            lines.append(f"{i:5d}  {name:<15}  {prog:10d}  {GM_FAMILIES[prog // 8]}")
    lines.append("")
    lines.append(f"drum kit (instrument {DRUMS}, one-shot): key  name")
    for key, nm in drum_kit_keys():
        lines.append(f"  {key:3d}  {nm}")
    lines.append("")
    lines.append("Other GM programs play the nearest instrument of their family (said once per file).")
    return "\n".join(lines)


__all__ = ["AdditiveTimbre", "Controls", "NeuralSlots", "OnnxTimbre", "Timbre", "TimbreWorker",
           "VoiceFeatures", "drum_kit_keys", "gm_program_instrument", "instruments_listing", "list_instruments",
           "load_timbre"]
