"""Music theory for the rule-based generators (control path: plain Python, may allocate).

Scales and modes, pitch names, a Roman-numeral progression parser, a four-voice (SATB)
chorale voicing search with a rule checker, Euclidean rhythms (Bjorklund), Mozart's dice
table and a Messiaen-style "mode of values".

Sources: Toussaint, G. "The Euclidean algorithm generates traditional musical rhythms",
BRIDGES 2005; Bjorklund, E. "The theory of rep-rate pattern generation in the SNS timing
system", SNS-NOTE-CNTRL-99 (2003); Messiaen, O. "Technique de mon langage musical" (1944)
for the modes of limited transposition and "Mode de valeurs et d'intensités" (1949);
Mozart (attr.), "Anleitung so viel Walzer oder Schleifer mit zwei Würfeln zu componiren"
(J. J. Hummel, Berlin/Amsterdam 1792; K. 516f, K. Anh. C 30.01) for the dice table;
Aldwell & Schachter, "Harmony and Voice Leading" for the voice-leading rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

# ------------------------------------------------------------------------- scales
_CHURCH = {
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
}

#: Messiaen's seven modes of limited transposition (first transposition, from C).
MESSIAEN_MODES: dict[int, tuple[int, ...]] = {
    1: (0, 2, 4, 6, 8, 10),
    2: (0, 1, 3, 4, 6, 7, 9, 10),
    3: (0, 2, 3, 4, 6, 7, 8, 10, 11),
    4: (0, 1, 2, 5, 6, 7, 8, 11),
    5: (0, 1, 5, 6, 7, 11),
    6: (0, 2, 4, 5, 6, 8, 10, 11),
    7: (0, 1, 2, 3, 5, 6, 7, 8, 9, 11),
}

SCALES: dict[str, tuple[int, ...]] = {
    **_CHURCH,
    "major": _CHURCH["ionian"],
    "minor": _CHURCH["aeolian"],
    "natural_minor": _CHURCH["aeolian"],
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic_minor": (0, 2, 3, 5, 7, 9, 11),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "whole_tone": MESSIAEN_MODES[1],
    "octatonic": MESSIAEN_MODES[2],            # half-whole
    "octatonic_whole_half": (0, 2, 3, 5, 6, 8, 9, 11),
    "chromatic": tuple(range(12)),
    **{f"messiaen{i}": m for i, m in MESSIAEN_MODES.items()},
}


def scale_by_name(name: str) -> tuple[int, ...]:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in SCALES:
        raise ConfigError(f"unknown scale {name!r}; known: {', '.join(sorted(SCALES))}")
    return SCALES[key]


def transpositions(mode: tuple[int, ...]) -> int:
    """Number of distinct transpositions of a pitch-class set (12 for most scales)."""
    s = frozenset(mode)
    return len({frozenset((x + t) % 12 for x in s) for t in range(12)})


_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch_class(name: str) -> int:
    """Pitch class of a name such as ``C``, ``F#``, ``Bb``, ``eb`` (case-insensitive letter)."""
    s = name.strip()
    if not s or s[0].upper() not in _LETTER:
        raise ConfigError(f"not a pitch name: {name!r}")
    pc = _LETTER[s[0].upper()]
    for ch in s[1:]:
        if ch in "#♯":
            pc += 1
        elif ch in "b♭":
            pc -= 1
        else:
            raise ConfigError(f"not a pitch name: {name!r}")
    return pc % 12


def parse_key(key: str) -> tuple[int, bool]:
    """``"C"``, ``"a"`` (lower case = minor), ``"F# minor"``, ``"Eb major"`` -> (tonic pc, is_minor)."""
    parts = key.strip().split()
    if not parts or len(parts) > 2:
        raise ConfigError(f"not a key: {key!r}")
    minor = parts[0][0].islower()
    if len(parts) == 2:
        if parts[1].lower() not in ("major", "minor"):
            raise ConfigError(f"not a key: {key!r}")
        minor = parts[1].lower() == "minor"
    return pitch_class(parts[0]), minor


