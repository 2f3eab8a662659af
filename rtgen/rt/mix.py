"""The mix: layers (gain smoothing, pan, noise bank, aux sends) into the master, the peak limiter,
and the live effects return (send/return rings). Compiled with ``kernel_jit`` (numba ``njit``).
"""

from __future__ import annotations

import math

from .jit import kernel_jit
from .layout import (
    CHUNK,
    FX_CAP,
    FXI_ENABLED,
    FXI_LATE,
    FXI_LATENCY,
    FXI_NONFINITE,
    FXI_RET_HEAD,
    FXI_SEND_HEAD,
    FXL_INSERT,
    FXL_SEND,
    LF_GAIN,
    LF_GAIN_SMOOTH,
    LF_MUTE,
    LF_PAN,
    LF_PEAK_L,
    LF_PEAK_R,
    LF_TOUCHED,
    N_FX_BUS,
    N_LAYERS,
    N_NOISE_BANDS,
    P_LIMIT_CEIL,
    P_LIMIT_GAIN,
    P_LIMIT_RELEASE,
    P_M_ON,
    P_MASTER_GAIN,
    P_PEAK_L,
    P_PEAK_R,
    P_SR,
    S_CLIPS,
    S_NONFINITE,
    S_SAMPLE,
)
from .master import master_out  # music: the master stage
from .rng import uniform


@kernel_jit()
def _layer_noise(S, lay, off, i):
    """One sample of a layer's noise bank: its own white source through the band filters."""
    ns = 0.0
    for bnd in range(N_NOISE_BANDS):
        g1 = S.nz[lay, bnd, 3]
        g2 = S.nz[lay, bnd, 2]
        if g1 == 0.0 and g2 == 0.0:
            continue
        gn = g1 + (g2 - g1) * ((off + i) / CHUNK)
        w = uniform(S.lrng, lay) * 2.0 - 1.0
        ic1 = S.nz[lay, bnd, 0]
        ic2 = S.nz[lay, bnd, 1]
        v3 = w - ic2
        v1 = S.nzc[bnd, 0] * ic1 + S.nzc[bnd, 1] * v3
        v2 = ic2 + S.nzc[bnd, 1] * ic1 + S.nzc[bnd, 2] * v3
        S.nz[lay, bnd, 0] = 2.0 * v1 - ic1
        S.nz[lay, bnd, 1] = 2.0 * v2 - ic2
        ns += S.nzc[bnd, 3] * v1 * gn
    return ns


@kernel_jit()
def mix_out(S, out, pos, a, b):
    """Mix the layers of [a, b) into out[pos:], with the per-layer sends, master gain and limiter.

    Layer-major: each layer's pan is computed once, a layer that is silent (no voice rendered
    in this chunk, no noise) and whose gain has settled is skipped. Every layer draws its noise
    from its own generator, so the result does not depend on how the chunk is segmented.
    """
    m = b - a
    off = a % CHUNK
    sr = S.p[P_SR]
    smooth = 1.0 - math.exp(-1.0 / (0.01 * sr))        # 10 ms gain smoothing
    mg = S.p[P_MASTER_GAIN]
    if not math.isfinite(mg) or mg < 0.0:
        mg = 0.0
    mix = S.mbuf
    for i in range(m):
        mix[i, 0] = 0.0
        mix[i, 1] = 0.0
    sends = S.fxi[FXI_ENABLED] != 0
    if sends:
        for i in range(m):
            j = (a + i) % FX_CAP
            for bus in range(N_FX_BUS):
                S.fxa[bus, j, 0] = 0.0
                S.fxa[bus, j, 1] = 0.0
    for lay in range(N_LAYERS):
        tg = S.lf[lay, LF_GAIN] * (0.0 if S.lf[lay, LF_MUTE] > 0.5 else 1.0)
        gs = S.lf[lay, LF_GAIN_SMOOTH]
        noisy = False
        for bnd in range(N_NOISE_BANDS):
            if S.nz[lay, bnd, 2] != 0.0 or S.nz[lay, bnd, 3] != 0.0:
                noisy = True
        if S.lf[lay, LF_TOUCHED] == 0.0 and not noisy:
            if gs != tg:       # keep the gain moving exactly as if the layer were sounding
                for _ in range(m):
                    gs += smooth * (tg - gs)
                    if abs(tg - gs) < 1e-9:
                        gs = tg
                S.lf[lay, LF_GAIN_SMOOTH] = gs
            continue
        ang = (S.lf[lay, LF_PAN] + 1.0) * 0.25 * math.pi
        cl = math.cos(ang) * 1.4142135623730951
        cr = math.sin(ang) * 1.4142135623730951
        dry = 0.0 if S.fxl[lay, FXL_INSERT] > 0.5 else 1.0
        send = False
        if sends:
            for bus in range(N_FX_BUS):
                if S.fxl[lay, FXL_SEND + bus] != 0.0:
                    send = True
        pl = S.lf[lay, LF_PEAK_L]
        pr = S.lf[lay, LF_PEAK_R]
        for i in range(m):
            gs += smooth * (tg - gs)
            if abs(tg - gs) < 1e-9:
                gs = tg
            xl = S.lbuf[lay, 0, off + i]
            xr = S.lbuf[lay, 1, off + i]
            if noisy:
                ns = _layer_noise(S, lay, off, i) * 0.7071067811865476
                xl += ns
                xr += ns
            yl = xl * gs * cl
            yr = xr * gs * cr
            if abs(yl) > pl:
                pl = abs(yl)
            if abs(yr) > pr:
                pr = abs(yr)
            if send:
                j = (a + i) % FX_CAP
                for bus in range(N_FX_BUS):
                    g = S.fxl[lay, FXL_SEND + bus]
                    if g != 0.0:
                        S.fxa[bus, j, 0] += g * yl * mg
                        S.fxa[bus, j, 1] += g * yr * mg
            mix[i, 0] += yl * dry
            mix[i, 1] += yr * dry
        S.lf[lay, LF_GAIN_SMOOTH] = gs
        S.lf[lay, LF_PEAK_L] = pl
        S.lf[lay, LF_PEAK_R] = pr
    if S.p[P_M_ON] > 0.5:         # the master loudness stage and true-peak limiter (rt/master.py)
        master_out(S.p, S.st, mix, out, pos, m, mg)
    else:
        limit_out(S, out, pos, m, mg)


