"""Voices: choosing one (stealing the quietest), note-on and note-off, release, the pitch of a voice
(tuning override, bend, vibrato and the model's f0_cents) and its live controls (vibrato,
brightness, breath). Compiled with ``kernel_jit`` (numba ``njit``).
"""

from __future__ import annotations

import math

from .jit import kernel_jit
from .layout import (
    BRIGHT_MAX_BOOST,
    CHUNK,
    ES_ATTACK,
    ES_DONE,
    ES_RELEASE,
    IP_ATTACK,
    IP_BRIGHT,
    IP_DECAY,
    IP_GAIN,
    IP_NOISE,
    IP_NOISE_BAND,
    IP_NOISE_DECAY,
    IP_ONESHOT,
    IP_RELEASE,
    IP_SUSTAIN,
    LF_BEND,
    LF_BREATH,
    LF_BRIGHT,
    LF_INSTR,
    LF_SUSTAIN,
    LF_VIB_DEPTH,
    LF_VIB_RATE,
    N_INSTR,
    N_LAYERS,
    N_NOISE_BANDS,
    O_NOTE_OFF,
    O_NOTE_ON,
    O_STEAL,
    P_SR,
    P_VOICE_GAIN,
    S_NOTE_ID,
    S_NOTES,
    S_STEALS,
    VF_AGE,
    VF_AMP,
    VF_AMP_INC,
    VF_AMP_TARGET,
    VF_ATTACK,
    VF_BEND,
    VF_BR_COEF,
    VF_BR_LP,
    VF_BR_NORM,
    VF_BREATH,
    VF_BRIGHT,
    VF_CENTS,
    VF_CENTS_INC,
    VF_DECAY,
    VF_ENV,
    VF_ENV_STAGE,
    VF_GAIN,
    VF_GEN,
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
    VF_NOTE,
    VF_NOTE_ID,
    VF_ONESHOT,
    VF_PAN,
    VF_PHASE,
    VF_PMOD,
    VF_REL_AGE,
    VF_RELEASE,
    VF_STATE,
    VF_SUSLEVEL,
    VF_SUSTAINED,
    VF_VEL,
    VF_VIB_DEPTH,
    VF_VIB_PHASE,
    VF_VIB_RATE,
    VF_XF,
    VF_XF_INC,
    VIB_RATE_DEFAULT,
    VS_FREE,
    VS_ON,
    VS_RELEASED,
)
from .queue import out_push


@kernel_jit()
def _coef(seconds, sr):
    """Per-sample multiplier that falls by 60 dB in ``seconds``."""
    if seconds <= 1e-5:
        return 0.0
    return math.exp(-6.907755278982137 / (seconds * sr))


@kernel_jit()
def _voice_gain(S):
    vg = S.p[P_VOICE_GAIN]
    return vg if vg > 0.0 else 1.0


@kernel_jit()
def set_increment(S, v):
    """VF_INC from the note, the instrument's tuning override (``inote_hz``), bend and pitch
    modulation (VF_PMOD: vibrato and the model's f0_cents). A one-shot voice (a drum) sounds at
    its key's frequency: no bend, no modulation."""
    sr = S.p[P_SR]
    oneshot = S.vf[v, VF_ONESHOT] > 0.0
    if oneshot:
        note = S.vf[v, VF_NOTE]
    else:
        note = S.vf[v, VF_NOTE] + S.vf[v, VF_BEND] + S.vf[v, VF_PMOD] * 0.01
    ins = int(S.vf[v, VF_INSTR])
    n = int(S.vf[v, VF_NOTE] + 0.5)
    hz = 0.0
    if 0 <= ins < S.inote_hz.shape[0] and 0 <= n < S.inote_hz.shape[1]:
        hz = S.inote_hz[ins, n]
    if hz > 0.0 and math.isfinite(hz):
        f0 = hz * 2.0 ** ((note - n) / 12.0)
    else:
        f0 = 440.0 * 2.0 ** ((note - 69.0) / 12.0)
    inc = f0 / sr
    if inc > 0.49:
        inc = 0.49
    S.vf[v, VF_INC] = inc