# ------------------------------------------------------------ Roman numeral chords
@dataclass(frozen=True)
class Chord:
    """A chord in a key: ``root`` is a pitch class relative to the tonic (0..11)."""

    label: str
    root: int
    intervals: tuple[int, ...]      # semitones above the root, starting with 0
    inversion: int = 0              # 0 root position, 1 first, 2 second, 3 third
    dominant: bool = False          # V or vii (the leading tone must rise)

    @property
    def pcs(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)

    @property
    def bass_pc(self) -> int:
        return self.pcs[min(self.inversion, len(self.intervals) - 1)]


_NUMERALS = ("VII", "III", "VI", "IV", "II", "V", "I")
_DEG = {"I": 0, "II": 1, "III": 2, "IV": 3, "V": 4, "VI": 5, "VII": 6}
_INV = {"": 0, "6": 1, "64": 2, "7": 0, "65": 1, "43": 2, "42": 3, "2": 3}


def parse_numeral(token: str, minor: bool = False) -> Chord:
    """Parse one Roman numeral (``V7``, ``ii6``, ``viio7``, ``bVI``, ``IVmaj7``, ``V7/V``, ``I64``).

    Upper case = major triad, lower case = minor, ``o``/``°`` diminished, ``+`` augmented,
    ``ø``/``h`` half-diminished seventh. Figures: ``6`` ``64`` (triad inversions), ``7`` ``65``
    ``43`` ``42``/``2`` (seventh chord and its inversions). In a minor key ``V`` is major and
    ``vii`` stands on the raised leading tone (harmonic minor), ``VII`` on the lowered one.
    """
    tok = token.strip()
    if "/" in tok:
        head, _, of = tok.partition("/")
        target = parse_numeral(of, minor)
        if target.intervals[1] == 3 and of.lstrip("b#")[:1].islower():
            inner = parse_numeral(head, True)
        else:
            inner = parse_numeral(head, False)
        return Chord(tok, (inner.root + target.root) % 12, inner.intervals, inner.inversion,
                     inner.dominant)
    i = 0
    shift = 0
    while i < len(tok) and tok[i] in "b#":
        shift += -1 if tok[i] == "b" else 1
        i += 1
    num = ""
    for cand in _NUMERALS:
        if tok[i:i + len(cand)].upper() == cand:
            num = tok[i:i + len(cand)]
            break
    if not num or not (num.isupper() or num.islower()):
        raise ConfigError(f"not a Roman numeral: {token!r}")
    i += len(num)
    rest = tok[i:]
    quality = "M" if num.isupper() else "m"
    if rest[:1] in ("o", "°"):
        quality, rest = "d", rest[1:]
    elif rest[:1] in ("ø", "h"):
        quality, rest = "h", rest[1:]
    elif rest[:1] == "+":
        quality, rest = "a", rest[1:]
    maj7 = False
    if rest.startswith("maj7") or rest.startswith("M7"):
        maj7, rest = True, "7" + rest[4 if rest.startswith("maj7") else 2:]
    if rest not in _INV:
        raise ConfigError(f"unknown figure {rest!r} in {token!r}")
    inversion = _INV[rest]
    seventh = rest in ("7", "65", "43", "42", "2") or quality == "h"
    deg = _DEG[num.upper()]
    scale = SCALES["minor"] if minor else SCALES["major"]
    root = scale[deg]
    if minor and deg == 6 and num.islower():
        root = 11
    root = (root + shift) % 12
    triad = {"M": (0, 4, 7), "m": (0, 3, 7), "d": (0, 3, 6), "h": (0, 3, 6), "a": (0, 4, 8)}[quality]
    intervals: tuple[int, ...] = triad
    if seventh:
        if maj7:
            sev = 11
        elif quality == "d":
            sev = 9
        elif quality == "h":
            sev = 10
        else:
            # diatonic seventh above the root (harmonic minor for V in minor gives a b7 = 10)
            sev = (scale[(deg + 6) % 7] - scale[deg]) % 12 if shift == 0 else 10
            if quality == "M" and deg == 4:
                sev = 10
        intervals = triad + (sev,)
    dominant = (deg == 4 and quality == "M") or (deg == 6 and quality in ("d", "h") and root == 11)
    return Chord(tok, root, intervals, inversion, dominant)


