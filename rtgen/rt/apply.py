"""Applying what the control side sent (the rows that :mod:`rtgen.rt.commands` encodes): draining
the command rings into the pending queue at a chunk start, applying one row on its sample,
running the generators into note rows, emitting beats, panic.
Compiled with ``kernel_jit`` (numba ``njit``).
"""

from __future__ import annotations

import math

from ..gen.dispatch import gen_process
from .jit import kernel_jit
from .layout import (
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
    CMD_A,
    CMD_CAP,
    CMD_KIND,
    CMD_TIME,
    EV_DUR,
    EV_INSTR,
    EV_LAYER,
    EV_NOTE,
    EV_PAN,
    EV_TIME,
    EV_VEL,
    GEN_NF,
    GEN_NI,
    GI_ACTIVE,
    GI_KIND,
    GI_STEP,
    LF_BEND,
    LF_BREATH,
    LF_BRIGHT,
    LF_SUSTAIN,
    LF_VIB_DEPTH,
    LF_VIB_RATE,
    N_CMD_RINGS,
    N_GEN,
    N_LAYERS,
    N_NOISE_BANDS,
    NH,
    NP,
    O_BEAT,
    P_BEAT,
    P_BEAT_INC,
    P_BEATS_PER_BAR,
    P_BPM,
    P_SWING,
    PQ_CAP,
    PQ_KIND,
    RI_HEAD,
    RI_TAIL,
    S_BEAT_INDEX,
    S_CMD_BAD,
    S_EV_DROPPED,
    S_NOTE_ID,
    S_PQ_COUNT,
    VF_BEND,
    VF_BREATH,
    VF_BRIGHT,
    VF_GEN,
    VF_LAYER,
    VF_NOTE,
    VF_NOTE_ID,
    VF_STATE,
    VF_SUSTAINED,
    VF_VIB_DEPTH,
    VF_VIB_RATE,
    VS_FREE,
    VS_ON,
)
from .queue import out_push, pq_push, pq_remove
from .voices import all_off, free_voice, note_off, note_on, release_voice, set_increment, set_voice_control


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
            S.gi[g, GI_STEP] = 0      # generators find their place again
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
        head = S.cmd_idx[r, RI_HEAD]
        tail = S.cmd_idx[r, RI_TAIL]
        if head - tail > CMD_CAP:        # a producer overran: skip to what is still valid
            tail = head - CMD_CAP
        while tail < head:
            row = S.cmd[r, tail % CMD_CAP]
            tail += 1
            ok = True
            for j in range(8):
                if not math.isfinite(row[j]):
                    ok = False
            kind = int(row[CMD_KIND])
            if not ok or kind <= 0 or kind > 31:
                S.st[S_CMD_BAD] += 1
                continue
            if kind == C_PANIC:
                panic(S, t0)
                continue
            t = row[CMD_TIME]
            if t < t0:
                t = float(t0)
            pq_push(S, t, kind, row[CMD_A], row[CMD_A + 1], row[CMD_A + 2], row[CMD_A + 3], row[CMD_A + 4],
                    row[CMD_A + 5], -1.0)
        S.cmd_idx[r, RI_TAIL] = tail


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
