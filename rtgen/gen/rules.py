"""Rule-based generators (music theory): Euclidean rhythms, a SATB chorale, a rule-following
melody, Mozart's dice game (K. 516f) and a Messiaen-style mode of values.

Each generator is a :class:`~rtgen.gen.base.Sequencer` (control path: builds tables) and a
compiled kernel ``*_process(gi, gf, gbuf, p, harm, t0, n, ev, nev) -> nev`` dispatched by
:func:`rtgen.gen.dispatch.gen_process`. Kernels allocate nothing; all their state lives in
the slot's ``gi``/``gf``/``gbuf`` words documented next to each kernel.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..rt.clock import first_step_at_or_after, step_sample
from ..rt.harmony import degree_to_note, in_chord
from ..rt.jit import kernel_jit
from ..rt.layout import (
    GF_USER,
    GF_VEL,
    GI_RNG,
    GI_STEP,
    GI_USER,
    GK_CHORALE,
    GK_DICE,
    GK_EUCLID,
    GK_RULES,
    GK_SERIAL,
    H_BASE_OCTAVE,
    H_CHORD,
    H_CHORD_LEN,
    H_CHORD_ROOT,
    H_ROOT,
    H_VERSION,
    LAYER_RULES,
)
from ..rt.rng import randint, uniform
from . import theory
from .base import Param, Sequencer
from .kutil import chunk_grid, emit, gate_samples, step_plays, velocity

# =============================================================================== Euclid
# gi[EU_NTRACKS] tracks; track t uses gi[EU_TRACK + EU_W*t + (0 length, 1 rotation, 2 mode
# (0 MIDI note, 1 scale degree), 3 value)], gf[GF_USER + t] its velocity scale and
# gbuf[t*EU_MAXLEN + i] its onset pattern (0/1).
EU_NTRACKS = GI_USER
EU_TRACK = GI_USER + 1
EU_W = 4
EU_MAX_TRACKS = 8
EU_MAXLEN = 64


@kernel_jit()
def euclid_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n)
    if r == 0:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = gate_samples(p, gf, 1.0, r)
    ntr = min(gi[EU_NTRACKS], EU_MAX_TRACKS)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        for tr in range(ntr):
            b = EU_TRACK + EU_W * tr
            length = gi[b]
            if length < 1 or length > EU_MAXLEN:
                continue
            idx = (k + gi[b + 1]) % length
            if gbuf[tr * EU_MAXLEN + idx] != 0 and step_plays(gi, gf):
                note = degree_to_note(harm, gi[b + 3]) if gi[b + 2] == 1 else gi[b + 3]
                nev = emit(gi, ev, nev, t, float(note), velocity(gi, gf, gf[GF_USER + tr]), dur, float(tr))
        k += 1
    gi[GI_STEP] = k
    return nev


class Euclid(Sequencer):
    """Euclidean rhythms E(pulses, steps) rotated, one track per voice (Toussaint 2005).

    ``tracks``: list of dicts ``{"pulses": k, "steps": n, "rotation": r, "note": 36}`` (a MIDI
    note) or ``{"degree": 0}`` (a scale degree of the current key), optional ``"accent"``
    (velocity scale). Live: each track's rotation (``rotation0`` ..).
    """

    kind = GK_EUCLID
    name = "euclid"

    def __init__(self, tracks: list[dict] | None = None, **kw) -> None:
        kw.setdefault("layer", LAYER_RULES)
        super().__init__(**kw)
        self.tracks = [dict(t) for t in (tracks or [{"pulses": 3, "steps": 8, "note": 36}])]
        if not 1 <= len(self.tracks) <= EU_MAX_TRACKS:
            raise ConfigError(f"euclid: 1..{EU_MAX_TRACKS} tracks")
        self.patterns = []
        for i, t in enumerate(self.tracks):
            unknown = set(t) - {"pulses", "steps", "rotation", "note", "degree", "accent"}
            if unknown:
                raise ConfigError(f"euclid track {i}: unknown key(s) {sorted(unknown)}")
            steps = int(t.get("steps", 8))
            if not 1 <= steps <= EU_MAXLEN:
                raise ConfigError(f"euclid track {i}: steps must be 1..{EU_MAXLEN}")
            self.patterns.append(theory.bjorklund(int(t.get("pulses", 3)), steps))

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[EU_NTRACKS] = len(self.tracks)
        for i, (t, pat) in enumerate(zip(self.tracks, self.patterns, strict=True)):
            b = EU_TRACK + EU_W * i
            gi[b] = len(pat)
            gi[b + 1] = int(t.get("rotation", 0))
            if "degree" in t:
                gi[b + 2], gi[b + 3] = 1, int(t["degree"])
            else:
                gi[b + 2], gi[b + 3] = 0, int(t.get("note", 36))
            gf[GF_USER + i] = float(t.get("accent", 1.0))
            gbuf[i * EU_MAXLEN:i * EU_MAXLEN + len(pat)] = pat

    def params(self):
        return super().params() + [
            Param(f"rotation{i}", "i", EU_TRACK + EU_W * i + 1, -64, 64, f"rotation of track {i}")
            for i in range(len(self.tracks))
        ]


# ============================================================================== Chorale
# gi[CH_N] chords, gi[CH_SPC] steps per chord, gi[CH_TONIC] pitch class the voicings were made
# in, gi[CH_DRIVE] 1 = write the chord into the harmony context, gi[CH_LAST] last chord index
# written. gbuf[4*i .. 4*i+3] = S, A, T, B of chord i (MIDI); gbuf[CH_PCS + 8*i]: number of
# pitch classes then the pitch classes (relative to the tonic), root first.
CH_N = GI_USER
CH_SPC = GI_USER + 1
CH_TONIC = GI_USER + 2
CH_DRIVE = GI_USER + 3
CH_LAST = GI_USER + 4
CH_PCS = 16384
CH_MAX = 2048


@kernel_jit()
def chorale_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n)
    if r == 0:
        return nev
    nch = gi[CH_N]
    spc = gi[CH_SPC]
    if nch < 1 or spc < 1:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = gate_samples(p, gf, float(spc), r)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        if k % spc == 0:
            c = (k // spc) % nch
            tr = (int(harm[H_ROOT]) - gi[CH_TONIC]) % 12
            if tr > 6:
                tr -= 12
            if gi[CH_DRIVE] != 0 and gi[CH_LAST] != c:
                gi[CH_LAST] = c
                q = CH_PCS + 8 * c
                m = min(gbuf[q], 6)
                harm[H_CHORD_ROOT] = (gbuf[q + 1] + int(harm[H_ROOT])) % 12
                harm[H_CHORD_LEN] = m
                for j in range(m):
                    harm[H_CHORD + j] = (gbuf[q + 1 + j] + int(harm[H_ROOT])) % 12
                harm[H_VERSION] += 1
            if step_plays(gi, gf):
                for v in range(4):
                    note = gbuf[4 * c + v] + tr
                    nev = emit(gi, ev, nev, t, float(note), velocity(gi, gf, 1.0 if v != 0 else 1.1),
                               dur, float(c), -0.45 + 0.3 * v)
        k += 1
    gi[GI_STEP] = k
    return nev


class Chorale(Sequencer):
    """A four-voice chorale from a Roman-numeral progression, voiced by rule (see theory).

    The voicing search runs here, on the control path; the kernel plays the voicings on the
    clock, one chord per ``beats_per_chord`` beats, transposed to the engine's current tonic,
    and (``drive_harmony``) writes each chord into the shared harmony context so the other
    generators follow it.
    """

    kind = GK_CHORALE
    name = "chorale"

    def __init__(self, progression: str = "I vi ii7 V7 I IV V I", key: str = "C",
                 beats_per_chord: int = 2, drive_harmony: bool = True, **kw) -> None:
        kw.setdefault("layer", LAYER_RULES)
        kw.setdefault("steps_per_beat", 1)
        kw.setdefault("velocity", 70.0)
        super().__init__(**kw)
        self.tonic, self.minor = theory.parse_key(key)
        self.chords = theory.parse_progression(progression, self.minor)
        if len(self.chords) > CH_MAX:
            raise ConfigError(f"chorale: at most {CH_MAX} chords")
        self.voicings = theory.voice_chorale(self.chords, self.tonic)
        self.beats_per_chord = int(beats_per_chord)
        if self.beats_per_chord < 1:
            raise ConfigError("chorale: beats_per_chord must be >= 1")
        self.drive_harmony = bool(drive_harmony)

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[CH_N] = len(self.chords)
        gi[CH_SPC] = self.beats_per_chord * max(1, self.steps_per_beat)
        gi[CH_TONIC] = self.tonic
        gi[CH_DRIVE] = int(self.drive_harmony)
        gi[CH_LAST] = -1
        for i, (v, ch) in enumerate(zip(self.voicings, self.chords, strict=True)):
            gbuf[4 * i:4 * i + 4] = v
            q = CH_PCS + 8 * i
            gbuf[q] = len(ch.pcs)
            gbuf[q + 1:q + 1 + len(ch.pcs)] = ch.pcs

    def params(self):
        return super().params() + [
            Param("steps_per_chord", "i", CH_SPC, 1, 64, "grid steps per chord"),
            Param("drive_harmony", "i", CH_DRIVE, 0, 1, "write chords into the harmony context"),
        ]


# ======================================================================= Rule melody
# gi[RM_DEG] current degree, gi[RM_LAST] last interval (degrees), gi[RM_LO], gi[RM_HI] range.
RM_DEG = GI_USER
RM_LAST = GI_USER + 1
RM_LO = GI_USER + 2
RM_HI = GI_USER + 3
# cumulative probabilities of the moves +1 -1 +2 -2 +3 -3 +4 0
_MOVES = (1, -1, 2, -2, 3, -3, 4, 0)
_CUM = (0.3, 0.6, 0.72, 0.84, 0.89, 0.94, 0.97, 1.0)


@kernel_jit()
def _rm_move(u: float) -> int:
    for i in range(8):
        if u < _CUM[i]:
            return _MOVES[i]
    return 0


@kernel_jit()
def rules_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n)
    if r == 0:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = gate_samples(p, gf, 1.0, r)
    lo = gi[RM_LO]
    hi = gi[RM_HI]
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        if step_plays(gi, gf):
            cur = gi[RM_DEG]
            last = gi[RM_LAST]
            if last >= 3:            # rule: a leap is answered by a step the other way
                mv = -1
            elif last <= -3:
                mv = 1
            else:
                mv = _rm_move(uniform(gi, GI_RNG))
            d = cur + mv
            if d < lo or d > hi:     # rule: stay in range (reflect the move)
                d = cur - mv
            strong = k % r == 0
            if strong and harm[H_CHORD_LEN] > 0:   # rule: chord tones on the beat
                for off in (0, 1, -1, 2, -2):
                    e = d + off
                    if lo <= e <= hi and in_chord(harm, degree_to_note(harm, e)):
                        d = e
                        break
            gi[RM_LAST] = d - cur
            gi[RM_DEG] = d
            nev = emit(gi, ev, nev, t, float(degree_to_note(harm, d)),
                       velocity(gi, gf, 1.1 if strong else 0.9), dur, float(d))
        k += 1
    gi[GI_STEP] = k
    return nev


class RuleMelody(Sequencer):
    """A melody that follows simple rules: mostly steps, a leap is followed by a step in the
    opposite direction, chord tones on the beat (from the harmony context), a fixed range."""

    kind = GK_RULES
    name = "melody"

    def __init__(self, low: int = -3, high: int = 9, start: int = 4, **kw) -> None:
        kw.setdefault("layer", LAYER_RULES)
        kw.setdefault("steps_per_beat", 2)
        super().__init__(**kw)
        if high <= low:
            raise ConfigError("melody: high must be above low")
        self.low, self.high, self.start = int(low), int(high), int(start)

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[RM_DEG] = min(max(self.start, self.low), self.high)
        gi[RM_LO], gi[RM_HI] = self.low, self.high

    def params(self):
        return super().params() + [
            Param("low", "i", RM_LO, -21, 21, "lowest scale degree"),
            Param("high", "i", RM_HI, -21, 28, "highest scale degree"),
        ]


# ========================================================================= Dice game
# gbuf[0:176] the table (row = sum-2, 16 columns); gbuf[DI_MEAS + 4*m + (0,1,2 melody degrees,
# 3 bass degree)] the stand-in of measure m. gi[DI_BAR] bar of the current measure,
# gi[DI_NUM] its number, gi[DI_SUM] its dice sum, gi[DI_BASE] base degree.
DI_BAR = GI_USER
DI_NUM = GI_USER + 1
DI_SUM = GI_USER + 2
DI_BASE = GI_USER + 3
DI_MEAS = 256


@kernel_jit()
def roll_two_dice(gi) -> int:
    """Sum of two fair dice from the slot's rng (two draws)."""
    return randint(gi, GI_RNG, 6) + randint(gi, GI_RNG, 6) + 2