@kernel_jit()
def set_bright(S, v):
    """The brightness filter's coefficient: a one-pole lowpass whose cutoff falls from 256 f0
    (brightness 0) to f0 (brightness -1); above 0 the same filter's high part is boosted."""
    b = S.vf[v, VF_BRIGHT]
    if not math.isfinite(b):
        b = 0.0
    b = min(1.0, max(-1.0, b))
    S.vf[v, VF_BRIGHT] = b
    sr = S.p[P_SR]
    f0 = S.vf[v, VF_INC] * sr
    if b < 0.0:
        fc = f0 * 2.0 ** (8.0 * (1.0 + b))
    else:
        fc = 4.0 * f0
    if fc > 0.45 * sr:
        fc = 0.45 * sr
    S.vf[v, VF_BR_COEF] = 1.0 - math.exp(-2.0 * math.pi * fc / sr)
    # the shelf x + k (x - lp) at frequency f has the gain sqrt(1 + r^2 (1 + k)^2) / sqrt(1 + r^2),
    # r = f / fc: divided by its value at the fundamental, the fundamental keeps its level
    r = f0 / fc if fc > 0.0 else 0.0
    k = b * BRIGHT_MAX_BOOST
    S.vf[v, VF_BR_NORM] = math.sqrt((1.0 + r * r) / (1.0 + r * r * (1.0 + k) ** 2)) if b > 0.0 else 1.0


@kernel_jit()
def set_voice_control(S, v, col, value):
    """One of a voice's live controls (VF_VIB_DEPTH / VF_VIB_RATE cents, Hz; VF_BRIGHT -1..1;
    VF_BREATH in dB), clamped to its range."""
    if col == VF_VIB_DEPTH:
        S.vf[v, VF_VIB_DEPTH] = min(200.0, max(0.0, value))
    elif col == VF_VIB_RATE:
        S.vf[v, VF_VIB_RATE] = min(20.0, max(0.0, value))
    elif col == VF_BRIGHT:
        S.vf[v, VF_BRIGHT] = value
        set_bright(S, v)
    elif col == VF_BREATH:
        db = min(24.0, max(-60.0, value))
        S.vf[v, VF_BREATH] = 10.0 ** (db / 20.0) if db != 0.0 else 1.0


@kernel_jit()
def release_voice(S, v, t):
    if S.vf[v, VF_STATE] != VS_ON:
        return
    S.vf[v, VF_STATE] = VS_RELEASED
    if S.vf[v, VF_ONESHOT] <= 0.0:      # a one-shot voice keeps its envelope: it ends on its own
        S.vf[v, VF_ENV_STAGE] = ES_RELEASE
    S.vf[v, VF_REL_AGE] = 0.0
    S.vf[v, VF_SUSTAINED] = 0.0
    out_push(S, O_NOTE_OFF, t, S.vf[v, VF_NOTE], 0.0, S.vf[v, VF_LAYER], v, S.vf[v, VF_INSTR],
             S.vf[v, VF_NOTE_ID])


@kernel_jit()
def free_voice(S, v):
    S.vf[v, VF_STATE] = VS_FREE
    S.vf[v, VF_ENV] = 0.0
    S.vf[v, VF_ENV_STAGE] = ES_DONE
    S.vf[v, VF_LAST_OUT] = 0.0
    S.vf[v, VF_NEURAL] = 0.0


@kernel_jit()
def pick_voice(S):
    """A free voice; else the quietest released one; else the quietest sounding one."""
    nv = S.vf.shape[0]
    best = -1
    bestlvl = 1e30
    for v in range(nv):
        if S.vf[v, VF_STATE] == VS_FREE:
            return v, False
    for v in range(nv):
        if S.vf[v, VF_STATE] == VS_RELEASED:
            lvl = S.vf[v, VF_LAST_OUT]
            if lvl < bestlvl:
                bestlvl = lvl
                best = v
    if best >= 0:
        return best, True
    for v in range(nv):
        lvl = S.vf[v, VF_LAST_OUT]
        if lvl < bestlvl:
            bestlvl = lvl
            best = v
    return best, True