@kernel_jit()
def limit_out(S, out, pos, m, mg):
    """Master gain, a peak limiter with instant attack (the ceiling is never exceeded), and a
    last guard against non-finite values, into out[pos:pos + m]."""
    sr = S.p[P_SR]
    rel = 1.0 - math.exp(-1.0 / (max(S.p[P_LIMIT_RELEASE], 0.001) * sr))
    ceil = S.p[P_LIMIT_CEIL]
    if not (ceil > 0.0 and ceil <= 1.0):
        ceil = 0.98
    g = S.p[P_LIMIT_GAIN]
    if not (g > 0.0 and g <= 1.0):
        g = 1.0
    pkl = S.p[P_PEAK_L]
    pkr = S.p[P_PEAK_R]
    mix = S.mbuf
    for i in range(m):
        L = mix[i, 0] * mg
        R = mix[i, 1] * mg
        if not (math.isfinite(L) and math.isfinite(R)):
            S.st[S_NONFINITE] += 1
            L = 0.0
            R = 0.0
            # a non-finite sample means a voice or filter blew up: reset the noise filters
            for lay in range(N_LAYERS):
                for bnd in range(N_NOISE_BANDS):
                    S.nz[lay, bnd, 0] = 0.0
                    S.nz[lay, bnd, 1] = 0.0
        pk = max(abs(L), abs(R))
        if pk * g > ceil:
            g = ceil / pk
        else:
            g += rel * (1.0 - g)
            if pk * g > ceil:
                g = ceil / pk
        L *= g
        R *= g
        if L > 1.0 or L < -1.0 or R > 1.0 or R < -1.0:
            S.st[S_CLIPS] += 1
            L = min(1.0, max(-1.0, L))
            R = min(1.0, max(-1.0, R))
        if abs(L) > pkl:
            pkl = abs(L)
        if abs(R) > pkr:
            pkr = abs(R)
        out[pos + i, 0] = L
        out[pos + i, 1] = R
    S.p[P_LIMIT_GAIN] = g
    S.p[P_PEAK_L] = pkl
    S.p[P_PEAK_R] = pkr


@kernel_jit()
def fx_return(S, out, n):
    """Route the block just rendered into ``out`` through the effects worker (see FXI_* in layout).

    The dry block goes into the send ring at its absolute position; ``out`` is replaced by the
    frames of ``latency`` samples ago: wet from the return ring when the worker has written
    them, dry from the send ring otherwise (counted in ``fxi[FXI_LATE]``).
    """
    t = S.st[S_SAMPLE] - n
    for i in range(n):
        j = (t + i) % FX_CAP
        S.fxs[j, 0] = out[i, 0]
        S.fxs[j, 1] = out[i, 1]
    S.fxi[FXI_SEND_HEAD] = t + n
    lat = S.fxi[FXI_LATENCY]
    if lat < 0:
        lat = 0
    if lat > FX_CAP - n:
        lat = FX_CAP - n
    a = t - lat
    ret = S.fxi[FXI_RET_HEAD]
    wet = a >= 0 and ret >= a + n and ret - (a + n) < FX_CAP - n
    if not wet:
        S.fxi[FXI_LATE] += 1
    for i in range(n):
        if a + i < 0:
            out[i, 0] = 0.0
            out[i, 1] = 0.0
            continue
        j = (a + i) % FX_CAP
        if wet:
            x = S.fxr[j, 0]
            y = S.fxr[j, 1]
            if not (math.isfinite(x) and math.isfinite(y)):
                S.fxi[FXI_NONFINITE] += 1
                x = 0.0
                y = 0.0
            out[i, 0] = min(1.0, max(-1.0, x))
            out[i, 1] = min(1.0, max(-1.0, y))
        else:
            out[i, 0] = S.fxs[j, 0]
            out[i, 1] = S.fxs[j, 1]
