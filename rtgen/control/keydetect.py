"""Key detection moved to :mod:`rtgen.gen.keydetect` (pure music theory); re-exported here for old imports."""

from __future__ import annotations

from ..gen.keydetect import (
    KK_MAJOR,
    KK_MINOR,
    MAJOR_SCALE,
    MINOR_SCALE,
    PC_NAMES,
    KeyTracker,
    detect_key,
    in_scale,
    key_correlations,
    key_name,
    scale_of,
)

__all__ = ["KK_MAJOR", "KK_MINOR", "MAJOR_SCALE", "MINOR_SCALE", "PC_NAMES", "KeyTracker", "detect_key",
           "in_scale", "key_correlations", "key_name", "scale_of"]
