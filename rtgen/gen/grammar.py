"""Grammars: a probabilistic context-free grammar and an L-system, compiled to integer tables.

**PCFG.** A small text format, parsed by a hand-written tokenizer and recursive-descent parser
(never ``eval``)::

    # comment
    Melody -> Phrase Phrase
    Phrase -> Pitch Duration | Pitch Pitch Duration
    Pitch  -> (0.7) C | (0.3) G          # optional weights in parentheses
    Duration -> Whole | Half | Quarter

The first left-hand side is the start symbol; a symbol that never appears on the left is a
terminal and must have a musical meaning in the terminal table (:data:`DEFAULT_TERMINALS`,
configurable): a scale degree (pitch names C..B are degrees 0..6 of the *current* key,
movable-do), an absolute MIDI note, a duration in beats, a rest, or nothing. Pitches queue up
until a duration arrives; every queued pitch is then played, one after the other, with that
duration (``C D Half`` = C half, D half); a duration with no pitch, or a rest, is silence.
Expansion runs in the compiled kernel (leftmost derivation with an explicit stack in ``gbuf``);
a derivation that exceeds the stack, its length or its expansion budget is abandoned and
counted in ``gi[GR_TRUNC]`` - never a crash.

**L-system.** Parallel rewriting of every symbol per generation (Lindenmayer 1968;
Prusinkiewicz & Lindenmayer, "The Algorithmic Beauty of Plants", 1990): ``A -> AB, B -> A``
gives the Fibonacci word. The expanded string is read by a musical turtle (``note``, ``up``,
``down``, ``longer``, ``shorter``, ``rest``, ``push`` ``[``, ``pop`` ``]``). The string is
capped at ``max_length`` symbols; truncation is reported (``gi[LS_TRUNC]``, ``.truncated``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..rt.clock import first_step_at_or_after, step_sample
from ..rt.harmony import degree_to_note, fit_to_chord
from ..rt.jit import kernel_jit
from ..rt.layout import (
    GEN_NB,
    GI_RNG,
    GI_STEP,
    GI_USER,
    GK_GRAMMAR,
    GK_LSYSTEM,
    LAYER_GRAMMAR,
)
from ..rt.rng import uniform
from .base import Param, Sequencer
from .kutil import chunk_grid, emit, gate_samples, velocity, wrap_range

# ------------------------------------------------------------------------- terminals
T_DEGREE = 0
T_NOTE = 1
T_DUR = 2
T_REST = 3
T_NOP = 4
_TKIND = {"degree": T_DEGREE, "note": T_NOTE, "beats": T_DUR, "rest": T_REST, "nop": T_NOP}

DEFAULT_TERMINALS: dict[str, tuple[str, float]] = {
    **{c: ("degree", float(i)) for i, c in enumerate("CDEFGAB")},
    "Whole": ("beats", 4.0), "Half": ("beats", 2.0), "Quarter": ("beats", 1.0),
    "Eighth": ("beats", 0.5), "Sixteenth": ("beats", 0.25),
    "Rest": ("rest", 1.0), "HalfRest": ("rest", 2.0),
}


# ------------------------------------------------------------------------ tokenizer
@dataclass(frozen=True)
class Token:
    kind: str      # "sym" "arrow" "bar" "weight" "nl" "eof"
    text: str
    line: int
    col: int


def _err(msg: str, line: int, col: int) -> ConfigError:
    return ConfigError(f"grammar line {line}, column {col}: {msg}")


def tokenize(text: str) -> list[Token]:
    """Split grammar text into tokens with 1-based line/column positions."""
    toks: list[Token] = []
    line, i, col0 = 1, 0, 0
    n = len(text)
    while i < n:
        c = text[i]
        col = i - col0 + 1
        if c == "\n":
            toks.append(Token("nl", "\n", line, col))
            line += 1
            i += 1
            col0 = i
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("->", i) or c == "→":
            toks.append(Token("arrow", "->", line, col))
            i += 1 if c == "→" else 2
        elif c == "|":
            toks.append(Token("bar", "|", line, col))
            i += 1
        elif c == "(":
            j = text.find(")", i)
            nl = text.find("\n", i)
            if j < 0 or (0 <= nl < j):
                raise _err("unclosed '(' of a weight", line, col)
            body = text[i + 1:j].strip()
            if not _is_number(body):
                raise _err(f"weight {body!r} is not a number", line, col + 1)
            if float(body) <= 0.0:
                raise _err(f"weight {body!r} must be positive", line, col + 1)
            toks.append(Token("weight", body, line, col))
            i = j + 1
        elif c.isalnum() or c in "_#'ε":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_#'ε"):
                j += 1
            toks.append(Token("sym", text[i:j], line, col))
            i = j
        else:
            raise _err(f"unexpected character {c!r}", line, col)
    toks.append(Token("nl", "\n", line, n - col0 + 1))
    toks.append(Token("eof", "", line, n - col0 + 1))
    return toks


def _is_number(s: str) -> bool:
    """A plain decimal number (digits with at most one point), nothing else."""
    digits = s.replace(".", "", 1)
    return bool(digits) and digits.isdigit()


# --------------------------------------------------------------------------- parser
@dataclass(frozen=True)
class Grammar:
    """A parsed PCFG: ``rules[lhs]`` = list of (weight, rhs symbols); ``start`` = first lhs."""

    start: str
    rules: dict[str, list[tuple[float, tuple[str, ...]]]]

    @property
    def nonterminals(self) -> list[str]:
        return list(self.rules)

    @property
    def terminals(self) -> list[str]:
        seen: dict[str, None] = {}
        for alts in self.rules.values():
            for _, rhs in alts:
                for s in rhs:
                    if s not in self.rules:
                        seen[s] = None
        return list(seen)


def parse_grammar(text: str) -> Grammar:
    """Parse the grammar text (see the module docstring). Errors: ``ConfigError`` with line/column."""
    toks = tokenize(text)
    pos = 0
    rules: dict[str, list[tuple[float, tuple[str, ...]]]] = {}
    start = ""

    def peek() -> Token:
        return toks[pos]

    while peek().kind != "eof":
        t = peek()
        if t.kind == "nl":
            pos += 1
            continue
        if t.kind != "sym":
            raise _err(f"expected a rule name, found {t.text!r}", t.line, t.col)
        lhs = t.text
        pos += 1
        if peek().kind != "arrow":
            raise _err(f"expected '->' after {lhs!r}", peek().line, peek().col)
        pos += 1
        alts: list[tuple[float, tuple[str, ...]]] = []
        while True:
            # an alternative: [weight] sym* ; may continue on the next line after '|'
            weight = 1.0
            if peek().kind == "weight":
                weight = float(peek().text)
                pos += 1
            syms: list[str] = []
            while peek().kind == "sym":
                if peek().text not in ("ε", "eps"):
                    syms.append(peek().text)
                pos += 1
            if peek().kind == "weight":
                raise _err("a weight must come first in its alternative", peek().line, peek().col)
            if not syms and toks[pos - 1].text not in ("ε", "eps"):
                raise _err(f"empty alternative for {lhs!r} (write ε for the empty string)",
                           peek().line, peek().col)
            alts.append((weight, tuple(syms)))
            if peek().kind == "bar":
                pos += 1
                continue
            if peek().kind == "nl" and toks[pos + 1].kind == "bar":
                pos += 2
                continue
            if peek().kind not in ("nl", "eof"):
                raise _err(f"unexpected {peek().text!r}", peek().line, peek().col)
            break
        if not start:
            start = lhs
        rules.setdefault(lhs, []).extend(alts)
    if not start:
        raise ConfigError("grammar line 1, column 1: the grammar has no rules")
    return Grammar(start, rules)


def cumulative_weights(weights: list[float]) -> list[int]:
    """Integer cumulative weights out of 2**24 (the kernel and the reference share this rule)."""
    total = sum(weights)
    acc = 0.0
    out = []
    for w in weights:
        acc += w
        out.append(min(1 << 24, int(round(acc / total * (1 << 24)))))
    out[-1] = 1 << 24
    return out


# ----------------------------------------------------------------- compiled layout
# gbuf: [G_NT + 2*i]: first production, count of nonterminal i; [G_PROD + 3*j]: cumulative
# weight, rhs start, rhs length of production j; [G_RHS + ...] symbols (i >= 0 nonterminal,
# -(t+1) terminal t); [G_TERM + 2*t] kind, value; stack at G_STACK; queue (kind, value) pairs
# at G_QUEUE.
G_NT = 0
G_PROD = 1024
G_RHS = 8192
G_TERM = 16384
G_STACK = 20480
G_QUEUE = 40960
MAX_NT = 512
MAX_PROD = 2048
MAX_RHS = 8192
MAX_TERM = 2048
STACK_CAP = 16384
QUEUE_CAP = 16
POP_BUDGET = 256          # stack operations per terminal request (bounded work per call)
FETCH_BUDGET = 32         # terminal requests per step

GR_SP = GI_USER           # stack pointer
GR_START = GI_USER + 1    # start symbol
GR_ACTIVE = GI_USER + 2   # 1 while a derivation is in progress
GR_LEN = GI_USER + 3      # terminals of the current derivation
GR_EXP = GI_USER + 4      # expansions of the current derivation
GR_MAXDEPTH = GI_USER + 5  # live: stack limit
GR_MAXLEN = GI_USER + 6   # live: terminals per derivation limit
GR_TRUNC = GI_USER + 7    # reported: derivations abandoned at a limit
GR_DERIVS = GI_USER + 8   # reported: complete derivations
GR_NEXT = GI_USER + 9     # next step that sounds
GR_READY = GI_USER + 10   # 1: the queue is being played
GR_QLEN = GI_USER + 11
GR_QPOS = GI_USER + 12
GR_QDUR = GI_USER + 13
GR_SILENT = GI_USER + 14
GR_DEFDUR = GI_USER + 15  # steps of pitches left without a duration at the end of a derivation
GR_QTRUNC = GI_USER + 16  # reported: pitches dropped because the queue was full
GR_MAXEXP = GI_USER + 17


@kernel_jit()
def _abandon(gi) -> None:
    gi[GR_SP] = 0
    gi[GR_ACTIVE] = 0
    gi[GR_TRUNC] += 1


@kernel_jit()
def grammar_next(gi, gbuf) -> int:
    """Next terminal of the running derivation: its index, -1 at the end of a derivation,
    -2 when a derivation was abandoned at a limit, -3 when the work budget ran out (call again)."""
    sp = gi[GR_SP]
    cap = min(gi[GR_MAXDEPTH], STACK_CAP)
    for _ in range(POP_BUDGET):
        if sp == 0:
            if gi[GR_ACTIVE] == 1:
                gi[GR_ACTIVE] = 0
                gi[GR_DERIVS] += 1
                return -1
            gbuf[G_STACK] = gi[GR_START]
            sp = 1
            gi[GR_ACTIVE] = 1
            gi[GR_LEN] = 0
            gi[GR_EXP] = 0
            continue
        sp -= 1
        s = gbuf[G_STACK + sp]
        if s < 0:
            gi[GR_SP] = sp
            gi[GR_LEN] += 1
            if gi[GR_LEN] > gi[GR_MAXLEN]:
                _abandon(gi)
                return -2
            return -s - 1
        gi[GR_EXP] += 1
        if gi[GR_EXP] > gi[GR_MAXEXP]:
            _abandon(gi)
            return -2
        first = gbuf[G_NT + 2 * s]
        cnt = gbuf[G_NT + 2 * s + 1]
        x = int(uniform(gi, GI_RNG) * 16777216.0)
        j = first
        while j < first + cnt - 1 and gbuf[G_PROD + 3 * j] <= x:
            j += 1
        rs = gbuf[G_PROD + 3 * j + 1]
        rl = gbuf[G_PROD + 3 * j + 2]
        if sp + rl > cap:
            _abandon(gi)
            return -2
        for q in range(rl):
            gbuf[G_STACK + sp + q] = gbuf[G_RHS + rs + rl - 1 - q]
        sp += rl
    gi[GR_SP] = sp
    return -3


@kernel_jit()
def _collect(gi, gbuf) -> bool:
    """Fetch terminals into the queue until a duration (or the end of a derivation)."""
    for _ in range(FETCH_BUDGET):
        x = grammar_next(gi, gbuf)
        if x == -3:
            return False
        if x < 0:
            if gi[GR_QLEN] > 0:
                gi[GR_QDUR] = gi[GR_DEFDUR]
                gi[GR_SILENT] = 0
                return True
            continue
        kind = gbuf[G_TERM + 2 * x]
        val = gbuf[G_TERM + 2 * x + 1]
        if kind == T_DEGREE or kind == T_NOTE:
            q = gi[GR_QLEN]
            if q < QUEUE_CAP:
                gbuf[G_QUEUE + 2 * q] = kind
                gbuf[G_QUEUE + 2 * q + 1] = val
                gi[GR_QLEN] = q + 1
            else:
                gi[GR_QTRUNC] += 1
        elif kind == T_DUR or kind == T_REST:
            gi[GR_SILENT] = 1 if (kind == T_REST or gi[GR_QLEN] == 0) else 0
            if gi[GR_QLEN] == 0:
                gi[GR_QLEN] = 1
            gi[GR_QDUR] = max(1, val)
            return True
    return False


@kernel_jit()
def grammar_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n, GR_NEXT)
    if r == 0:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        if k >= gi[GR_NEXT]:
            if gi[GR_READY] == 1 and gi[GR_QPOS] >= gi[GR_QLEN]:
                gi[GR_READY] = 0
                gi[GR_QLEN] = 0
                gi[GR_QPOS] = 0
            if gi[GR_READY] == 0 and _collect(gi, gbuf):
                gi[GR_READY] = 1
            if gi[GR_READY] == 1:
                q = gi[GR_QPOS]
                gi[GR_QPOS] = q + 1
                d = gi[GR_QDUR]
                gi[GR_NEXT] = k + d
                if gi[GR_SILENT] == 0:
                    kind = gbuf[G_QUEUE + 2 * q]
                    val = gbuf[G_QUEUE + 2 * q + 1]
                    note = fit_to_chord(gi, harm, degree_to_note(harm, val) if kind == T_DEGREE else val)
                    nev = emit(gi, ev, nev, t, float(note), velocity(gi, gf, 1.0),
                               gate_samples(p, gf, float(d), r), float(q))
            else:
                gi[GR_NEXT] = k + 1
        k += 1
    gi[GI_STEP] = k
    return nev


def _terminal_table(terminals: dict[str, tuple[str, float]] | None) -> dict[str, tuple[str, float]]:
    table = dict(DEFAULT_TERMINALS)
    for name, spec in (terminals or {}).items():
        if (not isinstance(spec, (tuple, list)) or len(spec) != 2 or spec[0] not in _TKIND
                or not isinstance(spec[1], (int, float))):
            raise ConfigError(f"terminal {name!r}: expected [kind, value] with kind in {sorted(_TKIND)}")
        table[name] = (str(spec[0]), float(spec[1]))
    return table


class GrammarSeq(Sequencer):
    """A probabilistic context-free grammar played as melody (see the module docstring).

    ``terminals`` extends/overrides the terminal table: ``{"X": ["note", 62], "Long": ["beats", 3]}``.
    Live: ``max_depth`` (stack), ``max_length`` (terminals per derivation). Reported in gi:
    ``GR_TRUNC`` (abandoned derivations), ``GR_DERIVS`` (complete ones), ``GR_QTRUNC``.
    """

    kind = GK_GRAMMAR
    name = "grammar"

    def __init__(self, text: str, terminals: dict | None = None, max_depth: int = 256,
                 max_length: int = 1024, **kw) -> None:
        kw.setdefault("layer", LAYER_GRAMMAR)
        super().__init__(**kw)
        self.grammar = parse_grammar(text)
        self.text = text
        self.terminals = _terminal_table(terminals)
        missing = [t for t in self.grammar.terminals if t not in self.terminals]
        if missing:
            raise ConfigError(f"grammar terminal(s) with no musical meaning: {', '.join(missing)} "
                              "(add them to 'terminals')")
        self.max_depth = int(max_depth)
        self.max_length = int(max_length)
        if not 1 <= self.max_depth <= STACK_CAP:
            raise ConfigError(f"grammar: max_depth must be 1..{STACK_CAP}")
        self.tables = self._compile()

    def terminal_code(self, name: str) -> tuple[int, int]:
        kind, val = self.terminals[name]
        k = _TKIND[kind]
        if k in (T_DUR, T_REST):
            return k, max(1, int(round(val * max(1, self.steps_per_beat))))
        return k, int(val)

    def _compile(self) -> dict[str, np.ndarray]:
        g = self.grammar
        nts = g.nonterminals
        terms = g.terminals
        nt_id = {s: i for i, s in enumerate(nts)}
        t_id = {s: i for i, s in enumerate(terms)}
        if len(nts) > MAX_NT or len(terms) > MAX_TERM:
            raise ConfigError("grammar too large (symbols)")
        nt = np.zeros(2 * len(nts), np.int32)
        prods: list[int] = []
        rhs: list[int] = []
        for i, s in enumerate(nts):
            alts = g.rules[s]
            nt[2 * i] = len(prods) // 3
            nt[2 * i + 1] = len(alts)
            cum = cumulative_weights([w for w, _ in alts])
            for c, (_, syms) in zip(cum, alts, strict=True):
                prods += [c, len(rhs), len(syms)]
                rhs += [nt_id[x] if x in nt_id else -(t_id[x] + 1) for x in syms]
        if len(prods) // 3 > MAX_PROD or len(rhs) > MAX_RHS:
            raise ConfigError("grammar too large (productions)")
        term = np.array([v for t in terms for v in self.terminal_code(t)], np.int32)
        return {"nt": nt, "prod": np.array(prods, np.int32), "rhs": np.array(rhs, np.int32), "term": term,
                "start": np.array([nt_id[g.start]], np.int32)}

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        tb = self.tables
        gbuf[G_NT:G_NT + len(tb["nt"])] = tb["nt"]
        gbuf[G_PROD:G_PROD + len(tb["prod"])] = tb["prod"]
        gbuf[G_RHS:G_RHS + len(tb["rhs"])] = tb["rhs"]
        gbuf[G_TERM:G_TERM + len(tb["term"])] = tb["term"]
        gi[GR_START] = int(tb["start"][0])
        gi[GR_MAXDEPTH] = self.max_depth
        gi[GR_MAXLEN] = self.max_length
        gi[GR_MAXEXP] = 4 * self.max_length + 64
        gi[GR_DEFDUR] = max(1, self.steps_per_beat)

    def params(self):
        return super().params() + [
            Param("max_depth", "i", GR_MAXDEPTH, 1, STACK_CAP, "stack limit of a derivation"),
            Param("max_length", "i", GR_MAXLEN, 1, 1 << 20, "terminals per derivation limit"),
        ]


# ============================================================================ L-system
A_NONE = 0
A_NOTE = 1
A_UP = 2
A_DOWN = 3
A_LONGER = 4
A_SHORTER = 5
A_REST = 6
A_PUSH = 7
A_POP = 8
ACTIONS = {"note": A_NOTE, "up": A_UP, "down": A_DOWN, "longer": A_LONGER, "shorter": A_SHORTER,
           "rest": A_REST, "push": A_PUSH, "pop": A_POP}
DEFAULT_ACTIONS: dict[str, str] = {"F": "note", "G": "note", "+": "up", "-": "down", ">": "longer",
                                   "<": "shorter", "r": "rest", "[": "push", "]": "pop",
                                   "A": "note up", "B": "note down"}

LS_ACT = 0                 # gbuf[LS_ACT + 4*c + j]: up to 4 actions of symbol code c (0..255)
LS_STACK = 1024            # (degree, length) pairs
LS_STACK_CAP = 256
LS_STR = 2048              # the expanded string
LS_MAXLEN = GEN_NB - LS_STR
LS_SYM_BUDGET = 64

LS_LEN = GI_USER
LS_POS = GI_USER + 1
LS_DEG = GI_USER + 2
LS_DUR = GI_USER + 3
LS_SP = GI_USER + 4
LS_NEXT = GI_USER + 5
LS_START_DEG = GI_USER + 6
LS_BASE_DUR = GI_USER + 7
LS_LO = GI_USER + 8
LS_HI = GI_USER + 9
LS_TRUNC = GI_USER + 10    # reported: 1 when the string was cut at max_length
LS_OVERFLOW = GI_USER + 11  # reported: pushes beyond the stack / pops of an empty stack
LS_LOOPS = GI_USER + 12    # reported: times the string was played through


def lsystem_expand(axiom: str, rules: dict[str, str], n: int, max_length: int) -> tuple[str, bool]:
    """Apply the rules to every symbol in parallel ``n`` times; cut at ``max_length`` (truncated flag)."""
    s = axiom[:max_length]
    truncated = len(axiom) > max_length
    for _ in range(n):
        parts = []
        size = 0
        for c in s:
            r = rules.get(c, c)
            parts.append(r)
            size += len(r)
            if size >= max_length:
                break
        nxt = "".join(parts)
        if len(nxt) > max_length or (size >= max_length and len(parts) < len(s)):
            truncated = True
        s = nxt[:max_length]
    return s, truncated


def parse_lsystem(text: str) -> tuple[str, dict[str, str]]:
    """``axiom: A`` then rules ``A -> AB`` (one per line or separated by commas)."""
    axiom = ""
    rules: dict[str, str] = {}
    for ln, raw in enumerate(text.replace(",", "\n").splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("#") else ""
        if not line:
            continue
        if line.lower().startswith("axiom"):
            _, sep, rest = line.partition(":")
            if not sep or not rest.strip():
                raise ConfigError(f"lsystem line {ln}: expected 'axiom: SYMBOLS'")
            axiom = rest.strip().replace(" ", "")
            continue
        lhs, sep, rhs = line.partition("->")
        if not sep:
            raise ConfigError(f"lsystem line {ln}, column 1: expected 'X -> replacement'")
        lhs = lhs.strip()
        if len(lhs) != 1:
            raise ConfigError(f"lsystem line {ln}, column 1: the left side must be one symbol, got {lhs!r}")
        rules[lhs] = rhs.strip().replace(" ", "")
    if not axiom:
        raise ConfigError("lsystem: no axiom")
    return axiom, rules


@kernel_jit()
def lsystem_process(gi, gf, gbuf, p, harm, t0, n, ev, nev):
    r = chunk_grid(gi, p, t0, n, LS_NEXT)
    if r == 0:
        return nev
    length = gi[LS_LEN]
    if length < 1:
        return nev
    k = first_step_at_or_after(p, t0, gi[GI_STEP], r)
    while True:
        t = step_sample(p, t0, k, r)
        if t >= t0 + n:
            break
        if k >= gi[LS_NEXT]:
            gi[LS_NEXT] = k + 1
            for _ in range(LS_SYM_BUDGET):
                c = gbuf[LS_STR + gi[LS_POS]]
                sounded = False
                for j in range(4):
                    a = gbuf[LS_ACT + 4 * c + j]
                    if a == A_NOTE:
                        deg = wrap_range(gi[LS_DEG], gi[LS_LO], gi[LS_HI])
                        d = gi[LS_DUR]
                        nev = emit(gi, ev, nev, t, float(fit_to_chord(gi, harm, degree_to_note(harm, deg))),
                                   velocity(gi, gf, 1.0),
                                   gate_samples(p, gf, float(d), r), float(gi[LS_POS]))
                        gi[LS_NEXT] = k + d
                        sounded = True
                    elif a == A_REST:
                        gi[LS_NEXT] = k + gi[LS_DUR]
                        sounded = True
                    elif a == A_UP:
                        gi[LS_DEG] += 1
                    elif a == A_DOWN:
                        gi[LS_DEG] -= 1
                    elif a == A_LONGER:
                        gi[LS_DUR] = min(2 * gi[LS_DUR], 64)
                    elif a == A_SHORTER:
                        gi[LS_DUR] = max(gi[LS_DUR] // 2, 1)
                    elif a == A_PUSH:
                        sp = gi[LS_SP]
                        if sp < LS_STACK_CAP:
                            gbuf[LS_STACK + 2 * sp] = gi[LS_DEG]
                            gbuf[LS_STACK + 2 * sp + 1] = gi[LS_DUR]
                            gi[LS_SP] = sp + 1
                        else:
                            gi[LS_OVERFLOW] += 1
                    elif a == A_POP:
                        sp = gi[LS_SP]
                        if sp > 0:
                            sp -= 1
                            gi[LS_DEG] = gbuf[LS_STACK + 2 * sp]
                            gi[LS_DUR] = gbuf[LS_STACK + 2 * sp + 1]
                            gi[LS_SP] = sp
                        else:
                            gi[LS_OVERFLOW] += 1
                pos = gi[LS_POS] + 1
                if pos >= length:
                    pos = 0
                    gi[LS_DEG] = gi[LS_START_DEG]
                    gi[LS_DUR] = gi[LS_BASE_DUR]
                    gi[LS_SP] = 0
                    gi[LS_LOOPS] += 1
                gi[LS_POS] = pos
                if sounded:
                    break
        k += 1
    gi[GI_STEP] = k
    return nev


class LSystem(Sequencer):
    """An L-system (parallel rewriting) read by a musical turtle.

    ``rules``: ``{"A": "AB", "B": "A"}`` or text (see :func:`parse_lsystem`); ``actions``: symbol ->
    space-separated actions (``"note up"``), merged over :data:`DEFAULT_ACTIONS`. The turtle starts
    on scale degree ``start_degree`` with notes ``base_steps`` grid steps long; degrees fold into
    ``low..high``. The string restarts (and the turtle resets) when it ends.
    """

    kind = GK_LSYSTEM
    name = "lsystem"

    def __init__(self, axiom: str = "A", rules: dict[str, str] | str | None = None, iterations: int = 5,
                 actions: dict[str, str] | None = None, start_degree: int = 0, base_steps: int = 1,
                 low: int = -7, high: int = 14, max_length: int = LS_MAXLEN, **kw) -> None:
        kw.setdefault("layer", LAYER_GRAMMAR)
        super().__init__(**kw)
        if isinstance(rules, str):
            axiom, rules = parse_lsystem(rules)
        self.axiom = axiom
        self.rules = dict(rules if rules is not None else {"A": "AB", "B": "A"})
        for k_, v in self.rules.items():
            if len(k_) != 1:
                raise ConfigError(f"lsystem: rule for {k_!r}: the left side must be one symbol")
            if any(ord(c) > 255 for c in k_ + v):
                raise ConfigError("lsystem: symbols must be Latin-1 characters")
        if not 0 <= iterations <= 64:
            raise ConfigError("lsystem: iterations must be 0..64")
        if not 1 <= max_length <= LS_MAXLEN:
            raise ConfigError(f"lsystem: max_length must be 1..{LS_MAXLEN}")
        if high < low:
            raise ConfigError("lsystem: high must be >= low")
        self.iterations = int(iterations)
        self.actions = dict(DEFAULT_ACTIONS)
        self.actions.update(actions or {})
        self.codes: dict[str, list[int]] = {}
        for sym, acts in self.actions.items():
            names = acts.split()
            if len(sym) != 1 or len(names) > 4 or any(a not in ACTIONS for a in names):
                raise ConfigError(f"lsystem action for {sym!r}: up to 4 of {sorted(ACTIONS)}")
            self.codes[sym] = [ACTIONS[a] for a in names]
        self.start_degree, self.base_steps = int(start_degree), max(1, int(base_steps))
        self.low, self.high = int(low), int(high)
        self.string, self.truncated = lsystem_expand(self.axiom, self.rules, self.iterations, int(max_length))
        sounding = {c for c, codes in self.codes.items() if A_NOTE in codes or A_REST in codes}
        if not sounding & set(self.string):
            raise ConfigError("lsystem: no symbol of the string plays a note or a rest (check 'actions')")

    def pack(self, gi, gf, gbuf, seed, slot):
        self.pack_common(gi, gf, seed, slot)
        gbuf[LS_ACT:LS_ACT + 1024] = 0
        for sym, codes in self.codes.items():
            c = ord(sym)
            gbuf[LS_ACT + 4 * c:LS_ACT + 4 * c + len(codes)] = codes
        s = np.frombuffer(self.string.encode("latin-1"), np.uint8).astype(np.int32)
        gbuf[LS_STR:LS_STR + len(s)] = s
        gi[LS_LEN] = len(s)
        gi[LS_DEG] = gi[LS_START_DEG] = self.start_degree
        gi[LS_DUR] = gi[LS_BASE_DUR] = self.base_steps
        gi[LS_LO], gi[LS_HI] = self.low, self.high
        gi[LS_TRUNC] = int(self.truncated)

    def params(self):
        return super().params() + [
            Param("base_steps", "i", LS_BASE_DUR, 1, 64, "note length at the start of the string (steps)"),
            Param("low", "i", LS_LO, -28, 28, "lowest scale degree"),
            Param("high", "i", LS_HI, -28, 35, "highest scale degree"),
        ]
