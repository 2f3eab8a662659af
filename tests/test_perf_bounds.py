"""Performance bounds within about 2x of what is measured, robust on a shared 2-core machine.

The statistic is the thread's CPU time of one block (another process taking the core is not
charged), the median over a batch of blocks, and the least of several batches (load only ever
adds to it). Measured on 2026-12-03 at load average ~9 on 2 shared vCPUs, five repetitions:
64 voices at 64 frames, 0.0178-0.0189 of the deadline. The bound, 0.032, is 1.7x that: a
regression that doubles the block cost fails it; the earlier bound (0.25) was 13x.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.bench_engine import sustained_engine

MEASURED_64V_64F = 0.0185
BOUND_64V_64F = 0.032


def block_cpu_fraction(block: int, voices: int, batches: int = 7, n: int = 150) -> float:
    """Least over ``batches`` of the median CPU time of a block, as a fraction of its deadline."""
    eng = sustained_engine(voices, block)
    out = np.zeros((block, 2), np.float32)
    for _ in range(50):
        eng.render(out)
    assert eng.active_voices() == voices
    meds = []
    for _ in range(batches):
        c = np.empty(n)
        for i in range(n):
            t = time.thread_time_ns()
            eng.render(out)
            c[i] = time.thread_time_ns() - t
        meds.append(float(np.median(c)))
    return min(meds) / (block / 48000 * 1e9)


def test_block_cost_of_64_voices_at_64_frames_is_within_1_7x_of_measured() -> None:
    f = block_cpu_fraction(64, 64)
    assert f < BOUND_64V_64F, f"a 64-frame block with 64 voices costs {f:.4f} of its deadline " \
                              f"(measured {MEASURED_64V_64F}, bound {BOUND_64V_64F})"
    assert f > MEASURED_64V_64F / 4, f"{f:.4f}: the voices did not sound (nothing was rendered)"
