"""A tiny deterministic random generator for compiled kernels (xorshift64*).

Numba's own ``np.random`` keeps its state per thread, so the audio thread and the
offline renderer would draw different numbers. rtgen keeps every generator's
state in its own int64 slot instead: a seeded render is bit-identical whatever
thread or block size renders it.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel_jit

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


@kernel_jit(inline="always")
def _step(x: np.uint64) -> np.uint64:
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    return x


@kernel_jit()
def seed_state(seed: int, stream: int) -> np.int64:
    """Return a non-zero state word from a seed and a stream number (splitmix64)."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(stream + 1)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    if z == np.uint64(0):
        z = np.uint64(0x2545F4914F6CDD1D)
    return np.int64(z)


@kernel_jit()
def next_u64(state: np.ndarray, i: int) -> np.uint64:
    """Advance ``state[i]`` (an int64 slot) and return 64 random bits."""
    x = _step(np.uint64(state[i]))
    state[i] = np.int64(x)
    return x * np.uint64(0x2545F4914F6CDD1D)


@kernel_jit()
def uniform(state: np.ndarray, i: int) -> float:
    """A float in [0, 1) with 53 random bits, from ``state[i]``."""
    return float(next_u64(state, i) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel_jit()
def randint(state: np.ndarray, i: int, n: int) -> int:
    """An int in [0, n) (n >= 1), from ``state[i]``."""
    return int(uniform(state, i) * n)
