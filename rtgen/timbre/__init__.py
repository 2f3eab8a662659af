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
from .base import INSTRUMENTS, Controls, Timbre, VoiceFeatures

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
    """``[(index, name, gm_program), ...]``: the instruments both built-in timbres provide."""
    return [(i, name, prog) for i, (name, prog) in enumerate(INSTRUMENTS)]


__all__ = ["AdditiveTimbre", "Controls", "NeuralSlots", "OnnxTimbre", "Timbre", "TimbreWorker",
           "VoiceFeatures", "list_instruments", "load_timbre"]