@kernel_jit()
def dice_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n)
    if r == 0:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = gate_samples(p, gf, 1.0, r)
    bdur = gate_samples(p, gf, 3.0, r)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        bar = k // 3
        pos = k - 3 * bar
        if bar != gi[DI_BAR]:
            s = roll_two_dice(gi)
            gi[DI_BAR] = bar
            gi[DI_SUM] = s
            gi[DI_NUM] = gbuf[(s - 2) * 16 + bar % 16]
            pos = 0
        m = gi[DI_NUM]
        q = DI_MEAS + 4 * m
        base = gi[DI_BASE]
        if pos == 0:
            nev = emit(gi, ev, nev, t, float(degree_to_note(harm, gbuf[q + 3] + base)),
                       velocity(gi, gf, 0.8), bdur, float(m))
        nev = emit(gi, ev, nev, t, float(degree_to_note(harm, gbuf[q + pos] + base)),
                   velocity(gi, gf, 1.05 if pos == 0 else 0.9), dur, float(m))
        k += 1
    gi[GI_STEP] = k
    return nev


class DiceGame(Sequencer):
    """Mozart's musical dice game (K. 516f): two dice per bar choose one of 11 measures per bar.

    The table of measure numbers is real (:data:`theory.DICE_TABLE`); the measures are NOT:
    we do not ship the score, so each measure is a deterministic stand-in generated from its
    number (:func:`theory.standin_measure`) in the current key. Events carry the measure
    number in ``EV_TAG``. A bar is three grid steps (3/8 with ``steps_per_beat = 2``).
    """

    kind = GK_DICE
    name = "dice"

    def __init__(self, base_degree: int = 0, **kw) -> None:
        kw.setdefault("layer", LAYER_RULES)
        kw.setdefault("steps_per_beat", 2)
        super().__init__(**kw)
        self.base_degree = int(base_degree)

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[DI_BAR] = -1
        gi[DI_BASE] = self.base_degree
        gbuf[0:176] = np.array(theory.DICE_TABLE, dtype=np.int32).ravel()
        for row in theory.DICE_TABLE:
            for col, m in enumerate(row):
                mel, bass = theory.standin_measure(m, col)
                gbuf[DI_MEAS + 4 * m:DI_MEAS + 4 * m + 4] = (*mel, bass)


