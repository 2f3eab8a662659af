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

from ..rt.clock import beat_duration_samples, first_step_at_or_after, step_sample
from ..rt.jit import kernel_jit
from ..rt.layout import (
    GF_GATE,
    GF_VEL,
    GI_STEP,
    GI_STEPS_PER_BEAT,
    GI_USER,
    GK_CA1D,
    GK_CHORALE,
    GK_CYCLIC,
    GK_DICE,
    GK_EUCLID,
    GK_GRAMMAR,
    GK_LIFE,
    GK_LSYSTEM,
    GK_RULES,
    GK_SERIAL,
    GK_TEST,
)
from .automata import ca1d_process, cyclic_process, life_process
from .grammar import grammar_process, lsystem_process
from .kutil import emit  # noqa: F401  (re-exported: ``dispatch.emit``)
from .rules import chorale_process, dice_process, euclid_process, rules_process, serial_process


@kernel_jit()
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


@kernel_jit()
def gen_process(kind, gi, gf, gbuf, p, harm, t0, n, ev, nev):
    """Run the kernel for ``kind`` (a ``GK_*`` code). Unknown kinds write nothing.

    Compiled without Numba's reference-counting runtime (``_nrt=False``), like every generator
    kernel: they cannot allocate (compiling an allocation fails), and calls pass arrays without
    atomic reference counting, which costs ~0.1 us per call on the chunk path.
    """
    if kind == GK_TEST:
        return metronome_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_RULES:
        return rules_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_GRAMMAR:
        return grammar_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_LSYSTEM:
        return lsystem_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_CA1D:
        return ca1d_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_LIFE:
        return life_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_CYCLIC:
        return cyclic_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_EUCLID:
        return euclid_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_DICE:
        return dice_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_SERIAL:
        return serial_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    if kind == GK_CHORALE:
        return chorale_process(gi, gf, gbuf, p, harm, t0, n, ev, nev)
    return nev
