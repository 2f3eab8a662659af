"""The compiled real-time kernel: ``render(S, out, n)``.

Rules of this module (the real-time path):

- no allocation, no I/O, no locks, no logging, no Python objects: numpy arrays and math;
- every loop is bounded (rings are drained at most once around per chunk);
- anything that does not fit (a full queue or ring) is dropped and counted;
- the output never holds NaN/Inf and never exceeds +-1.0.

Work is done on an absolute grid of ``CHUNK`` samples: commands are drained and
generators run at each chunk start, whatever the host block size, so a seeded render
is bit-identical for any block size. Within a chunk, note events take effect on their
exact sample: voices are rendered up to the event, the event is applied, rendering
continues.

The kernel is split by concern: ``queue`` (output events, pending rows), ``voices`` (note-on/off,
pitch, live controls), ``apply`` (command rings into timed rows, rows on their sample, generators,
beats), ``neural`` (the timbre
worker's frames), ``synth`` (voices into layer buffers), ``mix`` (layers, limiter, effects
return). This module holds the chunk loop that calls them: ``render``.
"""

from __future__ import annotations

from .apply import apply_row, drain_commands, emit_beats, run_generators
from .jit import kernel_jit
from .layout import (
    CHUNK,
    LF_ACTIVE_VOICES,
    LF_TOUCHED,
    N_LAYERS,
    P_BEAT,
    P_BEAT_INC,
    P_BPM,
    P_SR,
    PQ_A,
    PQ_GEN,
    PQ_KIND,
    PQ_TIME,
    S_BLOCKS,
    S_SAMPLE,
    VF_LAYER,
    VF_STATE,
    VS_FREE,
)
from .mix import fx_return, mix_out
from .neural import neural_frames
from .queue import pq_next_before, pq_remove
from .synth import noise_gains, render_voices
from .voices import pitch_mod


@kernel_jit()
def chunk_start(S, t0):
    if t0 > 0:
        S.p[P_BEAT] += S.p[P_BEAT_INC]
    drain_commands(S, t0)
    S.p[P_BEAT_INC] = CHUNK * S.p[P_BPM] / (60.0 * S.p[P_SR])
    run_generators(S, t0)
    emit_beats(S, t0)
    neural_frames(S, t0)
    pitch_mod(S)
    for lay in range(N_LAYERS):
        for i in range(CHUNK):
            S.lbuf[lay, 0, i] = 0.0
            S.lbuf[lay, 1, i] = 0.0
        S.lf[lay, LF_ACTIVE_VOICES] = 0.0
        S.lf[lay, LF_TOUCHED] = 0.0
    for v in range(S.vf.shape[0]):
        if S.vf[v, VF_STATE] != VS_FREE:
            S.lf[int(S.vf[v, VF_LAYER]), LF_ACTIVE_VOICES] += 1.0
    noise_gains(S)


@kernel_jit()
def render_segment(S, a, b):
    """Render [a, b) applying every pending row that falls inside, on its sample."""
    cur = a
    while True:
        k = pq_next_before(S, float(b))
        if k < 0:
            break
        te = int(S.pq[k, PQ_TIME])
        if te < cur:
            te = cur
        if te > cur:
            render_voices(S, cur, te)
            cur = te
        kind = int(S.pq[k, PQ_KIND])
        a1 = S.pq[k, PQ_A]
        b1 = S.pq[k, PQ_A + 1]
        c1 = S.pq[k, PQ_A + 2]
        d1 = S.pq[k, PQ_A + 3]
        e1 = S.pq[k, PQ_A + 4]
        f1 = S.pq[k, PQ_A + 5]
        gen = S.pq[k, PQ_GEN]
        pq_remove(S, k)
        apply_row(S, te, kind, a1, b1, c1, d1, e1, f1, gen)
    render_voices(S, cur, b)


@kernel_jit()
def render(S, out, n):
    """Render ``n`` frames into ``out`` (float32 [>= n, 2]). Returns ``n``."""
    if n > out.shape[0]:
        n = out.shape[0]
    pos = 0
    while pos < n:
        t = S.st[S_SAMPLE]
        if t % CHUNK == 0:
            chunk_start(S, t)
        end = (t // CHUNK + 1) * CHUNK
        if end > t + (n - pos):
            end = t + (n - pos)
        render_segment(S, t, end)
        mix_out(S, out, pos, t, end)
        S.st[S_SAMPLE] = end
        pos += end - t
    S.st[S_BLOCKS] += 1
    return n


__all__ = ["fx_return", "mix_out", "render", "render_segment", "chunk_start"]