def parse_progression(text: str, minor: bool = False) -> list[Chord]:
    """Parse a whitespace/dash separated progression such as ``"I vi ii7 V7"`` or ``"i iv V i"``."""
    toks = [t for t in text.replace("-", " ").replace(",", " ").split() if t]
    if not toks:
        raise ConfigError("empty progression")
    return [parse_numeral(t, minor) for t in toks]


# ------------------------------------------------------------------- SATB chorale
#: SATB ranges (MIDI): soprano C4-G5, alto G3-D5, tenor C3-G4, bass E2-C4.
RANGES = {"S": (60, 79), "A": (55, 74), "T": (48, 67), "B": (40, 60)}
_ORDER = ("S", "A", "T", "B")
_PAIRS = [(i, j) for i in range(4) for j in range(i + 1, 4)]


def _candidates(ch: Chord, tonic: int) -> np.ndarray:
    """All voicings (S, A, T, B) of a chord obeying ranges, spacing, completeness and bass."""
    pcs = {(p + tonic) % 12 for p in ch.pcs}
    root = (ch.root + tonic) % 12
    third = (ch.root + ch.intervals[1] + tonic) % 12
    seventh = (ch.root + ch.intervals[3] + tonic) % 12 if len(ch.intervals) > 3 else -1
    bass_pc = (ch.bass_pc + tonic) % 12
    lt = (tonic + 11) % 12

    def notes(v: str) -> list[int]:
        lo, hi = RANGES[v]
        return [m for m in range(lo, hi + 1) if m % 12 in pcs]

    out = []
    for b in notes("B"):
        if b % 12 != bass_pc:
            continue
        for t in notes("T"):
            if t < b or t - b > 19:
                continue
            for a in notes("A"):
                if a < t or a - t > 12:
                    continue
                for s in notes("S"):
                    if s < a or s - a > 12:
                        continue
                    have = [s % 12, a % 12, t % 12, b % 12]
                    if root not in have or third not in have:
                        continue
                    if seventh >= 0 and seventh not in have:
                        continue
                    if ch.dominant and have.count(lt) > 1:
                        continue
                    if seventh >= 0 and have.count(seventh) > 1:
                        continue
                    out.append((s, a, t, b))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def _static_cost(c: np.ndarray, ch: Chord, tonic: int) -> np.ndarray:
    root = (ch.root + tonic) % 12
    pcs = c % 12
    cost = np.zeros(len(c))
    # prefer a doubled root in root position and a complete chord
    cost += np.where((pcs == root).sum(axis=1) >= 2, 0.0, 1.0) * (ch.inversion == 0)
    cost += 2.0 * (np.array([len(set(r)) for r in pcs.tolist()]) < len(ch.intervals))
    cost += 0.05 * np.abs(c[:, 0] - 70)          # keep the soprano in the middle of its range
    return cost


