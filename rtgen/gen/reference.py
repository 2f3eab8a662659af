"""Pure-Python reference implementations of every generator kernel.

They share no code with the compiled kernels: the clock, the random generator, the harmony
lookups and the automata/grammar machinery are written again here in plain Python from the
Sequencer's parsed description (not from its packed integer tables). Fed the same seed,
tempo and harmony, a reference produces the same event stream as the kernel; the tests
check that, and the benchmark uses them as the slow peer. (Not real-time safe: they allocate.)

``make_reference(seq, seed, slot).process(p, harm, t0, n) -> list of EVW-float rows``.
"""

from __future__ import annotations

import math

from ..rt.layout import (
    H_BASE_OCTAVE,
    H_CHORD,
    H_CHORD_LEN,
    H_CHORD_ROOT,
    H_ROOT,
    H_SCALE,
    H_SCALE_LEN,
    H_VERSION,
    P_BEAT,
    P_BPM,
    P_SR,
    P_SWING,
)
from . import grammar as G
from . import theory
from .automata import CA1D, Cyclic, Life
from .base import Sequencer
from .rules import Chorale, DiceGame, Euclid, ModeOfValues, RuleMelody

_M = (1 << 64) - 1


# ---------------------------------------------------------------- rng (xorshift64*)
def seed_state(seed: int, stream: int) -> int:
    z = (seed + 0x9E3779B97F4A7C15 * (stream + 1)) & _M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M
    z ^= z >> 31
    return z or 0x2545F4914F6CDD1D


class Rng:
    def __init__(self, state: int) -> None:
        self.x = state & _M

    def u64(self) -> int:
        x = self.x
        x ^= x >> 12
        x ^= (x << 25) & _M
        x ^= x >> 27
        self.x = x
        return (x * 0x2545F4914F6CDD1D) & _M

    def uniform(self) -> float:
        return (self.u64() >> 11) * (1.0 / 9007199254740992.0)

    def randint(self, n: int) -> int:
        return int(self.uniform() * n)


# ------------------------------------------------------------------ clock, harmony
def _spb(p) -> float:
    return p[P_SR] * 60.0 / p[P_BPM]


def step_sample(p, t0: int, k: int, r: int) -> int:
    b = k / r
    if r >= 2 and k % 2 == 1:
        b += p[P_SWING] / r
    return t0 + int(math.floor((b - p[P_BEAT]) * _spb(p) + 0.5))


def first_step(p, t0: int, k: int, r: int) -> int:
    k = max(k, int(math.floor(p[P_BEAT] * r)) - 1)
    while step_sample(p, t0, k, r) < t0:
        k += 1
    return k


def beats_to_samples(p, beats: float) -> int:
    return max(1, int(beats * _spb(p) + 0.5))


def degree_note(harm, degree: int) -> int:
    n = max(1, int(harm[H_SCALE_LEN]))
    octv, d = divmod(degree, n)
    return int(harm[H_ROOT]) + 12 * (int(harm[H_BASE_OCTAVE]) + 1 + octv) + int(harm[H_SCALE + d])


def chord_pcs(harm) -> list[int]:
    return [int(harm[H_CHORD + i]) for i in range(int(harm[H_CHORD_LEN]))]


def fit(seq, harm, note: int) -> int:
    """rtgen.rt.harmony.fit_to_chord: with ``fit_chord``, a semitone rub onto the chord tone."""
    if not getattr(seq, "fit_chord", False):
        return note
    pcs = chord_pcs(harm)
    pc = note % 12
    if not pcs or pc in pcs:
        return note
    if (pc + 11) % 12 in pcs:
        return note - 1
    if (pc + 1) % 12 in pcs:
        return note + 1
    return note


def snap(harm, note: int) -> int:
    best, bestd = note, 99
    root = int(harm[H_ROOT])
    for d in range(int(harm[H_SCALE_LEN])):
        diff = ((root + int(harm[H_SCALE + d])) % 12 - note) % 12
        if diff > 6:
            diff -= 12
        if abs(diff) < bestd or (abs(diff) == bestd and diff < 0):
            best, bestd = note + diff, abs(diff)
    return best


