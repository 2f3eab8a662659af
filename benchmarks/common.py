"""Shared helpers for benchmarks: one JSON line per figure."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(name: str, value: float, unit: str, target: str | None = None, passed: bool | None = None,
         **extra: Any) -> dict[str, Any]:
    """Print one figure as a JSON line (and return it)."""
    row: dict[str, Any] = {"name": name, "value": round(float(value), 6), "unit": unit}
    if target is not None:
        row["target"] = target
    if passed is not None:
        row["pass"] = bool(passed)
    for k, v in extra.items():
        row[k] = round(v, 6) if isinstance(v, float) else v
    print(json.dumps(row), flush=True)
    sys.stdout.flush()
    return row