def voice_chorale(chords: list[Chord], tonic: int = 0) -> list[tuple[int, int, int, int]]:
    """Four-voice voicings of ``chords`` in the key of ``tonic`` (pitch class) by dynamic programming.

    Hard rules: ranges, no crossing, spacing (S-A, A-T <= octave; T-B <= twelfth), correct bass,
    root and third (and seventh) present, no doubled leading tone in dominant chords, no parallel
    (or contrary) perfect fifths/octaves between any pair of voices, the leading tone of a dominant
    chord rises to the tonic when the next chord contains it, no leap larger than an octave.
    Soft costs: total motion, chordal sevenths falling by step, completeness, soprano register.
    Raises ``ConfigError`` when no voicing satisfies the rules.
    """
    if not chords:
        return []
    cands = [_candidates(ch, tonic) for ch in chords]
    for ch, c in zip(chords, cands, strict=True):
        if len(c) == 0:
            raise ConfigError(f"chord {ch.label!r} cannot be voiced in SATB ranges")
    cost = _static_cost(cands[0], chords[0], tonic)
    back: list[np.ndarray] = []
    for i in range(1, len(chords)):
        a, b = cands[i - 1], cands[i]
        tr = _transition_cost(a, b, chords[i - 1], chords[i], tonic)
        total = cost[:, None] + tr + _static_cost(b, chords[i], tonic)[None, :]
        arg = np.argmin(total, axis=0)
        cost = total[arg, np.arange(len(b))]
        back.append(arg)
        if not np.isfinite(cost).any():
            raise ConfigError(f"no voicing obeys the voice-leading rules at chord {i} ({chords[i].label!r})")
    j = int(np.argmin(cost))
    path = [j]
    for arg in reversed(back):
        j = int(arg[j])
        path.append(j)
    path.reverse()
    return [tuple(int(x) for x in cands[i][k]) for i, k in enumerate(path)]  # type: ignore[misc]


def _transition_cost(a: np.ndarray, b: np.ndarray, ca: Chord, cb: Chord, tonic: int) -> np.ndarray:
    inf = np.inf
    A = a[:, None, :]
    B = b[None, :, :]
    mv = B - A                                    # (na, nb, 4)
    cost = np.abs(mv).sum(axis=2).astype(np.float64) * 0.1
    bad = (np.abs(mv) > 12).any(axis=2)
    for i, j in _PAIRS:
        ia = (A[..., i] - A[..., j]) % 12
        ib = (B[..., i] - B[..., j]) % 12
        moved = (mv[..., i] != 0) | (mv[..., j] != 0)
        bad |= moved & (((ia == 7) & (ib == 7)) | ((ia == 0) & (ib == 0)))
    lt = (tonic + 11) % 12
    if ca.dominant and tonic % 12 in {(p + tonic) % 12 for p in cb.pcs}:
        has_lt = (A % 12) == lt
        bad |= (has_lt & (mv != 1)).any(axis=2)
    if len(ca.intervals) > 3:
        sev = (ca.root + ca.intervals[3] + tonic) % 12
        has7 = (A % 12) == sev
        cost += 1.0 * (has7 & ~((mv == -1) | (mv == -2))).sum(axis=2)
    return np.where(bad, inf, cost)


