"""Synthesis of the voices into the layer buffers: per-voice gains (ADSR or the model's ramped
amplitude), the wavetable oscillator, the brightness filters, and each voice's noise feeding
its layer's noise bank. Compiled with ``kernel_jit`` (numba ``njit``).
"""

from __future__ import annotations

import math

import numpy as np

from .jit import kernel_jit
from .layout import (
    BRIGHT_MAX_BOOST,
    CHUNK,
    ES_ATTACK,
    ES_DECAY,
    ES_RELEASE,
    ES_SUSTAIN,
    IP_DECAY_TIME,
    LF_TOUCHED,
    N_LAYERS,
    N_NOISE_BANDS,
    P_SR,
    PHASE_FRAC_BITS,
    VF_AGE,
    VF_AMP,
    VF_AMP_INC,
    VF_AMP_TARGET,
    VF_ATTACK,
    VF_BR_COEF,
    VF_BR_LP,
    VF_BR_NORM,
    VF_BREATH,
    VF_BRIGHT,
    VF_DECAY,
    VF_ENV,
    VF_ENV_STAGE,
    VF_GAIN,
    VF_INC,
    VF_INSTR,
    VF_LAST_OUT,
    VF_LAYER,
    VF_LP,
    VF_LP_COEF,
    VF_NEURAL,
    VF_NOISE,
    VF_NOISE_COEF,
    VF_NOISE_ENV,
    VF_ONESHOT,
    VF_PAN,
    VF_PHASE,
    VF_REL_AGE,
    VF_RELEASE,
    VF_STATE,
    VF_SUSLEVEL,
    VF_XF,
    VF_XF_INC,
    VS_FREE,
    VS_RELEASED,
)
from .voices import _coef, _voice_gain, free_voice

ENV_FLOOR = 1e-4   # -80 dB: a released voice below this is free


@kernel_jit()
def noise_gains(S):
    """Per layer and band, the power sum of the sounding voices' noise (one source per layer)."""
    for lay in range(N_LAYERS):
        for b in range(N_NOISE_BANDS):
            S.nz[lay, b, 3] = S.nz[lay, b, 2]      # previous chunk's gain: start of the ramp
            S.nz[lay, b, 2] = 0.0
    for v in range(S.vf.shape[0]):
        if S.vf[v, VF_STATE] == VS_FREE:
            continue
        # the noise envelope advances once per chunk (the same whatever the host block size)
        if S.vf[v, VF_AGE] > 0.0 and S.vf[v, VF_NOISE_COEF] != 1.0:
            S.vf[v, VF_NOISE_ENV] *= S.vf[v, VF_NOISE_COEF] ** CHUNK
        if S.vf[v, VF_NOISE] <= 0.0:
            continue
        lay = int(S.vf[v, VF_LAYER])
        if S.vf[v, VF_NEURAL] > 0.0:
            a = _voice_gain(S)
        else:
            a = S.vf[v, VF_NOISE] * S.vf[v, VF_NOISE_ENV] * S.vf[v, VF_ENV] * S.vf[v, VF_GAIN]
        a *= S.vf[v, VF_BREATH]
        for b in range(N_NOISE_BANDS):
            x = a * S.vnb[v, b]
            S.nz[lay, b, 2] += x * x
    for lay in range(N_LAYERS):
        for b in range(N_NOISE_BANDS):
            S.nz[lay, b, 2] = math.sqrt(S.nz[lay, b, 2])


