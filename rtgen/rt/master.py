"""The master stage: a slow loudness follower and a true-peak-aware lookahead limiter.

Called by the kernel's mix (``mix_out``) in place of the plain peak limiter when
``p[P_M_ON]`` is 1 (presets switch it on, :func:`enable_master`). Per sample, allocation-free,
all state in ``p[P_M_*]`` (so the live callback, which rebuilds the state from addresses,
carries it too):

1. **loudness**: the mix is K-weighted (ITU-R BS.1770's two biquads, designed for the engine's
   sample rate) and its mean square is followed, gated at -60 LUFS (silence does not count):
   a running mean over the first ``M_WARM_S`` seconds, then a one-pole of ``M_SLOW_S``
   seconds. The gain moves towards ``target - loudness`` at most ``p[P_M_RATE]`` dB a second,
   so the piece's sections keep their contrast (its loudness range) while its level settles
   at the target (-16 LUFS by default);
2. **true peak**: each sample's inter-sample peak is estimated by 4x oversampling (three
   fractional phases of an 8-tap windowed sinc between each pair of samples); the gain that
   keeps it under the ceiling (-1 dBTP, with a margin for the estimate) is held as a minimum
   over the next ``M_LOOK`` samples and averaged over as many, so the gain is already down,
   smoothly, when the peak arrives; it recovers with a ~80 ms release. The output is delayed by
   ``M_LOOK + 4`` samples (0.75 ms at 48 kHz).

Deterministic: every value is a per-sample recursion on the absolute sample stream.
"""

from __future__ import annotations

import math

import numpy as np

from .jit import kernel_jit
from .layout import (
    M_LOOK,
    M_RING,
    P_M_CEIL,
    P_M_COUNT,
    P_M_FAST,
    P_M_FIR,
    P_M_GAIN_DB,
    P_M_H,
    P_M_KC,
    P_M_KS,
    P_M_LIM_G,
    P_M_LOUDNESS,
    P_M_ON,
    P_M_POS,
    P_M_R,
    P_M_RATE,
    P_M_SLOW,
    P_M_TARGET,
    P_M_XL,
    P_M_XR,
    P_PEAK_L,
    P_PEAK_R,
    P_SR,
    S_CLIPS,
    S_NONFINITE,
)

M_WARM_S = 20.0          # seconds of running mean before the follower becomes a one-pole
M_SLOW_S = 20.0          # the one-pole's time constant
M_GATE = 10.0 ** ((-60.0 + 0.691) / 10.0)   # -60 LUFS as a K-weighted mean square
M_MAX_BOOST_DB = 24.0
M_MAX_CUT_DB = -30.0
M_TP_MARGIN_DB = 0.3     # the 4x estimate can miss a little of the true peak


