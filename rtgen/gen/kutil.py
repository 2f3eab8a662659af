"""Helpers shared by the compiled generator kernels (no allocation, no Python objects).

``emit`` is re-exported by :mod:`rtgen.gen.dispatch` (``dispatch.emit``); it lives here so the
kernel modules can import it without importing the dispatcher that imports them.
"""

from __future__ import annotations

import math

import numpy as np

from ..rt.clock import beat_duration_samples
from ..rt.jit import kernel_jit
from ..rt.layout import (
    EV_DUR,
    EV_INSTR,
    EV_LAYER,
    EV_NOTE,
    EV_PAN,
    EV_TAG,
    EV_TIME,
    EV_VEL,
    GEN_NI,
    GF_DENSITY,
    GF_GATE,
    GF_HUMANIZE,
    GF_VEL,
    GI_DROPPED,
    GI_EVENTS,
    GI_INSTR,
    GI_LAYER,
    GI_RNG,
    GI_STEP,
    GI_STEPS_PER_BEAT,
    P_BEAT,
    P_BPM,
    P_SR,
    P_SWING,
)
from ..rt.rng import uniform


@kernel_jit()
def emit(gi: np.ndarray, ev: np.ndarray, nev: int, t: int, note: float, vel: float, dur: int,
         tag: float = 0.0, pan: float = 0.0) -> int:
    """Append one note event; count a drop when ``ev`` is full. Returns the new count."""
    if nev >= ev.shape[0]:
        gi[GI_DROPPED] += 1
        return nev
    ev[nev, EV_TIME] = t
    ev[nev, EV_NOTE] = note
    ev[nev, EV_VEL] = min(127.0, max(1.0, vel))
    ev[nev, EV_DUR] = max(1, dur)
    ev[nev, EV_LAYER] = gi[GI_LAYER]
    ev[nev, EV_INSTR] = gi[GI_INSTR]
    ev[nev, EV_PAN] = pan
    ev[nev, EV_TAG] = tag
    gi[GI_EVENTS] += 1
    return nev + 1


@kernel_jit()
def step_plays(gi: np.ndarray, gf: np.ndarray) -> bool:
    """Density gate of a step: draws from the slot's rng only when 0 < density < 1."""
    d = gf[GF_DENSITY]
    if d >= 1.0:
        return True
    if d <= 0.0:
        return False
    return uniform(gi, GI_RNG) < d


@kernel_jit()
def velocity(gi: np.ndarray, gf: np.ndarray, scale: float) -> float:
    """Base velocity times ``scale``, humanized (one rng draw only when humanize > 0)."""
    v = gf[GF_VEL] * scale
    h = gf[GF_HUMANIZE]
    if h > 0.0:
        v = v * (1.0 + h * (uniform(gi, GI_RNG) - 0.5))
    return v


@kernel_jit()
def gate_samples(p: np.ndarray, gf: np.ndarray, steps: float, steps_per_beat: int) -> int:
    """Length of a note lasting ``steps`` grid steps times the gate, in samples (>= 1)."""
    return beat_duration_samples(p, gf[GF_GATE] * steps / steps_per_beat)


@kernel_jit()
def wrap_range(x: int, lo: int, hi: int) -> int:
    """Fold ``x`` into ``lo..hi`` cyclically (hi >= lo)."""
    w = hi - lo + 1
    return lo + (x - lo) % w


@kernel_jit(inline="always")
def no_step_in_chunk(p: np.ndarray, t0: int, n: int, k: int, r: int) -> bool:
    """Fast exact test that the step grid has no step in ``[t0, t0 + n)`` for a kernel whose next step
    is ``k``: then ``first_step_at_or_after`` would return ``k`` itself and its sample lies beyond the
    chunk. Same arithmetic, in the same order, as :func:`rtgen.rt.clock.step_sample` (a test checks
    they agree), inlined because most chunks of a musical grid hold no step."""
    if k < int(math.floor(p[P_BEAT] * r)) - 1:
        return False
    b = k / r
    if r >= 2 and (k & 1) == 1:
        b += p[P_SWING] / r
    return t0 + int(math.floor((b - p[P_BEAT]) * (p[P_SR] * 60.0 / p[P_BPM]) + 0.5)) >= t0 + n


#: A convention of rtgen's own generators (the last user word of a slot, not an engine word):
#: the grid (steps per beat) that ``gi[GI_STEP]`` and the kernel's step counters are counted in.
KU_GRID = GEN_NI - 1


@kernel_jit(inline="always")
def chunk_grid(gi: np.ndarray, p: np.ndarray, t0: int, n: int, follow: int = -1, nfollow: int = 1) -> int:
    """The opening of every step-grid kernel: the slot's steps per beat (at least 1), after a
    live grid change has been followed; 0 when no step of that grid falls in ``[t0, t0 + n)``
    (the kernel then returns at once: most chunks of a musical grid hold no step).

    A kernel that keeps its own next-step counters at ``gi[follow:follow + nfollow]`` has them
    moved with ``gi[GI_STEP]`` on a grid change."""
    r = gi[GI_STEPS_PER_BEAT]
    if r < 1:
        r = 1
    if grid_changed(gi, p, r) and follow >= 0:
        for j in range(nfollow):
            gi[follow + j] = gi[GI_STEP]
    if no_step_in_chunk(p, t0, n, gi[GI_STEP], r):
        return 0
    return r


@kernel_jit()
def grid_changed(gi: np.ndarray, p: np.ndarray, r: int) -> bool:
    """True once after a live change of steps per beat: ``gi[GI_STEP]`` is moved to the new grid
    (the first step at or after the current beat), so the kernel neither stalls nor rushes."""
    old = gi[KU_GRID]
    gi[KU_GRID] = r
    if old == r or old == 0:
        return False
    gi[GI_STEP] = int(math.floor(p[P_BEAT] * r))
    return True