@kernel_jit()
def _voice_gains(S, v, m, neural, g):
    """Pass 1 of a voice: its envelope (ADSR, or the model's ramped amplitude) for m samples
    into vscr[1] (the per-sample gain) and its crossfade position into vscr[2].

    Returns how many samples the voice sounds (fewer than m when it ends in this segment).
    Every value is a per-sample recursion, so a voice's gains do not depend on where block
    boundaries split its samples.
    """
    sr = S.p[P_SR]
    gains = S.vscr[1]
    xfs = S.vscr[2]
    st = S.vf[v, VF_STATE]
    env = S.vf[v, VF_ENV]
    stage = int(S.vf[v, VF_ENV_STAGE])
    xf = S.vf[v, VF_XF]
    xfi = S.vf[v, VF_XF_INC]
    amp = S.vf[v, VF_AMP]
    ampt = S.vf[v, VF_AMP_TARGET]
    ampi = S.vf[v, VF_AMP_INC]
    if neural:
        env = 1.0             # the model's amplitude is the whole envelope
        stage = -1
    # a released neural voice ends on the first sample where the model's level is below
    # -80 dB and heading there, or 10 s after its release, whatever the model says
    oneshot = S.vf[v, VF_ONESHOT] > 0.0
    neural_rel = neural and (st == VS_RELEASED or oneshot)
    mm = m
    ins = int(S.vf[v, VF_INSTR])
    pdec = S.iparam[ins, IP_DECAY_TIME]
    pcoef = _coef(pdec, sr) if pdec > 0.0 else 1.0
    if stage == ES_SUSTAIN and pcoef == 1.0 and ampi == 0.0 and not neural_rel and not oneshot:
        # the common case of a held note: a constant gain
        gv = env * amp
        for i in range(m):
            gains[i] = gv
    else:
        sus = S.vf[v, VF_SUSLEVEL]
        att = S.vf[v, VF_ATTACK]
        att_inc = 1.0 if att <= 1e-5 else 1.0 / (att * sr)
        dcoef = _coef(S.vf[v, VF_DECAY], sr)
        rcoef = _coef(S.vf[v, VF_RELEASE], sr)
        rel_left = 10.0 * sr - S.vf[v, VF_REL_AGE]
        if oneshot:            # a one-shot voice ends on its own, 10 s after its start at most
            rel_left = 10.0 * sr - S.vf[v, VF_AGE]
        for i in range(m):
            if neural_rel and ((amp * g < ENV_FLOOR and ampt * g < ENV_FLOOR) or i >= rel_left):
                mm = i
                break
            if stage == ES_ATTACK:
                env += att_inc
                if env >= 1.0:
                    env = 1.0
                    stage = ES_DECAY
            elif stage == ES_DECAY:
                env = sus + (env - sus) * dcoef
                if env - sus < 1e-5:
                    env = sus
                    stage = ES_SUSTAIN
            elif stage == ES_SUSTAIN:
                env *= pcoef
                if oneshot and (env < ENV_FLOOR or i >= rel_left):
                    mm = i
                    break
            elif stage == ES_RELEASE:
                env *= rcoef
                if env < ENV_FLOOR:
                    mm = i
                    break
            if ampi != 0.0:
                amp += ampi
                if (ampi > 0.0 and amp >= ampt) or (ampi < 0.0 and amp <= ampt):
                    amp = ampt
                    ampi = 0.0
            gains[i] = env * amp
    if xf > 0.0:
        for i in range(mm):
            xfs[i] = xf
            xf += xfi
            if xf > 1.0:
                xf = 1.0
    if not neural:
        S.vf[v, VF_ENV] = env
        S.vf[v, VF_ENV_STAGE] = stage
    S.vf[v, VF_XF] = xf
    S.vf[v, VF_AMP] = amp
    S.vf[v, VF_AMP_INC] = ampi
    return mm


@kernel_jit(inline="always")
def _table_at(tab, q):
    """Table ``tab`` at the 32-bit fixed-point phase ``q``, linearly interpolated (float32)."""
    i0 = q >> np.uint32(PHASE_FRAC_BITS)
    fr = np.float32(q & np.uint32((1 << PHASE_FRAC_BITS) - 1)) * np.float32(1.0 / (1 << PHASE_FRAC_BITS))
    a0 = tab[i0]
    return a0 + fr * (tab[i0 + 1] - a0)