@kernel_jit()
def note_on(S, t, note, vel, layer, instr, note_id, pan, gen):
    if note < 0.0 or note > 127.0 or vel <= 0.0:
        return
    if vel > 127.0:
        vel = 127.0
    lay = int(layer)
    if lay < 0 or lay >= N_LAYERS:
        lay = 0
    ins = int(instr)
    if ins < 0:
        ins = int(S.lf[lay, LF_INSTR])
    if ins < 0 or ins >= N_INSTR:
        ins = 0
    v, stolen = pick_voice(S)
    if stolen:
        S.st[S_STEALS] += 1
        out_push(S, O_STEAL, t, S.vf[v, VF_NOTE], 0.0, S.vf[v, VF_LAYER], v, 0.0, S.vf[v, VF_NOTE_ID])
        if S.vf[v, VF_STATE] == VS_ON:
            out_push(S, O_NOTE_OFF, t, S.vf[v, VF_NOTE], 0.0, S.vf[v, VF_LAYER], v, S.vf[v, VF_INSTR],
                     S.vf[v, VF_NOTE_ID])
        env0 = S.vf[v, VF_ENV]           # restart from the current level: no step in the envelope
        if S.vf[v, VF_NEURAL] > 0.0:     # a neural voice's level is the model's, not its envelope's
            env0 = -S.vf[v, VF_AMP] * _voice_gain(S)     # (converted below, once the new gain is known)
    else:
        env0 = 0.0
        S.vf[v, VF_PHASE] = 0.0
        S.vf[v, VF_LP] = 0.0
    if note_id < 0:
        note_id = float(S.st[S_NOTE_ID])
        S.st[S_NOTE_ID] += 1
    sr = S.p[P_SR]
    ip = S.iparam[ins]
    n = int(note + 0.5)
    if n > 127:
        n = 127
    S.vf[v, VF_STATE] = VS_ON
    S.vf[v, VF_NOTE] = note
    S.vf[v, VF_VEL] = vel
    S.vf[v, VF_LAYER] = lay
    S.vf[v, VF_INSTR] = ins
    S.vf[v, VF_BEND] = S.lf[lay, LF_BEND]
    S.vf[v, VF_ONESHOT] = 1.0 if ip[IP_ONESHOT] > 0.5 else 0.0
    S.vf[v, VF_PMOD] = 0.0
    set_increment(S, v)
    S.vf[v, VF_ENV] = env0
    S.vf[v, VF_ENV_STAGE] = ES_ATTACK
    S.vf[v, VF_ATTACK] = ip[IP_ATTACK]
    S.vf[v, VF_DECAY] = ip[IP_DECAY]
    S.vf[v, VF_SUSLEVEL] = ip[IP_SUSTAIN]
    S.vf[v, VF_RELEASE] = ip[IP_RELEASE]
    vn = vel / 127.0
    S.vf[v, VF_GAIN] = vn ** 1.6 * ip[IP_GAIN] * S.p[P_VOICE_GAIN]
    if env0 < 0.0:
        g1 = S.vf[v, VF_GAIN]
        env0 = min(1.0, -env0 / g1) if g1 > 0.0 else 0.0
        S.vf[v, VF_ENV] = env0
    # the voice plays its cached attack on the envelope until its own first neural frame: a
    # reused voice must not keep the previous note's neural flag (it would play the attack
    # table at the last note's model level, VF_AMP = 1 below: a burst near full scale)
    S.vf[v, VF_NEURAL] = 0.0
    S.vf[v, VF_ONESHOT] = 1.0 if ip[IP_ONESHOT] > 0.5 else 0.0
    S.vf[v, VF_VIB_DEPTH] = S.lf[lay, LF_VIB_DEPTH]
    S.vf[v, VF_VIB_RATE] = S.lf[lay, LF_VIB_RATE]
    S.vf[v, VF_VIB_PHASE] = 0.0
    S.vf[v, VF_CENTS] = 0.0
    S.vf[v, VF_CENTS_INC] = 0.0
    S.vf[v, VF_PMOD] = 0.0
    S.vf[v, VF_BREATH] = 10.0 ** (S.lf[lay, LF_BREATH] / 20.0) if S.lf[lay, LF_BREATH] != 0.0 else 1.0
    S.vf[v, VF_BRIGHT] = S.lf[lay, LF_BRIGHT]
    if not stolen:
        S.vf[v, VF_BR_LP] = 0.0
    set_bright(S, v)
    pn = pan
    if pn < -1.0:
        pn = -1.0
    elif pn > 1.0:
        pn = 1.0
    S.vf[v, VF_PAN] = pn
    S.vf[v, VF_AGE] = 0.0
    S.vf[v, VF_REL_AGE] = 0.0
    S.vf[v, VF_NOTE_ID] = note_id
    S.vf[v, VF_SUSTAINED] = 0.0
    S.vf[v, VF_GEN] = gen
    # brightness: one-pole lowpass whose cutoff follows velocity
    br = ip[IP_BRIGHT]
    if br > 0.0:
        fc = br * S.vf[v, VF_INC] * sr * (0.25 + 0.75 * vn)
        if fc > 0.45 * sr:
            fc = 0.45 * sr
        S.vf[v, VF_LP_COEF] = 1.0 - math.exp(-2.0 * math.pi * fc / sr)
    else:
        S.vf[v, VF_LP_COEF] = 1.0
    # the attack table: band-limited for this note (neural timbres put their attack frame here)
    for i in range(S.vtab.shape[2]):
        x = S.itab[ins, n, i]
        S.vtab[v, 0, i] = x
        S.vtab[v, 1, i] = x
    S.vf[v, VF_XF] = 0.0
    S.vf[v, VF_XF_INC] = 0.0
    S.vf[v, VF_AMP] = 1.0
    S.vf[v, VF_AMP_TARGET] = 1.0
    S.vf[v, VF_AMP_INC] = 0.0
    S.vf[v, VF_NOISE] = ip[IP_NOISE]
    for b in range(N_NOISE_BANDS):
        S.vnb[v, b] = ip[IP_NOISE_BAND + b]
    S.vf[v, VF_NOISE_ENV] = 1.0
    S.vf[v, VF_NOISE_COEF] = _coef(ip[IP_NOISE_DECAY], sr) if ip[IP_NOISE_DECAY] > 0.0 else 1.0
    S.st[S_NOTES] += 1
    out_push(S, O_NOTE_ON, t, note, vel, lay, v, ins, note_id)