# --------------------------------------------------------------------------- base
class Reference:
    def __init__(self, seq: Sequencer, seed: int, slot: int) -> None:
        self.seq = seq
        self.rng = Rng(seed_state(seed, slot + 1))
        self.k = 0
        self.r = max(1, seq.steps_per_beat)
        self.layer, self.instr = seq.layer, seq.instrument
        self.gate, self.vel, self.density, self.humanize = seq.gate, seq.velocity, seq.density, seq.humanize

    def plays(self) -> bool:
        if self.density >= 1.0:
            return True
        if self.density <= 0.0:
            return False
        return self.rng.uniform() < self.density

    def velocity(self, scale: float) -> float:
        v = self.vel * scale
        if self.humanize > 0.0:
            v = v * (1.0 + self.humanize * (self.rng.uniform() - 0.5))
        return v

    def note_len(self, p, steps: float) -> int:
        return beats_to_samples(p, self.gate * steps / self.r)

    def emit(self, out, t, note, vel, dur, tag, pan=0.0, layer=None, instr=None) -> None:
        out.append([float(t), float(note), min(127.0, max(1.0, vel)), float(max(1, dur)),
                    float(self.layer if layer is None else layer),
                    float(self.instr if instr is None else instr),
                    float(pan), float(tag)])

    def process(self, p, harm, t0: int, n: int) -> list[list[float]]:
        out: list[list[float]] = []
        k = first_step(p, t0, self.k, self.r)
        while True:
            t = step_sample(p, t0, k, self.r)
            if t >= t0 + n:
                break
            self.on_step(k, t, p, harm, out)
            k += 1
        self.k = k
        return out

    def on_step(self, k, t, p, harm, out) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# ------------------------------------------------------------------------- rules
class EuclidRef(Reference):
    def __init__(self, seq: Euclid, seed, slot):
        super().__init__(seq, seed, slot)
        self.tracks = [(t, theory.euclid(int(t.get("pulses", 3)), int(t.get("steps", 8))))
                       for t in seq.tracks]
        self.rot = [int(t.get("rotation", 0)) for t in seq.tracks]

    def on_step(self, k, t, p, harm, out):
        dur = self.note_len(p, 1.0)
        for i, (tr, pat) in enumerate(self.tracks):
            if pat[(k + self.rot[i]) % len(pat)] and self.plays():
                note = degree_note(harm, int(tr["degree"])) if "degree" in tr else int(tr.get("note", 36))
                self.emit(out, t, note, self.velocity(float(tr.get("accent", 1.0))), dur, i)


