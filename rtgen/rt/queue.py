"""The output-event ring (engine -> control) and the pending queue of timed rows (commands and
note events waiting for their sample). Compiled with ``kernel_jit`` (numba ``njit``).
"""

from __future__ import annotations

from .jit import kernel_jit
from .layout import (
    OUT_A,
    OUT_CAP,
    OUT_KIND,
    OUT_TIME,
    PQ_A,
    PQ_CAP,
    PQ_GEN,
    PQ_KIND,
    PQ_SEQ,
    PQ_TIME,
    RI_HEAD,
    RI_TAIL,
    S_EV_DROPPED,
    S_OUT_DROPPED,
    S_PQ_COUNT,
    S_PQ_SEQ,
)


@kernel_jit()
def out_push(S, kind, t, a, b, c, d, e, f):
    head = S.out_idx[RI_HEAD]
    if head - S.out_idx[RI_TAIL] >= OUT_CAP:
        S.st[S_OUT_DROPPED] += 1
        return
    r = head % OUT_CAP
    S.out[r, OUT_KIND] = kind
    S.out[r, OUT_TIME] = t
    S.out[r, OUT_A] = a
    S.out[r, OUT_A + 1] = b
    S.out[r, OUT_A + 2] = c
    S.out[r, OUT_A + 3] = d
    S.out[r, OUT_A + 4] = e
    S.out[r, OUT_A + 5] = f
    S.out_idx[RI_HEAD] = head + 1


@kernel_jit()
def pq_push(S, t, kind, a, b, c, d, e, f, gen):
    k = S.st[S_PQ_COUNT]
    if k >= PQ_CAP:
        S.st[S_EV_DROPPED] += 1
        return False
    S.pq[k, PQ_TIME] = t
    S.pq[k, PQ_KIND] = kind
    S.pq[k, PQ_A] = a
    S.pq[k, PQ_A + 1] = b
    S.pq[k, PQ_A + 2] = c
    S.pq[k, PQ_A + 3] = d
    S.pq[k, PQ_A + 4] = e
    S.pq[k, PQ_A + 5] = f
    S.pq[k, PQ_SEQ] = S.st[S_PQ_SEQ]
    S.pq[k, PQ_GEN] = gen
    S.st[S_PQ_SEQ] += 1
    S.st[S_PQ_COUNT] = k + 1
    return True


@kernel_jit()
def pq_next_before(S, tend):
    """Index of the earliest pending row with time < tend (ties: arrival order), or -1."""
    best = -1
    bt = 0.0
    bs = 0.0
    for k in range(S.st[S_PQ_COUNT]):
        t = S.pq[k, PQ_TIME]
        if t < tend:
            s = S.pq[k, PQ_SEQ]
            if best < 0 or t < bt or (t == bt and s < bs):
                best = k
                bt = t
                bs = s
    return best


@kernel_jit()
def pq_remove(S, k):
    last = S.st[S_PQ_COUNT] - 1
    if k != last:
        for j in range(S.pq.shape[1]):
            S.pq[k, j] = S.pq[last, j]
    S.st[S_PQ_COUNT] = last
