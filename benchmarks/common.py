"""Shared helpers for benchmarks: one JSON line per figure, every line the same schema.

A figure is ``{"name": "group/figure", "value": 0.18, "unit": "...", "target": "< 0.25",
"pass": true}``; a comparison adds ``"peer"`` and ``"ratio"``; a measurement that could not be
made is ``"value": null, "pass": false`` with a ``"reason"`` (never ``pass: true``). Every
benchmark prints its figures through :func:`emit`, :func:`skipped` or :func:`failed`, and
``python -m benchmarks`` checks each line with :func:`check_figure` before it writes
``benchmarks/results.jsonl``.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from typing import Any

#: keys every figure carries
REQUIRED = ("name", "value", "unit", "target", "pass")
#: keys no figure may use (the old schema's spelling)
FORBIDDEN = ("figure", "skipped")


def figure(name: str, value: float | None, unit: str, target: str, passed: bool,
           **extra: Any) -> dict[str, Any]:
    """One figure as a dict (not printed). ``value`` None means not measured: needs a ``reason``."""
    if value is not None and not math.isfinite(float(value)):
        extra.setdefault("reason", f"the measurement gave {value}")
        value, passed = None, False
    row: dict[str, Any] = {"name": name, "value": None if value is None else round(float(value), 6),
                           "unit": unit, "target": target, "pass": bool(passed) and value is not None}
    for k, v in extra.items():
        if isinstance(v, float):
            v = round(v, 6) if math.isfinite(v) else None
        elif hasattr(v, "item") and callable(v.item):      # numpy scalars
            v = v.item()
        row[k] = v
    problems = check_figure(row)
    if problems:
        raise ValueError(f"benchmark figure {name!r} breaks the schema: {'; '.join(problems)}")
    return row


def emit(name: str, value: float | None, unit: str, target: str, passed: bool,
         **extra: Any) -> dict[str, Any]:
    """Print one figure as a JSON line (and return it)."""
    row = figure(name, value, unit, target, passed, **extra)
    print(json.dumps(row), flush=True)
    sys.stdout.flush()
    return row


def skipped(name: str, unit: str, target: str, reason: str, **extra: Any) -> dict[str, Any]:
    """A figure that could not be measured: ``pass: false`` with the reason."""
    return emit(name, None, unit, target, False, reason=reason, **extra)


def failed(name: str, unit: str, target: str, exc: BaseException, **extra: Any) -> dict[str, Any]:
    """A measurement that raised: ``pass: false`` with the exception and where it came from."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return skipped(name, unit, target, f"{type(exc).__name__}: {exc}{where}", **extra)


def stats(a: Any) -> dict[str, float]:
    """n / min / median / p99 / max of a sample (for a figure's extra keys)."""
    import numpy as np

    x = np.asarray(a, np.float64)
    if x.size == 0:
        return {"n": 0}
    return {"n": int(x.size), "min": round(float(x.min()), 4), "median": round(float(np.median(x)), 4),
            "p99": round(float(np.percentile(x, 99)), 4), "max": round(float(x.max()), 4)}


def check_figure(row: Any) -> list[str]:
    """What is wrong with one figure's dict (empty if it follows the schema)."""
    if not isinstance(row, dict):
        return ["not a JSON object"]
    out = [f"missing {k!r}" for k in REQUIRED if k not in row]
    out += [f"uses the old key {k!r}" for k in FORBIDDEN if k in row]
    if out:
        return out
    if not isinstance(row["name"], str) or not row["name"]:
        out.append("name is not a non-empty string")
    if not isinstance(row["unit"], str) or not row["unit"]:
        out.append("unit is not a non-empty string")
    if not isinstance(row["target"], str) or not row["target"]:
        out.append("target is not a non-empty string")
    if not isinstance(row["pass"], bool):
        out.append("pass is not true or false")
    v = row["value"]
    if v is None:
        if row["pass"] is not False:
            out.append("a figure without a value cannot pass")
        if not row.get("reason"):
            out.append("a figure without a value needs a reason")
    elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        out.append(f"value {v!r} is not a finite number")
    if "ratio" in row and "peer" not in row:
        out.append("a ratio without its peer")
    return out


def normalise(row: Any, bench: str) -> dict[str, Any]:
    """A line printed by a benchmark, made to follow the schema: a line that breaks it becomes a
    ``pass: false`` figure whose reason says what was wrong (so nothing passes by accident)."""
    problems = check_figure(row)
    if not problems:
        return dict(row)
    name = row.get("name") or row.get("figure") if isinstance(row, dict) else None
    return {"name": str(name or f"{bench}/unnamed"), "value": None, "unit": "n/a",
            "target": "a figure that follows the schema", "pass": False,
            "reason": f"{bench} printed a line that breaks the schema ({'; '.join(problems)}): "
                      f"{json.dumps(row)[:300]}"}