class ChoraleRef(Reference):
    def __init__(self, seq: Chorale, seed, slot):
        super().__init__(seq, seed, slot)
        self.spc = seq.beats_per_chord * self.r
        self.last = -1

    def on_step(self, k, t, p, harm, out):
        s: Chorale = self.seq  # type: ignore[assignment]
        if k % self.spc:
            return
        c = (k // self.spc) % len(s.chords)
        tr = (int(harm[H_ROOT]) - s.tonic) % 12
        tr = tr - 12 if tr > 6 else tr
        if s.drive_harmony and self.last != c:
            self.last = c
            root = int(harm[H_ROOT])
            pcs = s.chords[c].pcs[:6]
            harm[H_CHORD_ROOT] = (pcs[0] + root) % 12
            harm[H_CHORD_LEN] = len(pcs)
            for j, x in enumerate(pcs):
                harm[H_CHORD + j] = (x + root) % 12
            harm[H_VERSION] += 1
        if self.plays():
            dur = self.note_len(p, float(self.spc))
            for v, note in enumerate(s.voicings[c]):
                self.emit(out, t, note + tr, self.velocity(1.0 if v else 1.1), dur, c, -0.45 + 0.3 * v)


class MelodyRef(Reference):
    MOVES = ((0.3, 1), (0.6, -1), (0.72, 2), (0.84, -2), (0.89, 3), (0.94, -3), (0.97, 4), (1.0, 0))

    def __init__(self, seq: RuleMelody, seed, slot):
        super().__init__(seq, seed, slot)
        self.deg = min(max(seq.start, seq.low), seq.high)
        self.last = 0

    def on_step(self, k, t, p, harm, out):
        s: RuleMelody = self.seq  # type: ignore[assignment]
        if not self.plays():
            return
        if self.last >= 3:
            mv = -1
        elif self.last <= -3:
            mv = 1
        else:
            u = self.rng.uniform()
            mv = next((m for c, m in self.MOVES if u < c), 0)
        d = self.deg + mv
        if not s.low <= d <= s.high:
            d = self.deg - mv
        strong = k % self.r == 0
        if strong and harm[H_CHORD_LEN] > 0:
            pcs = chord_pcs(harm)
            for off in (0, 1, -1, 2, -2):
                if s.low <= d + off <= s.high and degree_note(harm, d + off) % 12 in pcs:
                    d += off
                    break
        self.last, self.deg = d - self.deg, d
        self.emit(out, t, degree_note(harm, d), self.velocity(1.1 if strong else 0.9),
                  self.note_len(p, 1.0), d)


class DiceRef(Reference):
    def __init__(self, seq: DiceGame, seed, slot):
        super().__init__(seq, seed, slot)
        self.bar, self.num = -1, 0
        self.sums: list[int] = []

    def on_step(self, k, t, p, harm, out):
        base = self.seq.base_degree  # type: ignore[attr-defined]
        bar, pos = divmod(k, 3)
        if bar != self.bar:
            s = self.rng.randint(6) + self.rng.randint(6) + 2
            self.sums.append(s)
            self.bar, self.num = bar, theory.dice_measure(bar % 16, s)
            pos = 0
        col = next(c for row in theory.DICE_TABLE for c, m in enumerate(row) if m == self.num)
        mel, bass = theory.standin_measure(self.num, col)
        if pos == 0:
            self.emit(out, t, degree_note(harm, bass + base), self.velocity(0.8), self.note_len(p, 3.0),
                      self.num)
        self.emit(out, t, degree_note(harm, mel[pos] + base), self.velocity(1.05 if pos == 0 else 0.9),
                  self.note_len(p, 1.0), self.num)


class SerialRef(Reference):
    def __init__(self, seq: ModeOfValues, seed, slot):
        super().__init__(seq, seed, slot)
        self.next = [0] * seq.divisions

    def on_step(self, k, t, p, harm, out):
        s: ModeOfValues = self.seq  # type: ignore[assignment]
        low = 12 * (int(harm[H_BASE_OCTAVE]) - 1) + int(harm[H_ROOT])
        for v in range(s.divisions):
            if k < self.next[v]:
                continue
            e = 12 * v + self.rng.randint(12)
            pitch, steps, dyn, att = s.table[e]
            self.next[v] = k + steps
            if self.plays():
                g, vf = theory.ATTACKS[att]
                vel = theory.DYNAMICS[dyn] * vf * self.vel / 90.0
                self.emit(out, t, low + pitch, vel, self.note_len(p, steps * g), e)


# ----------------------------------------------------------------------- grammars
_END = object()


class GrammarRef(Reference):
    FETCH = G.FETCH_BUDGET

    def __init__(self, seq: G.GrammarSeq, seed, slot):
        super().__init__(seq, seed, slot)
        self.g = seq.grammar
        self.cum = {a: G.cumulative_weights([w for w, _ in alts]) for a, alts in self.g.rules.items()}
        self.stream = self._items()
        self.next_k = 0
        self.queue: list[tuple[int, int]] = []
        self.qpos, self.qdur, self.silent, self.ready = 0, 1, False, False
        self.derivations = 0

    def _expand(self, sym):
        if sym not in self.g.rules:
            yield sym
            return
        x = int(self.rng.uniform() * 16777216.0)
        cum = self.cum[sym]
        j = next((i for i, c in enumerate(cum) if c > x), len(cum) - 1)
        for s in self.g.rules[sym][j][1]:
            yield from self._expand(s)

    def _items(self):
        while True:
            yield from self._expand(self.g.start)
            self.derivations += 1
            yield _END

    def terminals(self, count: int) -> list:
        """The next ``count`` items of the derivation stream (terminal names, None at derivation ends)."""
        return [None if x is _END else x for x in (next(self.stream) for _ in range(count))]

    def _collect(self) -> bool:
        seq: G.GrammarSeq = self.seq  # type: ignore[assignment]
        for _ in range(self.FETCH):
            x = next(self.stream)
            if x is _END:
                if self.queue:
                    self.qdur, self.silent = max(1, seq.steps_per_beat), False
                    return True
                continue
            kind, val = seq.terminal_code(x)
            if kind in (G.T_DEGREE, G.T_NOTE):
                if len(self.queue) < G.QUEUE_CAP:
                    self.queue.append((kind, val))
            elif kind in (G.T_DUR, G.T_REST):
                self.silent = kind == G.T_REST or not self.queue
                if not self.queue:
                    self.queue.append((G.T_NOP, 0))
                self.qdur = max(1, val)
                return True
        return False

    def on_step(self, k, t, p, harm, out):
        if k < self.next_k:
            return
        if self.ready and self.qpos >= len(self.queue):
            self.ready, self.queue, self.qpos = False, [], 0
        if not self.ready and self._collect():
            self.ready = True
        if not self.ready:
            self.next_k = k + 1
            return
        q = self.qpos
        self.qpos += 1
        self.next_k = k + self.qdur
        if not self.silent:
            kind, val = self.queue[q]
            note = fit(self.seq, harm, degree_note(harm, val) if kind == G.T_DEGREE else val)
            self.emit(out, t, note, self.velocity(1.0), self.note_len(p, float(self.qdur)), q)


class LSystemRef(Reference):
    def __init__(self, seq: G.LSystem, seed, slot):
        super().__init__(seq, seed, slot)
        self.s = seq.string
        self.pos, self.next_k = 0, 0
        self.deg, self.dur = seq.start_degree, seq.base_steps
        self.stack: list[tuple[int, int]] = []

    def on_step(self, k, t, p, harm, out):
        seq: G.LSystem = self.seq  # type: ignore[assignment]
        if k < self.next_k:
            return
        self.next_k = k + 1
        for _ in range(G.LS_SYM_BUDGET):
            sym = self.s[self.pos]
            sounded = False
            for a in seq.codes.get(sym, []):
                if a == G.A_NOTE:
                    w = seq.high - seq.low + 1
                    deg = seq.low + (self.deg - seq.low) % w
                    self.emit(out, t, fit(seq, harm, degree_note(harm, deg)), self.velocity(1.0),
                              self.note_len(p, float(self.dur)), self.pos)
                    self.next_k, sounded = k + self.dur, True
                elif a == G.A_REST:
                    self.next_k, sounded = k + self.dur, True
                elif a == G.A_UP:
                    self.deg += 1
                elif a == G.A_DOWN:
                    self.deg -= 1
                elif a == G.A_LONGER:
                    self.dur = min(2 * self.dur, 64)
                elif a == G.A_SHORTER:
                    self.dur = max(self.dur // 2, 1)
                elif a == G.A_PUSH and len(self.stack) < G.LS_STACK_CAP:
                    self.stack.append((self.deg, self.dur))
                elif a == G.A_POP and self.stack:
                    self.deg, self.dur = self.stack.pop()
            self.pos += 1
            if self.pos >= len(self.s):
                self.pos, self.deg, self.dur, self.stack = 0, seq.start_degree, seq.base_steps, []
            if sounded:
                break


# ----------------------------------------------------------------------- automata
def elementary_step(row: list[int], rule: int, wrap: bool) -> list[int]:
    w = len(row)
    out = []
    for i in range(w):
        left = row[i - 1] if i > 0 else (row[-1] if wrap else 0)
        right = row[i + 1] if i < w - 1 else (row[0] if wrap else 0)
        out.append((rule >> (4 * left + 2 * row[i] + right)) & 1)
    return out


def life_generation(grid: list[list[int]], birth: set[int], survive: set[int], wrap: bool) -> list[list[int]]:
    h, w = len(grid), len(grid[0])
    new = [[0] * w for _ in range(h)]
    for y in range(h):
        for x in range(w):
            cnt = 0
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if dx == dy == 0:
                        continue
                    yy, xx = y + dy, x + dx
                    if not (0 <= yy < h and 0 <= xx < w):
                        if not wrap:
                            continue
                        yy, xx = yy % h, xx % w
                    cnt += grid[yy][xx]
            new[y][x] = int(cnt in (survive if grid[y][x] else birth))
    return new


def cyclic_generation(grid: list[list[int]], k: int, thr: int, moore: bool) -> list[list[int]]:
    h, w = len(grid), len(grid[0])
    nb = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
          if (dy, dx) != (0, 0) and (moore or dy == 0 or dx == 0)]
    new = [row[:] for row in grid]
    for y in range(h):
        for x in range(w):
            nxt = (grid[y][x] + 1) % k
            if sum(grid[(y + dy) % h][(x + dx) % w] == nxt for dy, dx in nb) >= thr:
                new[y][x] = nxt
    return new


def _mask_set(mask: int) -> set[int]:
    return {i for i in range(9) if mask >> i & 1}


class CA1DRef(Reference):
    def __init__(self, seq: CA1D, seed, slot):
        super().__init__(seq, seed, slot)
        self.row: list[int] = []
        self.rows: list[list[int]] = []
        self.reseeded = False

    def on_step(self, k, t, p, harm, out):
        s: CA1D = self.seq  # type: ignore[assignment]
        if not self.reseeded:
            self.reseeded = True
            if s.seed_mode == 1:
                self.row = [1 if self.rng.uniform() < s.fill else 0 for _ in range(s.width)]
            else:
                self.row = list(s.seed_row)
        self.rows.append(self.row)
        if self.plays():
            count = 0
            for j in range(min(s.window, s.width)):
                if count >= s.max_notes:
                    break
                i = (s.offset + j) % s.width
                if self.row[i]:
                    note = fit(s, harm, degree_note(harm, s.base_degree + s.degree_step * j))
                    self.emit(out, t, note, self.velocity(1.0), self.note_len(p, 1.0), i)
                    count += 1
        self.row = elementary_step(self.row, s.rule, s.wrap)
        if s.mutation > 0.0 and self.rng.uniform() < s.mutation:
            i = self.rng.randint(s.width)
            self.row = self.row[:i] + [1 - self.row[i]] + self.row[i + 1:]


class LifeRef(Reference):
    def __init__(self, seq: Life, seed, slot):
        super().__init__(seq, seed, slot)
        self.grid: list[list[int]] = []
        self.cyc: list[list[int]] = []
        self.gen = 0
        self.reseeded = False
        self.history: list[list[list[int]]] = []

    def on_step(self, k, t, p, harm, out):
        s: Life = self.seq  # type: ignore[assignment]
        h, w = s.h, s.w
        if not self.reseeded:
            self.reseeded, self.gen = True, 0
            if s.seed_mode == 1:
                flat = [1 if self.rng.uniform() < s.fill else 0 for _ in range(h * w)]
            else:
                flat = list(s.grid)
            self.grid = [flat[y * w:(y + 1) * w] for y in range(h)]
            if s.cyclic_states > 1:
                flat = [self.rng.randint(s.cyclic_states) for _ in range(h * w)]
                self.cyc = [flat[y * w:(y + 1) * w] for y in range(h)]
        self.history.append(self.grid)
        if self.plays():
            f = degree_note(harm, s.base_degree)
            croot = int(harm[H_CHORD_ROOT])
            if croot >= 0:
                f -= (f - croot) % 12
            start = (self.gen * 97) % (h * w)
            found = 0
            for q in range(h * w):
                if found >= s.max_cells:
                    break
                c = (start + q) % (h * w)
                y, x = divmod(c, w)
                if not self.grid[y][x]:
                    continue
                mid = f + 1 + x % 12
                top = mid + 1 + y % 12
                if s.snap:
                    mid, top = snap(harm, mid), snap(harm, top)
                f, mid, top = fit(s, harm, f), fit(s, harm, mid), fit(s, harm, top)
                vs = self.velocity(1.0)
                instr = s.instruments[self.cyc[y][x]] if s.cyclic_states > 1 else None
                for note in (f, mid, top):
                    self.emit(out, t, note, vs, self.note_len(p, 1.0), c, instr=instr)
                found += 1
        self.grid = life_generation(self.grid, _mask_set(s.bmask), _mask_set(s.smask), s.wrap)
        if s.cyclic_states > 1:
            self.cyc = cyclic_generation(self.cyc, s.cyclic_states, s.cyclic_threshold, False)
        self.gen += 1
        if s.mutation > 0.0 and self.rng.uniform() < s.mutation:
            y, x = divmod(self.rng.randint(h * w), w)
            self.grid[y][x] = 1 - self.grid[y][x]


class CyclicRef(Reference):
    def __init__(self, seq: Cyclic, seed, slot):
        super().__init__(seq, seed, slot)
        self.grid: list[list[int]] = []

    def on_step(self, k, t, p, harm, out):
        s: Cyclic = self.seq  # type: ignore[assignment]
        h, w = s.h, s.w
        if not self.grid:
            flat = [self.rng.randint(s.states) for _ in range(h * w)]
            self.grid = [flat[y * w:(y + 1) * w] for y in range(h)]
        new = cyclic_generation(self.grid, s.states, s.threshold, s.moore)
        plays = self.plays()
        for v in range(s.voices):
            y, x = (v * h) // s.voices, (v * w) // s.voices
            st = new[y][x]
            if plays and st != self.grid[y][x]:
                route = s.mapping[st]
                note = fit(s, harm, degree_note(harm, s.base_degree + 2 * v))
                self.emit(out, t, note, self.velocity(1.0), self.note_len(p, 1.0), st,
                          layer=route if s.target == "layer" else None,
                          instr=route if s.target == "instrument" else None)
        self.grid = new
        if s.mutation > 0.0 and self.rng.uniform() < s.mutation:
            y, x = divmod(self.rng.randint(h * w), w)
            self.grid[y][x] = self.rng.randint(s.states)
