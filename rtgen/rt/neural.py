"""Neural frames: at each hop boundary a voice moves onto the frame the timbre worker published
for it, or falls back to the additive envelope at the same level (counted). Compiled with
``kernel_jit`` (numba ``njit``).
"""

from __future__ import annotations

import math

from .jit import kernel_jit
from .layout import (
    CHUNK,
    ES_RELEASE,
    ES_SUSTAIN,
    N_NOISE_BANDS,
    P_HOP,
    P_NEURAL,
    S_HOP_INDEX,
    S_LATE_FRAMES,
    S_VOICE_HOPS,
    VF_AGE,
    VF_AMP,
    VF_AMP_INC,
    VF_AMP_TARGET,
    VF_CENTS,
    VF_CENTS_INC,
    VF_ENV,
    VF_ENV_STAGE,
    VF_GAIN,
    VF_LP_COEF,
    VF_NEURAL,
    VF_NOISE,
    VF_NOISE_COEF,
    VF_NOISE_ENV,
    VF_NOTE_ID,
    VF_ONESHOT,
    VF_STATE,
    VF_SUSLEVEL,
    VF_XF,
    VF_XF_INC,
    VS_FREE,
    VS_ON,
)
from .voices import _voice_gain


@kernel_jit()
def _to_fallback(S, v):
    """A neural voice whose frame is late continues on the additive envelope at the same level."""
    g = S.vf[v, VF_GAIN]
    lvl = S.vf[v, VF_AMP] * _voice_gain(S)
    env = lvl / g if g > 0.0 else 0.0
    if env > 1.0:
        env = 1.0
    S.vf[v, VF_ENV] = env
    S.vf[v, VF_SUSLEVEL] = env
    on = S.vf[v, VF_STATE] == VS_ON or S.vf[v, VF_ONESHOT] > 0.0
    S.vf[v, VF_ENV_STAGE] = ES_SUSTAIN if on else ES_RELEASE
    S.vf[v, VF_AMP] = 1.0
    S.vf[v, VF_AMP_TARGET] = 1.0
    S.vf[v, VF_AMP_INC] = 0.0
    S.vf[v, VF_NEURAL] = 0.0
    # noise: the last frame's bands, on the envelope from here
    S.vf[v, VF_NOISE] = 1.0 / g if g > 0.0 else 0.0
    S.vf[v, VF_NOISE_ENV] = 1.0
    S.vf[v, VF_NOISE_COEF] = 1.0
    S.vf[v, VF_CENTS_INC] = 0.0          # the pitch deviation holds where the last frame left it


@kernel_jit()
def neural_frames(S, t0):
    """At a hop boundary, move each voice onto the frame the timbre worker published for it.

    Frames live in a ring of ``NF_DEPTH`` per voice (hop h in slot h % NF_DEPTH). A voice
    with its frame plays it at the model's absolute level (``VF_AMP * P_VOICE_GAIN``, no ADSR,
    no velocity gain: the model's amplitude holds them); a voice whose frame is missing or
    not finite continues on the additive envelope from the same level, and is counted.
    """
    hop = int(S.p[P_HOP])
    if hop <= 0 or t0 % hop != 0:
        return
    h = t0 // hop
    S.st[S_HOP_INDEX] = h
    if S.p[P_NEURAL] <= 0.0:
        return
    depth = S.nf_hop.shape[0]
    sl = h % depth
    inv = 1.0 / hop
    vg = _voice_gain(S)
    for v in range(S.vf.shape[0]):
        if S.vf[v, VF_STATE] == VS_FREE:
            continue
        S.st[S_VOICE_HOPS] += 1
        ok = S.nf_hop[sl, v] == h and S.nf_id[sl, v] == int(S.vf[v, VF_NOTE_ID])
        amp = S.nf_amp[sl, v] if ok else 0.0
        if ok and not (math.isfinite(amp) and 0.0 <= amp <= 16.0):
            ok = False
        if ok:
            for i in range(S.nf_tab.shape[2]):
                if not math.isfinite(S.nf_tab[sl, v, i]):
                    ok = False
                    break
        if not ok:
            if S.vf[v, VF_NEURAL] > 0.0:
                _to_fallback(S, v)
                S.st[S_LATE_FRAMES] += 1
            elif S.vf[v, VF_AGE] >= depth * hop:
                S.st[S_LATE_FRAMES] += 1      # its first frame should have come by now
            continue
        if S.vf[v, VF_NEURAL] <= 0.0:
            # from the envelope to the model: start from the level the voice has now
            lvl = S.vf[v, VF_ENV] * S.vf[v, VF_GAIN]
            S.vf[v, VF_AMP] = lvl / vg
            S.vf[v, VF_NEURAL] = 1.0
            S.vf[v, VF_LP_COEF] = 1.0
        if S.vf[v, VF_XF] > 0.0:
            for i in range(S.vtab.shape[2]):
                S.vtab[v, 0, i] = S.vtab[v, 1, i]
        for i in range(S.vtab.shape[2]):
            S.vtab[v, 1, i] = S.nf_tab[sl, v, i]
        S.vf[v, VF_XF] = 1e-12
        S.vf[v, VF_XF_INC] = inv
        S.vf[v, VF_AMP_TARGET] = amp
        S.vf[v, VF_AMP_INC] = (amp - S.vf[v, VF_AMP]) * inv
        for b in range(N_NOISE_BANDS):
            x = S.nf_noise[sl, v, b]
            S.vnb[v, b] = x if (math.isfinite(x) and 0.0 <= x <= 16.0) else 0.0
        S.vf[v, VF_NOISE] = 1.0
        # the model's pitch deviation (vibrato, scoops): reached by the end of the hop, per chunk
        c = S.nf_cents[sl, v]
        if not (math.isfinite(c) and -1200.0 <= c <= 1200.0):
            c = 0.0
        S.vf[v, VF_CENTS_INC] = (c - S.vf[v, VF_CENTS]) * CHUNK * inv
