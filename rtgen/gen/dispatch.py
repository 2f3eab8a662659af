"""Dispatch from a generator slot to its compiled kernel.

Every Sequencer kernel has the same signature::

    process(gi, gf, gbuf, p, harm, t0, n, ev, nev) -> nev

- ``gi`` int64[GEN_NI], ``gf`` float64[GEN_NF], ``gbuf`` int32[GEN_NB]: this slot's state
  (words below ``GI_USER``/``GF_USER`` are shared conventions, see ``rt.layout``);
- ``p`` float64[NP]: engine parameters (sample rate, tempo, swing, ``P_BEAT`` = beat
  position at sample ``t0``);
- ``harm`` float64[NH]: the shared harmonic context;
- ``t0``, ``n``: the chunk's first absolute sample and its length (``CHUNK``);
- ``ev`` float64[EV_CAP, EVW], ``nev``: note events so far; the kernel appends rows
  (``EV_*`` columns) with ``t0 <= EV_TIME < t0 + n`` and returns the new count. When
  ``ev`` is full it stops and adds the shortfall to ``gi[GI_DROPPED]``.

The kernel must not allocate, and must do a bounded amount of work per call.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..rt.clock import beat_duration_samples, first_step_at_or_after, step_sample
from ..rt.layout import (EV_DUR, EV_INSTR, EV_LAYER, EV_NOTE, EV_PAN, EV_TAG, EV_TIME, EV_VEL,
                         GF_GATE, GF_VEL, GI_DROPPED, GI_EVENTS, GI_INSTR, GI_LAYER, GI_STEP,
                         GI_STEPS_PER_BEAT, GI_USER, GK_TEST)


@njit(cache=True)
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


@njit(cache=True)
def metronome_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    """Self-test generator: one note per step; accent on the first step of each bar.

    gi[GI_USER] = note, gi[GI_USER+1] = accent note, gi[GI_USER+2] = steps per bar.
    """
    r = gi[GI_STEPS_PER_BEAT]
    if r < 1:
        r = 1
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = int(beat_duration_samples(p, gf[GF_GATE] / r))
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        spb = gi[GI_USER + 2] if gi[GI_USER + 2] > 0 else 4 * r
        note = gi[GI_USER + 1] if k % spb == 0 else gi[GI_USER]
        nev = emit(gi, ev, nev, t, float(note), gf[GF_VEL], dur, float(k))
        k += 1
    gi[GI_STEP] = k
    return nev


@njit(cache=True)
def gen_process(kind, gi, gf, gbuf, p, harm, t0, n, ev, nev):
    """Run the kernel for ``kind`` (a ``GK_*`` code). Unknown kinds write nothing."""
    if kind == GK_TEST:
        return metronome_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    return nev