def check_chorale(voicings: list[tuple[int, int, int, int]], chords: list[Chord],
                  tonic: int = 0) -> list[str]:
    """Every broken rule of a four-voice texture, as readable strings (empty list: all good)."""
    errs: list[str] = []
    if len(voicings) != len(chords):
        return [f"{len(voicings)} voicings for {len(chords)} chords"]
    lt = (tonic + 11) % 12
    for n, (v, ch) in enumerate(zip(voicings, chords, strict=True)):
        pcs = {(p + tonic) % 12 for p in ch.pcs}
        for k, name in enumerate(_ORDER):
            lo, hi = RANGES[name]
            if not lo <= v[k] <= hi:
                errs.append(f"chord {n}: {name} {v[k]} out of range {lo}-{hi}")
            if v[k] % 12 not in pcs:
                errs.append(f"chord {n}: {name} {v[k]} not in {ch.label}")
        for k in range(3):
            if v[k] < v[k + 1]:
                errs.append(f"chord {n}: {_ORDER[k]} below {_ORDER[k + 1]} (crossing)")
        if v[0] - v[1] > 12 or v[1] - v[2] > 12:
            errs.append(f"chord {n}: upper voices more than an octave apart")
        if v[3] % 12 != (ch.bass_pc + tonic) % 12:
            errs.append(f"chord {n}: bass {v[3]} is not the {ch.label} bass")
        have = {x % 12 for x in v}
        if (ch.root + tonic) % 12 not in have or (ch.root + ch.intervals[1] + tonic) % 12 not in have:
            errs.append(f"chord {n}: {ch.label} lacks its root or third")
        if n == 0:
            continue
        u, pc = voicings[n - 1], chords[n - 1]
        for i, j in _PAIRS:
            ia, ib = (u[i] - u[j]) % 12, (v[i] - v[j]) % 12
            if (u[i], u[j]) != (v[i], v[j]) and ia == ib and ia in (0, 7):
                kind = "fifths" if ia == 7 else "octaves"
                errs.append(f"chords {n - 1}-{n}: parallel {kind} between {_ORDER[i]} and {_ORDER[j]}")
        if pc.dominant and tonic % 12 in {(p + tonic) % 12 for p in ch.pcs}:
            for k in range(4):
                if u[k] % 12 == lt and v[k] != u[k] + 1:
                    errs.append(f"chords {n - 1}-{n}: leading tone in {_ORDER[k]} does not rise to the tonic")
        for k in range(4):
            if abs(v[k] - u[k]) > 12:
                errs.append(f"chords {n - 1}-{n}: {_ORDER[k]} leaps more than an octave")
    return errs


# ----------------------------------------------------------------- Euclidean rhythms
def bjorklund(k: int, n: int) -> list[int]:
    """Bjorklund's algorithm: ``k`` onsets spread as evenly as possible over ``n`` steps.

    Repeatedly appends the remainder groups to the leading groups (the Euclidean algorithm on
    sequences, Toussaint 2005 section 3). Returns a list of 0/1 starting with an onset.
    """
    if n < 1 or not 0 <= k <= n:
        raise ConfigError(f"a Euclidean rhythm needs 0 <= pulses <= steps and steps >= 1 (got {k}, {n})")
    if k == 0:
        return [0] * n
    groups: list[list[int]] = [[1] for _ in range(k)]
    rest: list[list[int]] = [[0] for _ in range(n - k)]
    while len(rest) > 1:
        m = min(len(groups), len(rest))
        new = [groups[i] + rest[i] for i in range(m)]
        rest = groups[m:] if len(groups) > m else rest[m:]
        groups = new
    return [x for g in groups + rest for x in g]


def euclid(k: int, n: int, rotation: int = 0) -> list[int]:
    """E(k, n) rotated left by ``rotation`` steps."""
    pat = bjorklund(k, n)
    r = rotation % n
    return pat[r:] + pat[:r]


def rhythm_str(pat: list[int]) -> str:
    return " ".join("x" if x else "." for x in pat)


# ------------------------------------------------------------- Mozart's dice game
#: K. 516f (Anh. C 30.01): measure numbers of the 176 measures, rows = sum of two dice 2..12,
#: columns = the 16 bars of the waltz (8 + 8). Transcribed from the table of the 1792 Hummel
#: edition as it is widely reproduced; every number 1..176 occurs exactly once.
DICE_TABLE: tuple[tuple[int, ...], ...] = (
    (96, 22, 141, 41, 105, 122, 11, 30, 70, 121, 26, 9, 112, 49, 109, 14),
    (32, 6, 128, 63, 146, 46, 134, 81, 117, 39, 126, 56, 174, 18, 116, 83),
    (69, 95, 158, 13, 153, 55, 110, 24, 66, 139, 15, 132, 73, 58, 145, 79),
    (40, 17, 113, 85, 161, 2, 159, 100, 90, 176, 7, 34, 67, 160, 52, 170),
    (148, 74, 163, 45, 80, 97, 36, 107, 25, 143, 64, 125, 76, 136, 1, 93),
    (104, 157, 27, 167, 154, 68, 118, 91, 138, 71, 150, 29, 101, 162, 23, 151),
    (152, 60, 171, 53, 99, 133, 21, 127, 16, 155, 57, 175, 43, 168, 89, 172),
    (119, 84, 114, 50, 140, 86, 169, 94, 120, 88, 48, 166, 51, 115, 72, 111),
    (98, 142, 42, 156, 75, 129, 62, 123, 65, 77, 19, 82, 137, 38, 149, 8),
    (3, 87, 165, 61, 135, 47, 147, 33, 102, 4, 31, 164, 144, 59, 173, 78),
    (54, 130, 10, 103, 28, 37, 106, 5, 35, 20, 108, 92, 12, 124, 44, 131),
)