def k_weighting(sr: float) -> np.ndarray:
    """BS.1770 K-weighting for sample rate ``sr``: [b0 b1 b2 a1 a2] of the shelf, then the high-pass."""
    out = np.zeros(10, np.float64)
    # stage 1: high shelf, +4 dB above ~1.5 kHz
    g, q, fc = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    k = math.tan(math.pi * fc / sr)
    vh = 10.0 ** (g / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    out[0:5] = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
                2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    # stage 2: the RLB high-pass at ~38 Hz
    q, fc = 0.5003270373238773, 38.13547087602444
    k = math.tan(math.pi * fc / sr)
    a0 = 1.0 + k / q + k * k
    out[5:10] = [1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return out


def isp_fir() -> np.ndarray:
    """Three phases (1/4, 1/2, 3/4) of an 8-tap Kaiser-windowed sinc interpolator, [3 * 8]."""
    taps = np.zeros(24, np.float64)
    for ph in range(3):
        frac = (ph + 1) / 4.0
        for i in range(8):
            t = i - 3 - frac                  # taps at samples s-3 .. s+4 around s + frac
            w = np.i0(6.0 * math.sqrt(max(0.0, 1 - (t / 4.5) ** 2))) / np.i0(6.0)
            taps[ph * 8 + i] = np.sinc(t) * w
        taps[ph * 8:ph * 8 + 8] /= taps[ph * 8:ph * 8 + 8].sum()
    return taps


def master_values(sr: float, target_lufs: float = -16.0, ceiling_dbtp: float = -1.0,
                  rate_db_s: float = 1.5) -> list[tuple[int, float]]:
    """(p index, value) pairs that switch the stage on for ``sr`` (state reset)."""
    vals: list[tuple[int, float]] = [(P_M_TARGET, target_lufs),
                                     (P_M_CEIL, 10.0 ** ((ceiling_dbtp - M_TP_MARGIN_DB) / 20.0)),
                                     (P_M_RATE, rate_db_s), (P_M_GAIN_DB, 0.0), (P_M_FAST, 0.0), (P_M_SLOW, 0.0),
                                     (P_M_COUNT, 0.0), (P_M_LIM_G, 1.0), (P_M_POS, 0.0), (P_M_LOUDNESS, -70.0)]
    vals += [(P_M_KC + i, float(v)) for i, v in enumerate(k_weighting(sr))]
    vals += [(P_M_KS + i, 0.0) for i in range(8)]
    vals += [(P_M_FIR + i, float(v)) for i, v in enumerate(isp_fir())]
    for base in (P_M_XL, P_M_XR, P_M_H):
        vals += [(base + i, 0.0) for i in range(M_RING)]
    vals += [(P_M_R + i, 1.0) for i in range(M_RING)]
    vals.append((P_M_ON, 1.0))
    return vals


def enable_master(engine, target_lufs: float = -16.0, ceiling_dbtp: float = -1.0, now: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Switch the master stage on (``now``: write the state directly; else by commands)."""
    vals = master_values(float(engine.spec.sample_rate), target_lufs, ceiling_dbtp)
    for i, v in vals:
        if now:
            engine.state.p[i] = v
        else:
            engine.set_param(i, v)


@kernel_jit()
def _biquad(p, c, s, x):
    y = p[c] * x + p[s]
    p[s] = p[c + 1] * x - p[c + 3] * y + p[s + 1]
    p[s + 1] = p[c + 2] * x - p[c + 4] * y
    return y


@kernel_jit()
def _isp(p, base, w):
    """The largest |value| of the 4x-oversampled signal from sample w-4 to w-3 (ring ``base``)."""
    best = abs(p[base + ((w - 4) & (M_RING - 1))])
    for ph in range(3):
        acc = 0.0
        for i in range(8):
            acc += p[P_M_FIR + ph * 8 + i] * p[base + ((w - 7 + i) & (M_RING - 1))]
        if abs(acc) > best:
            best = abs(acc)
    return best


@kernel_jit()
def master_out(p, st, mix, out, pos, m, mg):
    """Loudness follower + true-peak lookahead limiter from ``mix[:m]`` into ``out[pos:pos + m]``."""
    sr = p[P_SR]
    a_fast = 1.0 - math.exp(-1.0 / (0.4 * sr))
    a_slow = 1.0 - math.exp(-1.0 / (M_SLOW_S * sr))
    warm = M_WARM_S * sr
    rel = 1.0 - math.exp(-1.0 / (0.08 * sr))
    step = p[P_M_RATE] / sr
    ceil = p[P_M_CEIL]
    if not (ceil > 0.0 and ceil <= 1.0):
        ceil = 0.84
    target = p[P_M_TARGET]
    gdb = p[P_M_GAIN_DB]
    fast = p[P_M_FAST]
    slow = p[P_M_SLOW]
    cnt = p[P_M_COUNT]
    lg = p[P_M_LIM_G]
    w = int(p[P_M_POS])
    pkl = p[P_PEAK_L]
    pkr = p[P_PEAK_R]
    mask = M_RING - 1
    for i in range(m):
        L = mix[i, 0] * mg
        R = mix[i, 1] * mg
        if not (math.isfinite(L) and math.isfinite(R)):
            st[S_NONFINITE] += 1
            L = 0.0
            R = 0.0
        # 1. loudness (K-weighted mean square, gated), and the slow gain towards the target
        kl = _biquad(p, P_M_KC + 5, P_M_KS + 2, _biquad(p, P_M_KC, P_M_KS, L))
        kr = _biquad(p, P_M_KC + 5, P_M_KS + 6, _biquad(p, P_M_KC, P_M_KS + 4, R))
        if not (math.isfinite(kl) and math.isfinite(kr)):
            for j in range(8):
                p[P_M_KS + j] = 0.0
            kl = 0.0
            kr = 0.0
        ms = kl * kl + kr * kr
        fast += a_fast * (ms - fast)
        if fast > M_GATE:
            cnt += 1.0
            if cnt < warm:
                slow += (ms - slow) / cnt
            else:
                slow += a_slow * (ms - slow)
        if slow > 1e-12 and cnt > 0.4 * sr:
            loud = -0.691 + 10.0 * math.log10(slow)
            want = target - loud
            if want > M_MAX_BOOST_DB:
                want = M_MAX_BOOST_DB
            if want < M_MAX_CUT_DB:
                want = M_MAX_CUT_DB
            if cnt < 2.0 * sr:                   # the first seconds: settle at once
                gdb = want
            elif want > gdb + step:
                gdb += step
            elif want < gdb - step:
                gdb -= step
            else:
                gdb = want
        g = 10.0 ** (gdb / 20.0)
        # 2. the limiter: write, estimate the true peak of sample w-4, hold and average the gain
        p[P_M_XL + (w & mask)] = L * g
        p[P_M_XR + (w & mask)] = R * g
        pk = max(_isp(p, P_M_XL, w), _isp(p, P_M_XR, w))
        p[P_M_R + ((w - 4) & mask)] = ceil / pk if pk > ceil else 1.0
        o = w - 4 - M_LOOK                       # the sample that leaves now
        held = 1.0
        for j in range(M_LOOK + 1):
            r = p[P_M_R + ((o + j) & mask)]
            if r < held:
                held = r
        p[P_M_H + (o & mask)] = held
        avg = 0.0
        for j in range(M_LOOK + 1):
            avg += p[P_M_H + ((o - j) & mask)]
        avg /= M_LOOK + 1
        lg += rel * (1.0 - lg)
        if avg < lg:
            lg = avg
        yl = p[P_M_XL + (o & mask)] * lg
        yr = p[P_M_XR + (o & mask)] * lg
        if yl > ceil or yl < -ceil or yr > ceil or yr < -ceil:
            st[S_CLIPS] += 1
            yl = min(ceil, max(-ceil, yl))
            yr = min(ceil, max(-ceil, yr))
        if abs(yl) > pkl:
            pkl = abs(yl)
        if abs(yr) > pkr:
            pkr = abs(yr)
        out[pos + i, 0] = yl
        out[pos + i, 1] = yr
        w += 1
    p[P_M_GAIN_DB] = gdb
    p[P_M_FAST] = fast
    p[P_M_SLOW] = slow
    p[P_M_COUNT] = cnt
    p[P_M_LIM_G] = lg
    p[P_M_POS] = float(w)
    p[P_M_LOUDNESS] = -0.691 + 10.0 * math.log10(slow) if slow > 1e-12 else -70.0
    p[P_PEAK_L] = pkl
    p[P_PEAK_R] = pkr


__all__ = ["M_LOOK", "enable_master", "isp_fir", "k_weighting", "master_out", "master_values"]
