"""The musical clock: beats, bars and swing, sample-accurate.

The engine keeps ``p[P_BEAT]``, the beat position at the first sample of the
current chunk, and advances it by ``CHUNK * bpm / (60 * sr)`` per chunk (tempo
changes take effect on the chunk grid, so a render is the same whatever the host
block size). Generators place their steps with :func:`step_sample`.

Swing delays every odd step of a grid by ``swing / steps_per_beat`` beats
(``swing = 1/3`` on an eighth-note grid gives the triplet feel).
"""

from __future__ import annotations

import math

import numpy as np

from .jit import kernel_jit
from .layout import CHUNK, P_BEAT, P_BPM, P_SR, P_SWING


@kernel_jit()
def samples_per_beat(p: np.ndarray) -> float:
    return p[P_SR] * 60.0 / p[P_BPM]


@kernel_jit()
def step_beat(p: np.ndarray, k: int, steps_per_beat: int) -> float:
    """Beat position of step ``k`` on a grid of ``steps_per_beat`` steps per beat, with swing."""
    b = k / steps_per_beat
    if steps_per_beat >= 2 and (k & 1) == 1:
        b += p[P_SWING] / steps_per_beat
    return b


@kernel_jit()
def step_sample(p: np.ndarray, t0: int, k: int, steps_per_beat: int) -> int:
    """Absolute sample of step ``k`` given that beat ``p[P_BEAT]`` falls on sample ``t0``."""
    return t0 + int(math.floor((step_beat(p, k, steps_per_beat) - p[P_BEAT]) * samples_per_beat(p) + 0.5))


@kernel_jit()
def first_step_at_or_after(p: np.ndarray, t0: int, k: int, steps_per_beat: int) -> int:
    """The first step index >= k that is still due: steps more than one chunk behind ``t0``
    (left behind by a tempo jump or a clock reset) are skipped; a step that rounding puts a
    sample or two before ``t0`` is kept (the engine plays an event with a past time at once),
    so no step is ever lost between two chunks."""
    kmin = int(math.floor(p[P_BEAT] * steps_per_beat)) - 2
    if k < kmin:
        k = kmin
    while step_sample(p, t0, k, steps_per_beat) < t0 - CHUNK:
        k += 1
    return k


@kernel_jit()
def beat_duration_samples(p: np.ndarray, beats: float) -> int:
    """Length of ``beats`` beats at the current tempo, in samples (>= 1)."""
    d = int(beats * samples_per_beat(p) + 0.5)
    return d if d > 0 else 1
