"""Cellular-automaton generators: elementary 1-D automata, Life-like 2-D automata (CAMUS
mapping) and Griffeath's cyclic cellular automaton.

- **Elementary (1-D)**: the 256 rules of Wolfram ("Statistical mechanics of cellular automata",
  Rev. Mod. Phys. 55, 1983): the new state of a cell is bit ``4*left + 2*centre + right`` of the
  rule number. Each generation (row) is one grid step; the live cells of a window of the row
  sound as degrees of the current scale (in the manner of WolframTones, 2005).
- **Life-like (2-D)**: birth/survival rules written ``B3/S23`` (Conway's Life; Gardner,
  Scientific American, Oct. 1970). Mapped as in Miranda's CAMUS (Miranda, "Cellular automata
  music: an interdisciplinary project", Interface 22(1), 1993): a live cell at column x, row y
  plays a triad whose lower interval is given by x and upper interval by y, above a fundamental
  from the harmony context; a cyclic automaton running alongside chooses the instrument of each
  triad (CAMUS used Griffeath's "demon cycle" automaton for the orchestration).
- **Cyclic**: Griffeath's cyclic cellular automaton (Fisch, Gravner & Griffeath, "Cyclic
  cellular automata in two dimensions", 1991; Dewdney, Scientific American, Aug. 1989): a cell in
  state s moves to s+1 (mod K) when at least ``threshold`` neighbours are in state s+1. Its states
  choose the instrument or the layer of the notes.

Live controls are slot words (``C_GEN_I`` / ``C_GEN_F``): rule, wrap, reseed (a counter: the
kernel reseeds when it changes), fill density of a random reseed, mutation rate, window, and the
common steps per beat / density.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..rt.clock import first_step_at_or_after, step_sample
from ..rt.harmony import degree_to_note, fit_to_chord, snap_to_scale
from ..rt.jit import kernel_jit
from ..rt.layout import (
    EV_INSTR,
    EV_LAYER,
    GF_USER,
    GI_RNG,
    GI_STEP,
    GI_USER,
    GK_CA1D,
    GK_CYCLIC,
    GK_LIFE,
    H_CHORD_ROOT,
    LAYER_AUTOMATA,
)
from ..rt.rng import randint, uniform
from .base import Param, Sequencer
from .kutil import chunk_grid, emit, gate_samples, step_plays, velocity

# ====================================================================== elementary 1-D
C1_ROW = 0
C1_TMP = 1024
C1_SEED = 2048
C1_MAXW = 1024

C1_W = GI_USER
C1_RULE = GI_USER + 1
C1_WRAP = GI_USER + 2
C1_RESEED = GI_USER + 3
C1_SEEN = GI_USER + 4
C1_SEEDMODE = GI_USER + 5      # 0 = the seed pattern, 1 = random with density C1_FILL
C1_OFFSET = GI_USER + 6
C1_VOICES = GI_USER + 7
C1_MAXNOTES = GI_USER + 8
C1_BASEDEG = GI_USER + 9
C1_GEN = GI_USER + 10          # reported: generations since the last reseed
C1_DEGSTEP = GI_USER + 11      # scale degrees between adjacent cells
C1_FILL = GF_USER
C1_MUT = GF_USER + 1


@kernel_jit()
def ca1d_step(gbuf, src: int, dst: int, w: int, rule: int, wrap: int) -> None:
    """One generation of elementary rule ``rule`` from gbuf[src:src+w] into gbuf[dst:dst+w]."""
    for i in range(w):
        if i > 0:
            left = gbuf[src + i - 1]
        else:
            left = gbuf[src + w - 1] if wrap != 0 else 0
        if i < w - 1:
            right = gbuf[src + i + 1]
        else:
            right = gbuf[src] if wrap != 0 else 0
        idx = 4 * left + 2 * gbuf[src + i] + right
        gbuf[dst + i] = (rule >> idx) & 1


@kernel_jit()
def ca1d_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n)
    if r == 0:
        return nev
    w = min(max(gi[C1_W], 1), C1_MAXW)
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = gate_samples(p, gf, 1.0, r)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        _reseed_if_asked(gi, gf, gbuf, C1_RESEED, C1_SEEN, C1_GEN, C1_SEEDMODE, C1_FILL, C1_ROW, C1_SEED, w)
        if step_plays(gi, gf):
            count = 0
            for j in range(min(gi[C1_VOICES], w)):
                if count >= gi[C1_MAXNOTES]:
                    break
                i = (gi[C1_OFFSET] + j) % w
                if gbuf[C1_ROW + i] != 0:
                    note = fit_to_chord(gi, harm, degree_to_note(harm, gi[C1_BASEDEG] + gi[C1_DEGSTEP] * j))
                    nev = emit(gi, ev, nev, t, float(note), velocity(gi, gf, 1.0), dur, float(i))
                    count += 1
        ca1d_step(gbuf, C1_ROW, C1_TMP, w, gi[C1_RULE] & 255, gi[C1_WRAP])
        for i in range(w):
            gbuf[C1_ROW + i] = gbuf[C1_TMP + i]
        gi[C1_GEN] += 1
        if gf[C1_MUT] > 0.0 and uniform(gi, GI_RNG) < gf[C1_MUT]:
            i = randint(gi, GI_RNG, w)
            gbuf[C1_ROW + i] = 1 - gbuf[C1_ROW + i]
        k += 1
    gi[GI_STEP] = k
    return nev


def parse_seed_row(seed: str | list[int], width: int) -> list[int]:
    """``"single"`` (one live cell in the middle), a string of ``.``/``x`` (``1``/``0``, ``#``) centred,
    or a list of 0/1 (centred)."""
    if isinstance(seed, str):
        if seed == "single":
            cells = [1]
        elif seed == "random":
            return [0] * width
        else:
            bad = set(seed) - set(".x#o01O ")
            if bad:
                raise ConfigError(f"seed row: unexpected characters {sorted(bad)}")
            cells = [1 if c in "x#o1O" else 0 for c in seed if c != " "]
    else:
        cells = [1 if int(c) else 0 for c in seed]
    if len(cells) > width:
        raise ConfigError(f"seed row longer than the width {width}")
    row = [0] * width
    off = (width - len(cells)) // 2 if len(cells) > 1 else width // 2
    for i, c in enumerate(cells):
        row[off + i] = c
    return row


class CA1D(Sequencer):
    """An elementary cellular automaton (rule 0..255); one generation per grid step.

    ``seed``: ``"single"``, ``"random"`` (density ``fill``) or a pattern; ``window`` cells from
    ``offset`` sound as degrees ``base_degree + degree_step*j`` (at most ``max_notes`` per step).
    """

    kind = GK_CA1D
    name = "ca1d"

    def __init__(self, rule: int = 30, width: int = 64, seed: str | list[int] = "single", wrap: bool = True,
                 fill: float = 0.5, mutation: float = 0.0, offset: int | None = None, window: int = 8,
                 max_notes: int = 3, base_degree: int = 0, degree_step: int = 1, **kw) -> None:
        kw.setdefault("layer", LAYER_AUTOMATA)
        super().__init__(**kw)
        if not 0 <= rule <= 255:
            raise ConfigError(f"ca1d: rule must be 0..255, got {rule}")
        if not 3 <= width <= C1_MAXW:
            raise ConfigError(f"ca1d: width must be 3..{C1_MAXW}")
        if not 0.0 <= fill <= 1.0 or not 0.0 <= mutation <= 1.0:
            raise ConfigError("ca1d: fill and mutation must be 0..1")
        self.rule, self.width, self.wrap = int(rule), int(width), bool(wrap)
        self.seed_mode = 1 if seed == "random" else 0
        self.seed_row = parse_seed_row(seed, self.width)
        self.fill, self.mutation = float(fill), float(mutation)
        self.window = max(1, min(int(window), self.width))
        self.offset = int(offset) if offset is not None else (self.width - self.window) // 2
        self.max_notes, self.base_degree = int(max_notes), int(base_degree)
        self.degree_step = int(degree_step)

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[C1_W], gi[C1_RULE], gi[C1_WRAP] = self.width, self.rule, int(self.wrap)
        gi[C1_RESEED], gi[C1_SEEN], gi[C1_SEEDMODE] = 1, 0, self.seed_mode
        gi[C1_OFFSET], gi[C1_VOICES], gi[C1_MAXNOTES] = self.offset, self.window, self.max_notes
        gi[C1_BASEDEG], gi[C1_DEGSTEP] = self.base_degree, self.degree_step
        gf[C1_FILL], gf[C1_MUT] = self.fill, self.mutation
        gbuf[C1_SEED:C1_SEED + self.width] = self.seed_row

    def params(self):
        return super().params() + [
            Param("rule", "i", C1_RULE, 0, 255, "elementary rule number"),
            Param("wrap", "i", C1_WRAP, 0, 1, "cyclic boundary"),
            Param("reseed", "i", C1_RESEED, 0, 1 << 62, "increment to reseed"),
            Param("seed_mode", "i", C1_SEEDMODE, 0, 1, "0 the seed pattern, 1 random"),
            Param("fill", "f", C1_FILL, 0.0, 1.0, "density of live cells of a random reseed"),
            Param("mutation", "f", C1_MUT, 0.0, 1.0, "probability per generation that one cell flips"),
            Param("offset", "i", C1_OFFSET, 0, C1_MAXW - 1, "first cell of the sounding window"),
            Param("window", "i", C1_VOICES, 1, C1_MAXW, "cells that sound"),
            Param("max_notes", "i", C1_MAXNOTES, 0, 16, "notes per step at most"),
        ]


# ========================================================================= 2-D grids
# Life's buffers and slot words are LIFE_* (LF_* are the mixer's layer columns in rt/layout.py)
LIFE_A = 0
LIFE_B = 4096
LIFE_SEED = 8192
CY_A = 12288
CY_B = 16384
CY_MAP = 20480
MAX_CELLS = 4096

LIFE_H = GI_USER
LIFE_W = GI_USER + 1
LIFE_BMASK = GI_USER + 2
LIFE_SMASK = GI_USER + 3
LIFE_WRAP = GI_USER + 4
LIFE_RESEED = GI_USER + 5
LIFE_SEEN = GI_USER + 6
LIFE_SEEDMODE = GI_USER + 7
LIFE_MAXCELLS = GI_USER + 8
LIFE_BASEDEG = GI_USER + 9
LIFE_GEN = GI_USER + 10
LIFE_SNAP = GI_USER + 11
LIFE_POP = GI_USER + 12          # reported: live cells after the last generation
CY_K = GI_USER + 20            # states (0: no cyclic automaton)
CY_T = GI_USER + 21            # threshold
CY_MOORE = GI_USER + 22        # 1 Moore, 0 von Neumann neighbourhood
CY_TARGET = GI_USER + 23       # 0: states choose the instrument, 1: the layer
CY_VOICES = GI_USER + 24       # (cyclic generator) probes
CY_BASEDEG = GI_USER + 25
LIFE_FILL = GF_USER
LIFE_MUT = GF_USER + 1


@kernel_jit()
def life_step(gbuf, src: int, dst: int, h: int, w: int, bmask: int, smask: int, wrap: int) -> int:
    """One generation of a Life-like rule; returns the population. Neighbour rows and columns are
    resolved once per row/cell (-1 = outside a non-wrapping grid), no modulo in the inner loop."""
    pop = 0
    for y in range(h):
        ym = y - 1
        yp = y + 1
        if ym < 0:
            ym = h - 1 if wrap != 0 else -1
        if yp >= h:
            yp = 0 if wrap != 0 else -1
        ry = src + y * w
        rm = src + ym * w
        rp = src + yp * w
        for x in range(w):
            xm = x - 1
            xp = x + 1
            if xm < 0:
                xm = w - 1 if wrap != 0 else -1
            if xp >= w:
                xp = 0 if wrap != 0 else -1
            cnt = 0
            if ym >= 0:
                cnt += gbuf[rm + x]
                if xm >= 0:
                    cnt += gbuf[rm + xm]
                if xp >= 0:
                    cnt += gbuf[rm + xp]
            if yp >= 0:
                cnt += gbuf[rp + x]
                if xm >= 0:
                    cnt += gbuf[rp + xm]
                if xp >= 0:
                    cnt += gbuf[rp + xp]
            if xm >= 0:
                cnt += gbuf[ry + xm]
            if xp >= 0:
                cnt += gbuf[ry + xp]
            nxt = (smask >> cnt) & 1 if gbuf[ry + x] != 0 else (bmask >> cnt) & 1
            gbuf[dst + y * w + x] = nxt
            pop += nxt
    return pop


@kernel_jit()
def cyclic_step(gbuf, src: int, dst: int, h: int, w: int, k: int, thr: int, moore: int) -> None:
    """One generation of Griffeath's cyclic automaton on a torus (range 1)."""
    for y in range(h):
        rm = src + ((y - 1) % h) * w
        ry = src + y * w
        rp = src + ((y + 1) % h) * w
        for x in range(w):
            xm = x - 1 if x > 0 else w - 1
            xp = x + 1 if x < w - 1 else 0
            s = gbuf[ry + x]
            nx = s + 1
            if nx >= k:
                nx = 0
            cnt = ((gbuf[rm + x] == nx) + (gbuf[rp + x] == nx) + (gbuf[ry + xm] == nx)
                   + (gbuf[ry + xp] == nx))
            if moore != 0:
                cnt += ((gbuf[rm + xm] == nx) + (gbuf[rm + xp] == nx) + (gbuf[rp + xm] == nx)
                        + (gbuf[rp + xp] == nx))
            gbuf[dst + y * w + x] = nx if cnt >= thr else s


@kernel_jit()
def _copy(gbuf, src: int, dst: int, m: int) -> None:
    for i in range(m):
        gbuf[dst + i] = gbuf[src + i]


@kernel_jit()
def _reseed_if_asked(gi, gf, gbuf, reseed: int, seen: int, gen: int, mode: int, fill: int,
                     dst: int, seed: int, m: int) -> bool:
    """Apply a pending reseed of an automaton's m cells at gbuf[dst:]: random cells at density
    gf[fill] (seed mode 1) or the stored seed at gbuf[seed:]. The slot arguments name the
    automaton's own gi words. Returns whether it reseeded."""
    if gi[reseed] == gi[seen]:
        return False
    gi[seen] = gi[reseed]
    gi[gen] = 0
    if gi[mode] == 1:
        for i in range(m):
            gbuf[dst + i] = 1 if uniform(gi, GI_RNG) < gf[fill] else 0
    else:
        _copy(gbuf, seed, dst, m)
    return True


@kernel_jit()
def _cyclic_reseed(gi, gbuf, m: int) -> None:
    kk = gi[CY_K]
    for i in range(m):
        gbuf[CY_A + i] = randint(gi, GI_RNG, kk)


@kernel_jit()
def _tag_last(gi, ev, n0: int, n1: int, value: int) -> None:
    """Route events n0..n1-1 by a cyclic state's mapped value (instrument or layer)."""
    col = EV_LAYER if gi[CY_TARGET] == 1 else EV_INSTR
    for e in range(n0, n1):
        ev[e, col] = value


@kernel_jit()
def life_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n)
    if r == 0:
        return nev
    h = gi[LIFE_H]
    w = gi[LIFE_W]
    m = h * w
    if m < 1 or m > MAX_CELLS:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = gate_samples(p, gf, 1.0, r)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        if _reseed_if_asked(gi, gf, gbuf, LIFE_RESEED, LIFE_SEEN, LIFE_GEN, LIFE_SEEDMODE, LIFE_FILL, LIFE_A,
                            LIFE_SEED, m):
            if gi[CY_K] > 1:
                _cyclic_reseed(gi, gbuf, m)
        if step_plays(gi, gf):
            # CAMUS: a live cell (x, y) is a triad: fundamental, + interval(x), + interval(y)
            f = degree_to_note(harm, gi[LIFE_BASEDEG])
            croot = int(harm[H_CHORD_ROOT])
            if croot >= 0:
                f -= (f - croot) % 12
            start = (gi[LIFE_GEN] * 97) % m
            found = 0
            for q in range(m):
                if found >= gi[LIFE_MAXCELLS]:
                    break
                c = (start + q) % m
                if gbuf[LIFE_A + c] == 0:
                    continue
                y = c // w
                x = c - y * w
                mid = f + 1 + x % 12
                top = mid + 1 + y % 12
                if gi[LIFE_SNAP] != 0:
                    mid = snap_to_scale(harm, mid)
                    top = snap_to_scale(harm, top)
                f = fit_to_chord(gi, harm, f)
                mid = fit_to_chord(gi, harm, mid)
                top = fit_to_chord(gi, harm, top)
                n0 = nev
                vs = velocity(gi, gf, 1.0)
                nev = emit(gi, ev, nev, t, float(f), vs, dur, float(c))
                nev = emit(gi, ev, nev, t, float(mid), vs, dur, float(c))
                nev = emit(gi, ev, nev, t, float(top), vs, dur, float(c))
                if gi[CY_K] > 1:
                    _tag_last(gi, ev, n0, nev, gbuf[CY_MAP + gbuf[CY_A + c]])
                found += 1
        gi[LIFE_POP] = life_step(gbuf, LIFE_A, LIFE_B, h, w, gi[LIFE_BMASK], gi[LIFE_SMASK], gi[LIFE_WRAP])
        _copy(gbuf, LIFE_B, LIFE_A, m)
        if gi[CY_K] > 1:
            cyclic_step(gbuf, CY_A, CY_B, h, w, gi[CY_K], gi[CY_T], gi[CY_MOORE])
            _copy(gbuf, CY_B, CY_A, m)
        gi[LIFE_GEN] += 1
        if gf[LIFE_MUT] > 0.0 and uniform(gi, GI_RNG) < gf[LIFE_MUT]:
            i = randint(gi, GI_RNG, m)
            gbuf[LIFE_A + i] = 1 - gbuf[LIFE_A + i]
        k += 1
    gi[GI_STEP] = k
    return nev


