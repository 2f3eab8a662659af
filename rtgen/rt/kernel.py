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
"""

from __future__ import annotations

import math

import numpy as np

from ..gen.dispatch import gen_process
from .jit import kernel_jit
from .layout import (
    BRIGHT_MAX_BOOST,
    C_ALL_OFF,
    C_GEN_ACTIVE,
    C_GEN_F,
    C_GEN_I,
    C_HARM,
    C_LAYER,
    C_METER,
    C_NOTE_NOW,
    C_NOTE_OFF,
    C_NOTE_ON,
    C_PANIC,
    C_PARAM,
    C_PITCHBEND,
    C_RESET_CLOCK,
    C_SUSTAIN,
    C_SWING,
    C_TEMPO,
    C_VOICE,
    CHUNK,
    CMD_CAP,
    ES_ATTACK,
    ES_DECAY,
    ES_DONE,
    ES_RELEASE,
    ES_SUSTAIN,
    EV_DUR,
    EV_INSTR,
    EV_LAYER,
    EV_NOTE,
    EV_PAN,
    EV_TIME,
    EV_VEL,
    FX_CAP,
    FXI_ENABLED,
    FXI_LATE,
    FXI_LATENCY,
    FXI_NONFINITE,
    FXI_RET_HEAD,
    FXI_SEND_HEAD,
    FXL_INSERT,
    FXL_SEND,
    GEN_NF,
    GEN_NI,
    GI_ACTIVE,
    GI_KIND,
    IP_ATTACK,
    IP_BRIGHT,
    IP_DECAY,
    IP_DECAY_TIME,
    IP_GAIN,
    IP_NOISE,
    IP_NOISE_BAND,
    IP_NOISE_DECAY,
    IP_ONESHOT,
    IP_RELEASE,
    IP_SUSTAIN,
    LF_ACTIVE_VOICES,
    LF_BEND,
    LF_BREATH,
    LF_BRIGHT,
    LF_GAIN,
    LF_GAIN_SMOOTH,
    LF_INSTR,
    LF_MUTE,
    LF_PAN,
    LF_PEAK_L,
    LF_PEAK_R,
    LF_SUSTAIN,
    LF_TOUCHED,
    LF_VIB_DEPTH,
    LF_VIB_RATE,
    N_CMD_RINGS,
    N_FX_BUS,
    N_GEN,
    N_INSTR,
    N_LAYERS,
    N_NOISE_BANDS,
    NH,
    NP,
    O_BEAT,
    O_NOTE_OFF,
    O_NOTE_ON,
    O_STEAL,
    OUT_CAP,
    P_BEAT,
    P_BEAT_INC,
    P_BEATS_PER_BAR,
    P_BPM,
    P_HOP,
    P_LIMIT_CEIL,
    P_LIMIT_GAIN,
    P_LIMIT_RELEASE,
    P_MASTER_GAIN,
    P_NEURAL,
    P_PEAK_L,
    P_PEAK_R,
    P_SR,
    P_SWING,
    P_VOICE_GAIN,
    PHASE_FRAC_BITS,
    PQ_CAP,
    S_BEAT_INDEX,
    S_BLOCKS,
    S_CLIPS,
    S_CMD_BAD,
    S_EV_DROPPED,
    S_HOP_INDEX,
    S_LATE_FRAMES,
    S_NONFINITE,
    S_NOTE_ID,
    S_NOTES,
    S_OUT_DROPPED,
    S_PQ_COUNT,
    S_PQ_SEQ,
    S_SAMPLE,
    S_STEALS,
    S_VOICE_HOPS,
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
from .rng import uniform

ENV_FLOOR = 1e-4   # -80 dB: a released voice below this is free
PQ_TIME = 0
PQ_KIND = 1
PQ_SEQ = 8
PQ_GEN = 9


# ----------------------------------------------------------------------- output events
@kernel_jit()
def out_push(S, kind, t, a, b, c, d, e, f):
    head = S.out_idx[0]
    if head - S.out_idx[8] >= OUT_CAP:
        S.st[S_OUT_DROPPED] += 1
        return
    r = head % OUT_CAP
    S.out[r, 0] = kind
    S.out[r, 1] = t
    S.out[r, 2] = a
    S.out[r, 3] = b
    S.out[r, 4] = c
    S.out[r, 5] = d
    S.out[r, 6] = e
    S.out[r, 7] = f
    S.out_idx[0] = head + 1


# ----------------------------------------------------------------------- pending queue
@kernel_jit()
def pq_push(S, t, kind, a, b, c, d, e, f, gen):
    k = S.st[S_PQ_COUNT]
    if k >= PQ_CAP:
        S.st[S_EV_DROPPED] += 1
        return False
    S.pq[k, PQ_TIME] = t
    S.pq[k, PQ_KIND] = kind
    S.pq[k, 2] = a
    S.pq[k, 3] = b
    S.pq[k, 4] = c
    S.pq[k, 5] = d
    S.pq[k, 6] = e
    S.pq[k, 7] = f
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


# ----------------------------------------------------------------------- voices
@kernel_jit()
def _coef(seconds, sr):
    """Per-sample multiplier that falls by 60 dB in ``seconds``."""
    if seconds <= 1e-5:
        return 0.0
    return math.exp(-6.907755278982137 / (seconds * sr))


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
def panic(S, t):
    for v in range(S.vf.shape[0]):
        if S.vf[v, VF_STATE] == VS_ON:
            release_voice(S, v, t)
        free_voice(S, v)
    # keep only pending rows that are not notes (parameter changes still apply)
    k = 0
    while k < S.st[S_PQ_COUNT]:
        kind = int(S.pq[k, PQ_KIND])
        if kind == C_NOTE_ON or kind == C_NOTE_OFF or kind == C_NOTE_NOW:
            pq_remove(S, k)
        else:
            k += 1
    for lay in range(N_LAYERS):
        S.lf[lay, LF_SUSTAIN] = 0.0
    for lay in range(N_LAYERS):
        for b in range(N_NOISE_BANDS):
            S.nz[lay, b, 0] = 0.0
            S.nz[lay, b, 1] = 0.0
            S.nz[lay, b, 2] = 0.0
            S.nz[lay, b, 3] = 0.0


# ----------------------------------------------------------------------- commands
@kernel_jit()
def apply_row(S, t, kind, a, b, c, d, e, f, gen):
    """Apply one pending row at absolute sample ``t``."""
    if kind == C_NOTE_ON:
        note_on(S, t, a, b, c, d, e, f, gen)
    elif kind == C_NOTE_OFF:
        note_off(S, t, a, c, e)
    elif kind == C_NOTE_NOW:
        # a one-shot note: on now, off after f samples (the id ties them together)
        nid = float(S.st[S_NOTE_ID])
        S.st[S_NOTE_ID] += 1
        note_on(S, t, a, b, c, d, nid, 0.0, -1.0)
        pq_push(S, t + max(1.0, f), C_NOTE_OFF, a, 0.0, c, 0.0, nid, 0.0, -1.0)
    elif kind == C_SUSTAIN:
        lay = int(c)
        if 0 <= lay < N_LAYERS:
            if a > 0.5:
                S.lf[lay, LF_SUSTAIN] = 1.0
            else:
                S.lf[lay, LF_SUSTAIN] = 0.0
                for v in range(S.vf.shape[0]):
                    if S.vf[v, VF_SUSTAINED] > 0.0 and int(S.vf[v, VF_LAYER]) == lay:
                        release_voice(S, v, t)
    elif kind == C_PARAM:
        i = int(a)
        if 0 <= i < NP:
            S.p[i] = b
    elif kind == C_LAYER:
        lay = int(a)
        col = int(b)
        if 0 <= lay < N_LAYERS and 0 <= col < S.lf.shape[1]:
            S.lf[lay, col] = c
            vcol = -1
            if col == LF_VIB_DEPTH:
                vcol = VF_VIB_DEPTH
            elif col == LF_VIB_RATE:
                vcol = VF_VIB_RATE
            elif col == LF_BRIGHT:
                vcol = VF_BRIGHT
            elif col == LF_BREATH:
                vcol = VF_BREATH
            if vcol >= 0:       # a layer's control moves its sounding voices too (like bend)
                for v in range(S.vf.shape[0]):
                    if S.vf[v, VF_STATE] != VS_FREE and int(S.vf[v, VF_LAYER]) == lay:
                        set_voice_control(S, v, vcol, c)
    elif kind == C_VOICE:
        # one note's control: by its note id (a >= 0), or every voice playing MIDI note d on layer e
        col = int(b)
        if col == VF_VIB_DEPTH or col == VF_VIB_RATE or col == VF_BRIGHT or col == VF_BREATH:
            for v in range(S.vf.shape[0]):
                if S.vf[v, VF_STATE] == VS_FREE:
                    continue
                if a >= 0.0:
                    if S.vf[v, VF_NOTE_ID] != a:
                        continue
                elif S.vf[v, VF_NOTE] != d or int(S.vf[v, VF_LAYER]) != int(e):
                    continue
                set_voice_control(S, v, col, c)
    elif kind == C_GEN_I:
        g = int(a)
        i = int(b)
        if 0 <= g < N_GEN and 0 <= i < GEN_NI:
            S.gi[g, i] = int(c)
    elif kind == C_GEN_F:
        g = int(a)
        i = int(b)
        if 0 <= g < N_GEN and 0 <= i < GEN_NF:
            S.gf[g, i] = c
    elif kind == C_GEN_ACTIVE:
        g = int(a)
        if 0 <= g < N_GEN:
            S.gi[g, GI_ACTIVE] = 1 if b > 0.5 else 0
            if b <= 0.5:
                for v in range(S.vf.shape[0]):
                    if int(S.vf[v, VF_GEN]) == g:
                        release_voice(S, v, t)
    elif kind == C_HARM:
        i = int(a)
        if 0 <= i < NH:
            S.harm[i] = b
    elif kind == C_ALL_OFF:
        all_off(S, t, int(a))
    elif kind == C_PANIC:
        panic(S, t)
    elif kind == C_TEMPO:
        if 20.0 <= a <= 400.0:
            S.p[P_BPM] = a
    elif kind == C_PITCHBEND:
        lay = int(c)
        if 0 <= lay < N_LAYERS and -48.0 <= a <= 48.0:
            S.lf[lay, LF_BEND] = a
            for v in range(S.vf.shape[0]):
                if S.vf[v, VF_STATE] != VS_FREE and int(S.vf[v, VF_LAYER]) == lay:
                    S.vf[v, VF_BEND] = a
                    set_increment(S, v)
    elif kind == C_RESET_CLOCK:
        S.p[P_BEAT] = a
        S.st[S_BEAT_INDEX] = int(math.ceil(a)) - 1
        for g in range(N_GEN):
            S.gi[g, 5] = 0          # GI_STEP: generators find their place again
    elif kind == C_METER:
        if 1.0 <= a <= 32.0:
            S.p[P_BEATS_PER_BAR] = a
    elif kind == C_SWING:
        if 0.0 <= a <= 0.75:
            S.p[P_SWING] = a


@kernel_jit()
def drain_commands(S, t0):
    """Move every queued command into the pending queue (panic acts at once)."""
    for r in range(N_CMD_RINGS):
        head = S.cmd_idx[r, 0]
        tail = S.cmd_idx[r, 8]
        if head - tail > CMD_CAP:        # a producer overran: skip to what is still valid
            tail = head - CMD_CAP
        while tail < head:
            row = S.cmd[r, tail % CMD_CAP]
            tail += 1
            ok = True
            for j in range(8):
                if not math.isfinite(row[j]):
                    ok = False
            kind = int(row[0])
            if not ok or kind <= 0 or kind > 31:
                S.st[S_CMD_BAD] += 1
                continue
            if kind == C_PANIC:
                panic(S, t0)
                continue
            t = row[7]
            if t < t0:
                t = float(t0)
            pq_push(S, t, kind, row[1], row[2], row[3], row[4], row[5], row[6], -1.0)
        S.cmd_idx[r, 8] = tail


@kernel_jit()
def run_generators(S, t0):
    """Run every active generator, tagging its notes with its slot (so deactivation releases them)."""
    for g in range(N_GEN):
        if S.gi[g, GI_ACTIVE] == 0:
            continue
        nev = gen_process(S.gi[g, GI_KIND], S.gi[g], S.gf[g], S.gbuf[g], S.p, S.harm, t0, CHUNK, S.ev, 0)
        if nev > S.ev.shape[0]:
            nev = S.ev.shape[0]
        for i in range(nev):
            t = S.ev[i, EV_TIME]
            dur = S.ev[i, EV_DUR]
            if not (math.isfinite(t) and math.isfinite(dur) and math.isfinite(S.ev[i, EV_NOTE])
                    and math.isfinite(S.ev[i, EV_VEL])):
                S.st[S_EV_DROPPED] += 1
                continue
            if t < t0:
                t = float(t0)
            if dur < 1.0:
                dur = 1.0
            if S.st[S_PQ_COUNT] + 2 > PQ_CAP:
                S.st[S_EV_DROPPED] += 1
                continue
            nid = float(S.st[S_NOTE_ID])
            S.st[S_NOTE_ID] += 1
            pq_push(S, t, C_NOTE_ON, S.ev[i, EV_NOTE], S.ev[i, EV_VEL], S.ev[i, EV_LAYER],
                    S.ev[i, EV_INSTR], nid, S.ev[i, EV_PAN], float(g))
            pq_push(S, t + dur, C_NOTE_OFF, S.ev[i, EV_NOTE], 0.0, S.ev[i, EV_LAYER], 0.0, nid, 0.0,
                    float(g))


# ----------------------------------------------------------------------- chunk start
@kernel_jit()
def emit_beats(S, t0):
    b0 = S.p[P_BEAT]
    inc = S.p[P_BEAT_INC]
    if inc <= 0.0:
        return
    k = S.st[S_BEAT_INDEX] + 1
    if k < math.ceil(b0 - 1e-9):
        k = int(math.ceil(b0 - 1e-9))
    while k < b0 + inc:
        off = (k - b0) / inc * CHUNK
        if off < 0.0:
            off = 0.0
        bpb = int(S.p[P_BEATS_PER_BAR])
        if bpb < 1:
            bpb = 1
        out_push(S, O_BEAT, t0 + int(math.floor(off + 0.5)), float(k), float(k // bpb), float(k % bpb), 0.0, 0.0, 0.0)
        S.st[S_BEAT_INDEX] = k
        k += 1


@kernel_jit()
def _voice_gain(S):
    vg = S.p[P_VOICE_GAIN]
    return vg if vg > 0.0 else 1.0


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


# ----------------------------------------------------------------------- synthesis
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
        a1 = S.pq[k, 2]
        b1 = S.pq[k, 3]
        c1 = S.pq[k, 4]
        d1 = S.pq[k, 5]
        e1 = S.pq[k, 6]
        f1 = S.pq[k, 7]
        gen = S.pq[k, PQ_GEN]
        pq_remove(S, k)
        apply_row(S, te, kind, a1, b1, c1, d1, e1, f1, gen)
    render_voices(S, cur, b)


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
