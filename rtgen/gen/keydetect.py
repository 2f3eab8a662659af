"""Key detection from what the player plays (Krumhansl–Schmuckler).

The key-finding algorithm of Krumhansl and Schmuckler (described in C. L. Krumhansl,
*Cognitive Foundations of Musical Pitch*, Oxford University Press, 1990, ch. 4)
correlates a duration-weighted pitch-class distribution with the 24 rotations of the
major and minor key profiles measured by Krumhansl and Kessler ("Tracing the dynamic
changes in perceived tonal organization in a spatial representation of musical keys",
*Psychological Review* 89(4), 1982). The key with the highest correlation wins.

:class:`KeyTracker` keeps a leaky histogram (exponential forgetting with a half-life
in seconds) so the detected key follows modulations, with hysteresis so it does not
flicker between neighbouring keys.
"""

from __future__ import annotations

import math

import numpy as np

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)       # natural minor
PC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _profiles() -> np.ndarray:
    p = np.empty((24, 12))
    for r in range(12):
        p[r] = np.roll(KK_MAJOR, r)
        p[12 + r] = np.roll(KK_MINOR, r)
    p -= p.mean(axis=1, keepdims=True)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return p


_PROFILES = _profiles()


def key_correlations(hist: np.ndarray) -> np.ndarray:
    """Pearson correlation of a 12-bin pitch-class histogram with the 24 keys (0..11 major, 12..23 minor)."""
    h = np.asarray(hist, np.float64)
    h = h - h.mean()
    n = np.linalg.norm(h)
    if n <= 0.0:
        return np.zeros(24)
    return _PROFILES @ (h / n)


def detect_key(pitches: list[int] | np.ndarray, weights: list[float] | np.ndarray | None = None
               ) -> tuple[int, int, float]:
    """(tonic pitch class, mode 0=major 1=minor, correlation) of a note collection."""
    hist = np.zeros(12)
    w = np.ones(len(pitches)) if weights is None else np.asarray(weights, np.float64)
    for p, x in zip(pitches, w, strict=True):
        hist[int(p) % 12] += float(x)
    r = key_correlations(hist)
    k = int(np.argmax(r))
    return k % 12, k // 12, float(r[k])


def scale_of(root: int, mode: int) -> tuple[int, ...]:
    return MAJOR_SCALE if mode == 0 else MINOR_SCALE


def key_name(root: int, mode: int) -> str:
    return f"{PC_NAMES[root % 12]} {'major' if mode == 0 else 'minor'}"


def in_scale(pitch: int, root: int, mode: int) -> bool:
    return (int(pitch) - root) % 12 in scale_of(root, mode)


class KeyTracker:
    """Live key estimate from a leaky, duration-weighted pitch-class histogram."""

    def __init__(self, half_life_s: float = 20.0, hysteresis: float = 0.05, min_weight: float = 1.5) -> None:
        self.half_life_s = half_life_s
        self.hysteresis = hysteresis
        self.min_weight = min_weight       # seconds of notes before a first key is reported
        self.hist = np.zeros(12)
        self.t = 0.0
        self.root = 0
        self.mode = 0
        self.confidence = 0.0
        self.known = False

    def add(self, pitch: int, duration_s: float, t: float) -> bool:
        """Add a note that lasted ``duration_s`` (ended at time ``t``); True when the key changed."""
        if self.t > 0.0 and t > self.t:
            self.hist *= math.pow(0.5, (t - self.t) / self.half_life_s)
        self.t = max(self.t, t)
        self.hist[int(pitch) % 12] += max(0.05, min(2.0, float(duration_s)))
        return self.update()

    def update(self) -> bool:
        if self.hist.sum() < self.min_weight:
            return False
        r = key_correlations(self.hist)
        k = int(np.argmax(r))
        cur = self.root + 12 * self.mode
        if not self.known or (k != cur and r[k] > r[cur] + self.hysteresis):
            changed = (not self.known) or k != cur
            self.root, self.mode, self.known = k % 12, k // 12, True
            self.confidence = float(r[k])
            return changed
        self.confidence = float(r[cur])
        return False

    def clear(self) -> None:
        self.hist[:] = 0.0
        self.t = 0.0
        self.known = False

    @property
    def scale(self) -> tuple[int, ...]:
        return scale_of(self.root, self.mode)

    def name(self) -> str:
        return key_name(self.root, self.mode)