def parse_life_rule(rule: str) -> tuple[int, int]:
    """``"B3/S23"`` (either order, case-insensitive; ``"B36/S23"``, ``"B2/S"``) -> (birth, survival) masks."""
    if not isinstance(rule, str):
        raise ConfigError(f"life rule must be a string like 'B3/S23', got {rule!r}")
    parts = rule.strip().upper().split("/")
    if len(parts) != 2:
        raise ConfigError(f"life rule {rule!r}: expected 'B<digits>/S<digits>'")
    masks = {}
    for part in parts:
        if not part or part[0] not in "BS" or part[0] in masks:
            raise ConfigError(f"life rule {rule!r}: expected 'B<digits>/S<digits>'")
        m = 0
        for ch in part[1:]:
            if ch not in "012345678":
                raise ConfigError(f"life rule {rule!r}: neighbour counts are digits 0..8, got {ch!r}")
            m |= 1 << int(ch)
        masks[part[0]] = m
    return masks["B"], masks["S"]


def parse_grid(pattern: list[str] | str, h: int, w: int) -> list[int]:
    """Rows of ``.``/``O`` (``x``, ``#``, ``*``) centred in an h x w grid (row-major 0/1)."""
    rows = pattern.split() if isinstance(pattern, str) else list(pattern)
    if len(rows) > h or any(len(r) > w for r in rows):
        raise ConfigError(f"seed pattern larger than the {h}x{w} grid")
    grid = [0] * (h * w)
    oy = (h - len(rows)) // 2
    ox = (w - max((len(r) for r in rows), default=0)) // 2
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            if ch not in ".Ox#*o":
                raise ConfigError(f"seed pattern: unexpected character {ch!r}")
            grid[(oy + y) * w + ox + x] = 1 if ch in "Ox#*o" else 0
    return grid