@kernel_jit()
def note_off(S, t, note, layer, note_id):
    lay = int(layer)
    for v in range(S.vf.shape[0]):
        if S.vf[v, VF_STATE] != VS_ON:
            continue
        if note_id >= 0.0:
            if S.vf[v, VF_NOTE_ID] != note_id:
                continue
        elif S.vf[v, VF_NOTE] != note or int(S.vf[v, VF_LAYER]) != lay:
            continue
        if S.lf[int(S.vf[v, VF_LAYER]), LF_SUSTAIN] > 0.0:
            S.vf[v, VF_SUSTAINED] = 1.0
        else:
            release_voice(S, v, t)


@kernel_jit()
def all_off(S, t, layer):
    for v in range(S.vf.shape[0]):
        if layer < 0 or int(S.vf[v, VF_LAYER]) == layer:
            release_voice(S, v, t)
    for lay in range(N_LAYERS):
        if layer < 0 or lay == layer:
            S.lf[lay, LF_SUSTAIN] = 0.0


@kernel_jit()
def pitch_mod(S):
    """Once per chunk, each voice's pitch modulation: vibrato (depth cents, rate Hz, a sine from
    the note-on) plus the model's f0_cents ramp. A voice without either is left untouched."""
    sr = S.p[P_SR]
    for v in range(S.vf.shape[0]):
        if S.vf[v, VF_STATE] == VS_FREE or S.vf[v, VF_ONESHOT] > 0.0:
            continue
        depth = S.vf[v, VF_VIB_DEPTH]
        ci = S.vf[v, VF_CENTS_INC]
        cents = S.vf[v, VF_CENTS]
        if depth == 0.0 and ci == 0.0 and cents == 0.0 and S.vf[v, VF_PMOD] == 0.0:
            continue
        pm = cents
        if depth != 0.0:
            rate = S.vf[v, VF_VIB_RATE]
            if rate <= 0.0:
                rate = VIB_RATE_DEFAULT
            ph = S.vf[v, VF_VIB_PHASE]
            pm += depth * math.sin(2.0 * math.pi * ph)
            ph += rate * CHUNK / sr
            S.vf[v, VF_VIB_PHASE] = ph - math.floor(ph)
        S.vf[v, VF_PMOD] = pm
        set_increment(S, v)
        if ci != 0.0:
            S.vf[v, VF_CENTS] = cents + ci