#: Harmony of the stand-in measures per bar of the waltz (the real waltz is in C major, 3/8):
#: scale degrees of the chord roots, a plain tonic/dominant plan ending each half on I.
DICE_BAR_DEGREES: tuple[int, ...] = (0, 4, 0, 4, 0, 3, 4, 0, 4, 0, 4, 0, 3, 1, 4, 0)


def dice_measure(column: int, dice_sum: int) -> int:
    """Measure number for bar ``column`` (0..15) and a sum of two dice (2..12)."""
    if not 0 <= column < 16 or not 2 <= dice_sum <= 12:
        raise ValueError("column 0..15, sum 2..12")
    return DICE_TABLE[dice_sum - 2][column]


def standin_measure(number: int, column: int) -> tuple[tuple[int, int, int], int]:
    """A deterministic stand-in for measure ``number`` (we do not ship Mozart's score).

    Returns three melody scale degrees (one per eighth of the 3/8 bar, chord tones of the bar's
    harmony above the tonic) and the bass degree. Only the number and the bar position choose it.
    """
    root = DICE_BAR_DEGREES[column % 16]
    h = (number * 2654435761) & 0xFFFFFFFF
    tones = (root, root + 2, root + 4, root + 7)
    mel = tuple(tones[(h >> (4 * i)) & 3] + 7 * ((h >> (12 + i)) & 1) for i in range(3))
    return mel, root - 7  # type: ignore[return-value]


# ---------------------------------------------------- Messiaen-style mode of values
#: Dynamics ppp..fff as MIDI velocities (seven, as in Messiaen's mode).
DYNAMICS = (16, 30, 45, 62, 80, 98, 118)
#: Attack codes (a subset of Messiaen's twelve): 0 plain, 1 accent >, 2 staccato, 3 staccatissimo,
#: 4 tenuto, 5 sforzando, 6 legato/slurred. Each maps to (gate factor, velocity factor).
ATTACKS = ((0.9, 1.0), (0.9, 1.25), (0.45, 1.0), (0.2, 1.1), (1.0, 0.95), (0.7, 1.4), (1.15, 0.9))


def mode_of_values(divisions: int = 3) -> list[tuple[int, int, int, int]]:
    """Fixed associated series in the manner of Messiaen's "Mode de valeurs et d'intensités".

    Each entry is (pitch offset in semitones from the tonic of the lowest octave, duration in
    grid steps, dynamic index, attack index); a pitch is *always* played with its own duration,
    dynamic and attack. Division d holds 12 pitches (every pitch class once) in a register band
    and chromatic durations 1..12 times 2**d steps; the 36 pitches are all distinct, so the
    association is a function of the pitch. This is our own series, not Messiaen's.
    """
    out = []
    for d in range(divisions):
        for i in range(12):
            pc = (i * 7 + 5 * d) % 12                      # cycle of fifths, shifted per division
            octave = 2 * (2 - d) + ((i * 5) % 3 == 0)       # disjoint register bands per division
            out.append((pc + 12 * octave, (i + 1) * (1 << d), (i * 3 + d) % 7, (i * 5 + d) % 7))
    return out