GLIDER = [".O.", "..O", "OOO"]


class Life(Sequencer):
    """A Life-like automaton played with the CAMUS mapping (see the module docstring).

    ``rule`` like ``"B3/S23"``; ``seed``: ``"random"`` (density ``fill``) or rows of ``.``/``O``;
    ``max_cells`` triads per step; ``cyclic_states`` > 1 runs a cyclic automaton alongside whose
    state at the cell picks the instrument (``instruments``, one per state, -1 = layer default).
    """

    kind = GK_LIFE
    name = "life"

    def __init__(self, rule: str = "B3/S23", height: int = 16, width: int = 16,
                 seed: str | list[str] = "random", wrap: bool = True, fill: float = 0.3,
                 mutation: float = 0.0, max_cells: int = 2, base_degree: int = -7, snap: bool = True,
                 cyclic_states: int = 0, cyclic_threshold: int = 1, instruments: list[int] | None = None,
                 **kw) -> None:
        kw.setdefault("layer", LAYER_AUTOMATA)
        super().__init__(**kw)
        self.rule = rule
        self.bmask, self.smask = parse_life_rule(rule)
        if not (3 <= height <= 64 and 3 <= width <= 64):
            raise ConfigError("life: height and width must be 3..64")
        if not 0.0 <= fill <= 1.0 or not 0.0 <= mutation <= 1.0:
            raise ConfigError("life: fill and mutation must be 0..1")
        if not (cyclic_states == 0 or 2 <= cyclic_states <= 16):
            raise ConfigError("life: cyclic_states must be 0 or 2..16")
        self.h, self.w, self.wrap = int(height), int(width), bool(wrap)
        self.seed_mode = 1 if seed == "random" else 0
        self.grid = [0] * (self.h * self.w) if seed == "random" else parse_grid(seed, self.h, self.w)
        self.fill, self.mutation = float(fill), float(mutation)
        self.max_cells, self.base_degree, self.snap = int(max_cells), int(base_degree), bool(snap)
        self.cyclic_states, self.cyclic_threshold = int(cyclic_states), int(cyclic_threshold)
        self.instruments = list(instruments) if instruments else [-1] * max(self.cyclic_states, 1)
        if self.cyclic_states and len(self.instruments) < self.cyclic_states:
            raise ConfigError("life: give one instrument per cyclic state")

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[LIFE_H], gi[LIFE_W] = self.h, self.w
        gi[LIFE_BMASK], gi[LIFE_SMASK], gi[LIFE_WRAP] = self.bmask, self.smask, int(self.wrap)
        gi[LIFE_RESEED], gi[LIFE_SEEN], gi[LIFE_SEEDMODE] = 1, 0, self.seed_mode
        gi[LIFE_MAXCELLS], gi[LIFE_BASEDEG], gi[LIFE_SNAP] = self.max_cells, self.base_degree, int(self.snap)
        gi[CY_K], gi[CY_T], gi[CY_MOORE], gi[CY_TARGET] = self.cyclic_states, self.cyclic_threshold, 0, 0
        gf[LIFE_FILL], gf[LIFE_MUT] = self.fill, self.mutation
        gbuf[LIFE_SEED:LIFE_SEED + self.h * self.w] = self.grid
        gbuf[CY_MAP:CY_MAP + len(self.instruments)] = self.instruments

    def params(self):
        return super().params() + [
            Param("birth", "i", LIFE_BMASK, 0, 511, "birth mask (bit n: born with n neighbours)"),
            Param("survival", "i", LIFE_SMASK, 0, 511, "survival mask"),
            Param("wrap", "i", LIFE_WRAP, 0, 1, "toroidal grid"),
            Param("reseed", "i", LIFE_RESEED, 0, 1 << 62, "increment to reseed"),
            Param("seed_mode", "i", LIFE_SEEDMODE, 0, 1, "0 the seed pattern, 1 random"),
            Param("fill", "f", LIFE_FILL, 0.0, 1.0, "density of live cells of a random reseed"),
            Param("mutation", "f", LIFE_MUT, 0.0, 1.0, "probability per generation that one cell flips"),
            Param("max_cells", "i", LIFE_MAXCELLS, 0, 16, "triads per step at most"),
        ]


