"""Parameter curves: how a game parameter's 0..1 position maps onto a target's range.

A :class:`Curve` (linear, exp, scurve, stepped) is what each ``[[params.NAME.map]]`` entry of
a music table, a MIDI binding or an OSC mapping holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

CURVE_KINDS = ("linear", "exp", "scurve", "stepped")


@dataclass(frozen=True)
class Curve:
    """Maps a parameter value 0..1 onto ``lo..hi``.

    ``linear``: straight; ``exp``: slow start, fast end (``k`` > 0 sets how much);
    ``scurve``: slow at both ends (a logistic of steepness ``k``, rescaled to pass through
    the end points); ``stepped``: ``steps`` equal levels from ``lo`` to ``hi``.
    """

    kind: str = "linear"
    lo: float = 0.0
    hi: float = 1.0
    k: float = 4.0
    steps: int = 4

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise ConfigError(f"unknown curve {self.kind!r}; curves: {', '.join(CURVE_KINDS)}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ConfigError("curve end points must be finite numbers")
        if not (math.isfinite(self.k) and 0.01 <= self.k <= 50.0):
            raise ConfigError(f"curve steepness k must be 0.01..50, not {self.k}")
        if self.kind == "stepped" and not 2 <= int(self.steps) <= 128:
            raise ConfigError(f"a stepped curve needs 2..128 steps, not {self.steps}")

    def shape(self, x: float) -> float:
        """The normalised shape 0..1 of ``x`` (clamped to 0..1)."""
        x = min(1.0, max(0.0, float(x)))
        if self.kind == "linear":
            return x
        if self.kind == "exp":
            return math.expm1(self.k * x) / math.expm1(self.k)
        if self.kind == "scurve":
            def sig(v: float) -> float:
                return 1.0 / (1.0 + math.exp(-self.k * (v - 0.5)))
            a, b = sig(0.0), sig(1.0)
            return (sig(x) - a) / (b - a)
        n = int(self.steps)
        return min(n - 1, math.floor(x * n)) / (n - 1)

    def __call__(self, x: float) -> float:
        return self.lo + (self.hi - self.lo) * self.shape(x)