@kernel_jit()
def _voice_wave(S, v, mm, crossfade):
    """Pass 2 of a voice: its wavetable read at mm successive phases into vscr[0], linear
    interpolation, crossfading table 0 into table 1 by vscr[2] when ``crossfade``.

    The phase is 32-bit fixed point (VF_INC rounded to it): the phase of sample i is
    q0 + i * inc, exactly, whatever segments the samples were rendered in, and no sample
    waits for the one before. Single precision: the tables are float32 already, the
    interpolation error stays below -140 dB."""
    q0 = np.uint32(S.vf[v, VF_PHASE])
    inc = np.uint32(int(S.vf[v, VF_INC] * 4294967296.0 + 0.5))
    t0 = S.vtab[v, 0]
    t1 = S.vtab[v, 1]
    ws = S.vscr[0]
    xfs = S.vscr[2]
    if crossfade:
        for i in range(mm):
            q = np.uint32(q0 + np.uint32(i) * inc)          # wraps at one cycle
            s0 = _table_at(t0, q)
            ws[i] = s0 + xfs[i] * (_table_at(t1, q) - s0)
    else:
        for i in range(mm):
            ws[i] = _table_at(t0, np.uint32(q0 + np.uint32(i) * inc))
    S.vf[v, VF_PHASE] = float(np.uint32(q0 + np.uint32(mm) * inc))


@kernel_jit(fastmath={"contract"})
def _lowpass(ws, mm, lp, lpc):
    """The brightness one-pole lowpass over ws[:mm], in place; returns its state.

    Written as lp = d * lp + lpc * x and compiled with FMA contraction, the recursion waits
    for one fused multiply-add per sample instead of a subtract, a multiply and an add."""
    d = 1.0 - lpc
    for i in range(mm):
        lp = d * lp + lpc * ws[i]
        ws[i] = lp
    return lp


@kernel_jit()
def _brighten(ws, mm, lp, c, br, norm):
    """Brightness over ws[:mm] in place: below 0 the lowpass output, above 0 the input plus
    ``br * BRIGHT_MAX_BOOST`` times its content above the filter, scaled by ``norm`` (the
    fundamental keeps its level); returns the filter state."""
    k = br * BRIGHT_MAX_BOOST
    for i in range(mm):
        x = ws[i]
        lp += c * (x - lp)
        if br < 0.0:
            ws[i] = lp
        else:
            ws[i] = (x + k * (x - lp)) * norm
    return lp


@kernel_jit()
def render_voices(S, a, b):
    """Render every sounding voice from absolute sample a to b (same chunk) into lbuf.

    Each voice in passes over a 64-sample scratch: its gains (a recursion, scalar), its
    wave (independent samples, vectorised), its brightness lowpass (a recursion, only when
    the filter is on), then gain, pan and the sum into its layer (vectorised).
    """
    m = b - a
    if m <= 0:
        return
    off = a % CHUNK
    ws = S.vscr[0]
    gains = S.vscr[1]
    for v in range(S.vf.shape[0]):
        st = S.vf[v, VF_STATE]
        if st == VS_FREE:
            continue
        lay = int(S.vf[v, VF_LAYER])
        S.lf[lay, LF_TOUCHED] = 1.0
        neural = S.vf[v, VF_NEURAL] > 0.0
        g = _voice_gain(S) if neural else S.vf[v, VF_GAIN]
        ang = (S.vf[v, VF_PAN] + 1.0) * 0.25 * math.pi
        gl = math.cos(ang) * g
        gr = math.sin(ang) * g
        crossfade = S.vf[v, VF_XF] > 0.0
        mm = _voice_gains(S, v, m, neural, g)
        _voice_wave(S, v, mm, crossfade)
        lpc = S.vf[v, VF_LP_COEF]
        if lpc < 1.0:
            S.vf[v, VF_LP] = _lowpass(ws, mm, S.vf[v, VF_LP], lpc)
        elif mm > 0:
            S.vf[v, VF_LP] = ws[mm - 1]
        br = S.vf[v, VF_BRIGHT]
        if br != 0.0:
            S.vf[v, VF_BR_LP] = _brighten(ws, mm, S.vf[v, VF_BR_LP], S.vf[v, VF_BR_COEF], br,
                                          S.vf[v, VF_BR_NORM])
        lbl = S.lbuf[lay, 0]
        lbr = S.lbuf[lay, 1]
        for i in range(mm):
            y = ws[i] * gains[i]
            lbl[off + i] += y * gl
            lbr[off + i] += y * gr
        last = gains[mm - 1] if mm > 0 else 0.0
        S.vf[v, VF_AGE] += m
        S.vf[v, VF_LAST_OUT] = g * (last if last > 0.0 else 0.0)
        if st == VS_RELEASED:
            S.vf[v, VF_REL_AGE] += m
        if mm < m:
            free_voice(S, v)