@kernel_jit()
def cyclic_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n)
    if r == 0:
        return nev
    h = gi[LIFE_H]
    w = gi[LIFE_W]
    m = h * w
    kk = gi[CY_K]
    if m < 1 or m > MAX_CELLS or kk < 2:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    dur = gate_samples(p, gf, 1.0, r)
    nv = min(gi[CY_VOICES], 16)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        if gi[LIFE_RESEED] != gi[LIFE_SEEN]:
            gi[LIFE_SEEN] = gi[LIFE_RESEED]
            gi[LIFE_GEN] = 0
            _cyclic_reseed(gi, gbuf, m)
        cyclic_step(gbuf, CY_A, CY_B, h, w, kk, gi[CY_T], gi[CY_MOORE])
        gi[LIFE_GEN] += 1
        plays = step_plays(gi, gf)
        for v in range(nv):
            c = ((v * h) // nv) * w + (v * w) // nv
            s = gbuf[CY_B + c]
            if plays and s != gbuf[CY_A + c]:
                n0 = nev
                note = fit_to_chord(gi, harm, degree_to_note(harm, gi[CY_BASEDEG] + 2 * v))
                nev = emit(gi, ev, nev, t, float(note), velocity(gi, gf, 1.0), dur, float(s))
                _tag_last(gi, ev, n0, nev, gbuf[CY_MAP + s])
        _copy(gbuf, CY_B, CY_A, m)
        if gf[LIFE_MUT] > 0.0 and uniform(gi, GI_RNG) < gf[LIFE_MUT]:
            i = randint(gi, GI_RNG, m)
            gbuf[CY_A + i] = randint(gi, GI_RNG, kk)
        k += 1
    gi[GI_STEP] = k
    return nev


class Cyclic(Sequencer):
    """Griffeath's cyclic cellular automaton; ``voices`` probe cells on the diagonal sound when their
    state changes, and the new state picks the instrument (``target="instrument"``) or the layer
    (``target="layer"``) through ``mapping`` (one value per state)."""

    kind = GK_CYCLIC
    name = "cyclic"

    def __init__(self, states: int = 8, threshold: int = 1, height: int = 24, width: int = 24,
                 moore: bool = False, voices: int = 4, base_degree: int = 0, target: str = "instrument",
                 mapping: list[int] | None = None, mutation: float = 0.0, **kw) -> None:
        kw.setdefault("layer", LAYER_AUTOMATA)
        super().__init__(**kw)
        if not 2 <= states <= 16:
            raise ConfigError("cyclic: states must be 2..16")
        if not 1 <= threshold <= 8:
            raise ConfigError("cyclic: threshold must be 1..8")
        if not (3 <= height <= 64 and 3 <= width <= 64):
            raise ConfigError("cyclic: height and width must be 3..64")
        if target not in ("instrument", "layer"):
            raise ConfigError("cyclic: target must be 'instrument' or 'layer'")
        if not 1 <= voices <= 16:
            raise ConfigError("cyclic: voices must be 1..16")
        self.states, self.threshold, self.h, self.w = int(states), int(threshold), int(height), int(width)
        self.moore, self.voices, self.base_degree = bool(moore), int(voices), int(base_degree)
        self.target = target
        default = list(range(self.states)) if target == "instrument" else [self.layer] * self.states
        self.mapping = list(mapping) if mapping is not None else default
        if len(self.mapping) < self.states:
            raise ConfigError("cyclic: give one mapping value per state")
        self.mutation = float(mutation)

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gi[LIFE_H], gi[LIFE_W] = self.h, self.w
        gi[LIFE_RESEED], gi[LIFE_SEEN] = 1, 0
        gi[CY_K], gi[CY_T], gi[CY_MOORE] = self.states, self.threshold, int(self.moore)
        gi[CY_TARGET] = 1 if self.target == "layer" else 0
        gi[CY_VOICES], gi[CY_BASEDEG] = self.voices, self.base_degree
        gf[LIFE_MUT] = self.mutation
        gbuf[CY_MAP:CY_MAP + len(self.mapping)] = self.mapping

    def params(self):
        return super().params() + [
            Param("threshold", "i", CY_T, 1, 8, "neighbours in the next state needed to advance"),
            Param("reseed", "i", LIFE_RESEED, 0, 1 << 62, "increment to reseed"),
            Param("mutation", "f", LIFE_MUT, 0.0, 1.0, "probability per generation that one cell jumps"),
        ]


def grid_array(gbuf: np.ndarray, h: int, w: int, offset: int = LIFE_A) -> np.ndarray:
    """A copy of a slot's grid as an (h, w) array (control path, for plots and tests)."""
    return np.array(gbuf[offset:offset + h * w]).reshape(h, w)
