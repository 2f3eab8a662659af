"""The shared harmonic context (key, scale, chord) read by every generator.

Stored in a float64 array ``harm`` (indices ``H_*`` in :mod:`rtgen.rt.layout`).
"""

from __future__ import annotations

import numpy as np

from .jit import kernel_jit
from .layout import (
    GI_FIT_CHORD,
    H_BASE_OCTAVE,
    H_CHORD,
    H_CHORD_LEN,
    H_CHORD_ROOT,
    H_ROOT,
    H_SCALE,
    H_SCALE_LEN,
    H_VERSION,
    NH,
)


@kernel_jit()
def degree_to_note(harm: np.ndarray, degree: int) -> int:
    """MIDI note of scale ``degree`` (0 = tonic in the base octave; negative goes down)."""
    n = int(harm[H_SCALE_LEN])
    if n <= 0:
        n = 1
    octv = degree // n
    d = degree - octv * n
    return int(harm[H_ROOT]) + 12 * (int(harm[H_BASE_OCTAVE]) + 1 + octv) + int(harm[H_SCALE + d])


@kernel_jit()
def snap_to_scale(harm: np.ndarray, note: int) -> int:
    """The nearest scale note to ``note`` (ties go down)."""
    n = int(harm[H_SCALE_LEN])
    best = note
    bestd = 99
    root = int(harm[H_ROOT])
    for d in range(n):
        pc = (root + int(harm[H_SCALE + d])) % 12
        diff = (pc - note) % 12
        if diff > 6:
            diff -= 12
        ad = diff if diff >= 0 else -diff
        if ad < bestd or (ad == bestd and diff < 0):
            bestd = ad
            best = note + diff
    return best


@kernel_jit()
def in_chord(harm: np.ndarray, note: int) -> bool:
    n = int(harm[H_CHORD_LEN])
    pc = note % 12
    for i in range(n):
        if int(harm[H_CHORD + i]) == pc:
            return True
    return False


@kernel_jit()
def fit_to_chord(gi: np.ndarray, harm: np.ndarray, note: int) -> int:
    """With the generator's ``GI_FIT_CHORD`` flag: a note a semitone from a tone of the current
    chord (and not one itself) moves onto that chord tone (down first), so a colour line never
    rubs a minor second against the harmony; whole tones (added seconds, ninths) stay."""
    if gi[GI_FIT_CHORD] == 0:
        return note
    n = int(harm[H_CHORD_LEN])
    if n <= 0:
        return note
    pc = note % 12
    down = False
    up = False
    for i in range(n):
        c = int(harm[H_CHORD + i]) % 12
        if c == pc:
            return note
        if c == (pc + 11) % 12:
            down = True
        if c == (pc + 1) % 12:
            up = True
    if down:
        return note - 1
    if up:
        return note + 1
    return note


def make_harmony(root: int = 0, scale: tuple[int, ...] = (0, 2, 4, 5, 7, 9, 11),
                 chord: tuple[int, ...] = (), base_octave: int = 4) -> np.ndarray:
    """Build a harmony array (Python side)."""
    if not 1 <= len(scale) <= 12:
        raise ValueError("a scale has 1 to 12 degrees")
    h = np.zeros(NH, np.float64)
    h[H_ROOT] = root % 12
    h[H_SCALE_LEN] = len(scale)
    for i, s in enumerate(scale):
        h[H_SCALE + i] = s
    h[H_CHORD_ROOT] = (chord[0] % 12) if chord else -1
    h[H_CHORD_LEN] = len(chord)
    for i, c in enumerate(chord[:6]):
        h[H_CHORD + i] = c % 12
    h[H_BASE_OCTAVE] = base_octave
    h[H_VERSION] = 0
    return h