# ===================================================================== Mode of values
# Voices v < SE_NV: gi[SE_NEXT + v] next step; gbuf[SE_TAB + 4*e + (pitch, steps, dyn, attack)]
# entry e; voice v draws from entries v*12 .. v*12+11; gbuf[SE_DYN + i] velocities;
# gf[GF_USER + 2a], gf[GF_USER + 2a + 1] gate and velocity factors of attack a.
SE_NV = GI_USER
SE_NEXT = GI_USER + 1
SE_TAB = 0
SE_DYN = 1024


@kernel_jit()
def serial_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n, SE_NEXT, min(gi[SE_NV], 8))
    if r == 0:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    nv = min(gi[SE_NV], 8)
    low = 12 * (int(harm[H_BASE_OCTAVE]) - 1) + int(harm[H_ROOT])
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        for v in range(nv):
            if k >= gi[SE_NEXT + v]:
                e = 12 * v + randint(gi, GI_RNG, 12)
                q = SE_TAB + 4 * e
                steps = gbuf[q + 1]
                a = gbuf[q + 3]
                gi[SE_NEXT + v] = k + steps
                if step_plays(gi, gf):
                    dur = gate_samples(p, gf, steps * gf[GF_USER + 2 * a], r)
                    vel = gbuf[SE_DYN + gbuf[q + 2]] * gf[GF_USER + 2 * a + 1] * gf[GF_VEL] / 90.0
                    nev = emit(gi, ev, nev, t, float(low + gbuf[q]), vel, dur, float(e))
        k += 1
    gi[GI_STEP] = k
    return nev


class ModeOfValues(Sequencer):
    """Pitch, duration, dynamic and attack from fixed associated series, after Messiaen's
    "Mode de valeurs et d'intensités" (1949): a pitch always comes with its own duration,
    dynamic and attack. ``divisions`` voices (1..3), one per division of the mode."""

    kind = GK_SERIAL
    name = "serial"

    def __init__(self, divisions: int = 3, **kw) -> None:
        kw.setdefault("layer", LAYER_RULES)
        kw.setdefault("steps_per_beat", 8)
        super().__init__(**kw)
        if not 1 <= divisions <= 3:
            raise ConfigError("serial: divisions must be 1..3")
        self.divisions = int(divisions)
        self.table = theory.mode_of_values(self.divisions)

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[SE_NV] = self.divisions
        for e, row in enumerate(self.table):
            gbuf[SE_TAB + 4 * e:SE_TAB + 4 * e + 4] = row
        gbuf[SE_DYN:SE_DYN + 7] = theory.DYNAMICS
        for a, (g, v) in enumerate(theory.ATTACKS):
            gf[GF_USER + 2 * a] = g
            gf[GF_USER + 2 * a + 1] = v
