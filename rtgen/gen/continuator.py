"""The Continuator's pure model: a predictive model of melodic style and the answer generator.

The interaction follows F. Pachet, "The Continuator: Musical Interaction with Style",
*Journal of New Music Research* 32(3), 2003: the player's phrases (segmented by silence,
simultaneous notes clustered into chords) are learnt as they are played, and each phrase is
answered in the player's style. The live thread that does this on the engine's clock is
:mod:`rtgen.control.continuator_live`; this module has no thread, clock or engine.

**The model** is a multiple-viewpoint variable-order Markov model in the manner of IDyOM
(M. Pearce, *The Construction and Evaluation of Statistical Models of Melodic Structure in
Music Perception and Composition*, PhD thesis, City University London, 2005; D. Conklin and
I. H. Witten, "Multiple viewpoint systems for music prediction", *JNMR* 24(1), 1995):

* three viewpoints of each note: its pitch, its interval from the previous note (so every
  phrase counts in all 12 transpositions), and that interval linked with the note's scale
  degree (the interval, and where it lands in the key);
* each viewpoint is predicted by PPM: all orders 0..K are *blended*, each order's counts
  mixed with the next lower order's estimate through an escape probability computed by
  method C (J. G. Cleary and I. H. Witten, "Data compression using adaptive coding and
  partial string matching", *IEEE Trans. Communications* 32(4), 1984; A. Moffat,
  "Implementing the PPM data compression scheme", *IEEE Trans. Communications* 38(11),
  1990), down to a uniform order -1, so every pitch keeps a non-zero probability;
* three models per viewpoint: the long-term memory of everything the player taught, a
  style library (a corpus, see :meth:`ContinuatorModel.load_library`) and a short-term
  model of this session and the melody so far;
* the distributions are combined by entropy weighting (Pearce 2005, ch. 6): a model's
  weight is its relative entropy raised to the power ``-b``, so a confident model counts
  more; the weighted arithmetic mean predicted Essen and Bach melodies better than the
  geometric one here (``benchmarks/bench_continuator_style.py``; the geometric is an option).

:meth:`ContinuatorModel.predict` returns that distribution over the 128 MIDI pitches; the
answer samples from it, multiplied by the harmonic fitness of the current key or chord, by
a soft pull towards the contour of the player's phrase and, on its last note, by the
stability of the scale degree, at a temperature ``temperature``.

**Counts without tables.** The counts a PPM context needs at order k are the continuations
of every memory position whose k preceding symbols equal the context's last k. The memory
is kept as flat arrays (one symbol array per viewpoint) and one compiled linear scan
(:func:`_ppm`) finds the matching length at every position and fills the counts of all
orders at once. Learning is an O(phrase) append, forgetting drops whole old phrases, the
memory saves to an ``.npz`` without pickle, and a prediction costs O(memory) per viewpoint,
bounded by ``max_memory`` (about 1 ms for 100,000 notes).

**Answers with shape.** Anti-plagiarism follows the *max-order* idea of A. Papadopoulos,
P. Roy and F. Pachet, "Avoiding Plagiarism in Markov Sequence Generation", AAAI 2014: an
answer never holds more than ``max_copy`` consecutive notes that occur consecutively (as
intervals, so transposed copies count) in the memory or the library; the pitches that would
complete a longer copy are removed before each choice. An answer does not circle either: a
pitch that would make a 2-4-note cycle run past two turns is removed too, unless the player's
phrase circled the same way.
"""

from __future__ import annotations

import functools
import json
import math
import time
import zipfile
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from ..errors import ConfigError
from .keydetect import detect_key

RHYTHMS = ("natural", "linear", "input", "metrical")
MODES = ("continuation", "qa", "accompaniment")
ON_PLAY = ("stop", "duck", "keep")
MAX_CHORD = 6          # notes per chord item (the top note and up to 5 below it)

# viewpoints: symbol alphabets
VP_PITCH, VP_INT, VP_INTDEG, VP_INTDUR = 0, 1, 2, 3
VIEWPOINTS = ("pitch", "interval", "interval+degree", "interval+duration ratio")
INT_MAX = 48                              # intervals clipped to +-4 octaves
A_INT = 2 * INT_MAX + 1
N_DR = 9                                  # duration ratio classes: round(2 log2(d / d_prev)) in -4..4
ALPHABET = (128, A_INT, A_INT * 12, A_INT * N_DR)
NVP = 4
MEMORY_VERSION = 2
LN2 = math.log(2.0)


@dataclass
class ContinuatorConfig:
    # the model
    # PPM order bound K of each viewpoint (pitch, interval, interval+degree, interval+duration ratio)
    orders: tuple[int, ...] = (3, 4, 3, 3)
    stm_orders: tuple[int, ...] = (2, 2, 2, 2)    # ... of the short-term model
    viewpoints: tuple[bool, ...] = (True, True, True, True)   # a missing entry is off
    b_viewpoints: float = 1.0            # entropy-weighting bias across viewpoints
    b_models: float = 1.0                # ... across long-term, library and short-term models
    ltm_escape: int = 0                  # escape method of the long-term models: 0 = C, 1 = AX
    stm_escape: int = 0                  # escape method of the short-term model: 0 = C, 1 = AX
    combine: str = "arithmetic"          # entropy-weighted arithmetic or geometric mean
    use_stm: bool = True                 # a short-term model of this session and the melody so far
    stm_notes: int = 256                 # notes of this session in the short-term model
    max_memory: int = 200_000            # notes kept; the oldest phrases are forgotten beyond it
    max_phrase: int = 256                # items learnt per phrase at most (bounds learning time)
    transpose: bool = True               # interval viewpoints (each phrase counts in every transposition)
    # the answer
    temperature: float = 0.7             # < 1 sharpens the model's distribution when sampling
    harmonic_s: float = 0.6              # S: the answer samples P_model x fitness ** (3 (1 - S)); 1 = model only
    contour_sigma: float = 3.5           # semitones: the pull towards the phrase's contour (0: off)
    end_on_stable: bool = True           # the last note lands on a stable degree (tonic, 3rd, 5th)
    max_copy: int = 6                    # longest verbatim copy of the memory allowed (>= 1)
    max_copy_older: int = 0              # ... of earlier tunes and of the library (0: max_copy - 2);
    recent_notes: int = 64               # this tune = since the last key change, at most this many notes
    max_cycle_turns: int = 2             # a 2-4-note cycle may run at most this many turns
    answer_factor: float = 1.0           # answer length = factor x phrase length (items)
    min_answer: int = 4
    max_answer: int = 32
    # the live thread (rtgen.control.continuator_live)
    silence_factor: float = 2.5          # phrase end after factor x median IOI of silence ...
    silence_min: float = 0.25            # ... clamped to [silence_min, silence_max] seconds
    silence_max: float = 0.5
    chord_window: float = 0.04           # onsets within this window, while the first is held, form a chord
    rhythm: str = "natural"              # natural | linear | input | metrical
    linear_step: float = 0.0             # seconds per step in linear mode (0: the phrase's median IOI)
    metrical_div: int = 2                # metrical mode: steps per beat of the engine clock
    mode: str = "continuation"           # continuation | qa | accompaniment
    on_play: str = "stop"                # stop | duck | keep
    duck_gain: float = 0.3
    in_time: bool = True                 # a player in tempo is answered on the next phrase's downbeat
    beats_per_bar: int = 4               # the phrase grid in beats (bars)
    tempo_tolerance: float = 0.12        # onsets within this fraction of a beat of the grid count as in time
    latency_s: float = 0.006             # first answer note = phrase end + this (engine sample clock)
    lookahead_s: float = 0.05            # notes are sent to the engine this long before they sound
    horizon_s: float = 0.3               # generation runs this far ahead of the playback
    step_budget_s: float = 0.01          # a generation step slower than this is counted
    velocity: int = 0                    # fixed answer velocity (0: the phrase's)

    def validate(self) -> None:
        if self.rhythm not in RHYTHMS:
            raise ConfigError(f"rhythm must be one of {RHYTHMS}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}")
        if self.on_play not in ON_PLAY:
            raise ConfigError(f"on_play must be one of {ON_PLAY}")
        if self.max_copy < 1:
            raise ConfigError("max_copy must be >= 1")
        for k in tuple(self.orders) + tuple(self.stm_orders):
            if not 0 <= int(k) <= 32:
                raise ConfigError("PPM orders must be in 0..32")
        if not any(self.viewpoints):
            raise ConfigError("at least one viewpoint must be on")
        if not 0.05 <= self.temperature <= 4.0:
            raise ConfigError("temperature must be in 0.05..4")
        if not 0.0 <= self.harmonic_s <= 1.0:
            raise ConfigError("harmonic_s must be in 0..1")
        if self.combine not in ("arithmetic", "geometric"):
            raise ConfigError("combine must be 'arithmetic' or 'geometric'")
        if self.max_memory < 16 or self.stm_notes < 0:
            raise ConfigError("max_memory must be >= 16 and stm_notes >= 0")


# ---------------------------------------------------------------- items

@dataclass
class Item:
    """One learnt or generated event: a note or a chord (``pitch`` is its top note)."""

    pitch: int
    vel: int
    dur: float                          # seconds
    ioi: float                          # seconds to the next item's onset
    chord: tuple[int, ...] = ()         # other notes, as negative offsets from ``pitch``
    onset: float = 0.0                  # seconds (relative to the phrase / answer start)

    def notes(self) -> list[int]:
        return [self.pitch] + [self.pitch + c for c in self.chord]


def dur_class(d: float) -> int:
    """Duration viewpoint: half-octave bins of the duration around 250 ms."""
    return int(max(-6, min(6, round(2.0 * math.log2(max(d, 1e-3) / 0.25)))))


def vel_class(v: int) -> int:
    return int(max(0, min(3, int(v) // 32)))


def key_referent(root: int, mode: int) -> int:
    """The pitch class degrees are counted from: the tonic of the major key with the same signature.

    A minor key counts from its relative major, as a key signature does, so a melody's
    degrees do not depend on whether its key was read as major or minor.
    """
    return int(root) % 12 if int(mode) == 0 else (int(root) + 3) % 12


class ChordClusterer:
    """Groups note-ons into items: simultaneous notes form a chord, legato overlaps do not.

    A note joins the current item when its onset lies within ``window`` seconds of the
    item's first onset *and* a note of the item is still held. A note that starts while
    the previous one is held but later than the window (legato) starts a new item.
    """

    def __init__(self, window: float = 0.04) -> None:
        self.window = window
        self.items: list[dict[str, Any]] = []
        self.held: dict[int, dict[str, Any]] = {}

    def note_on(self, note: int, vel: int, t: float) -> None:
        cur = self.items[-1] if self.items else None
        if cur is not None and t - cur["onset"] <= self.window and any(
                h is cur for h in self.held.values()):
            cur["notes"].append(note)
            cur["vels"].append(vel)
        else:
            cur = {"onset": t, "notes": [note], "vels": [vel], "off": t}
            self.items.append(cur)
        if note in self.held:                    # re-struck without a note-off: close the old one
            self.held[note]["off"] = max(self.held[note]["off"], t)
        self.held[note] = cur

    def note_off(self, note: int, t: float) -> bool:
        it = self.held.pop(note, None)
        if it is None:
            return False                         # stray note-off
        it["off"] = max(it["off"], t)
        return True

    def release_all(self, t: float) -> None:
        for n in list(self.held):
            self.note_off(n, t)

    def onsets(self) -> list[float]:
        return [float(r["onset"]) for r in self.items]

    def take(self, t_end: float) -> list[Item]:
        """The phrase so far as items (onsets relative to its first onset); resets."""
        self.release_all(t_end)
        raw = self.items
        self.items = []
        out: list[Item] = []
        if not raw:
            return out
        t0 = raw[0]["onset"]
        for i, r in enumerate(raw):
            notes = sorted(set(r["notes"]), reverse=True)[:MAX_CHORD]
            top = notes[0]
            dur = max(0.01, r["off"] - r["onset"])
            ioi = (raw[i + 1]["onset"] - r["onset"]) if i + 1 < len(raw) else dur
            out.append(Item(pitch=top, vel=int(max(r["vels"])), dur=float(dur), ioi=float(max(0.01, ioi)),
                            chord=tuple(n - top for n in notes[1:]), onset=float(r["onset"] - t0)))
        return out

    def __len__(self) -> int:
        return len(self.items)


# ---------------------------------------------------------------- viewpoints

def duration_ratio_class(d: np.ndarray | float, d_prev: np.ndarray | float) -> np.ndarray:
    """round(2 log2(d / d_prev)) clipped to -4..4, shifted to 0..8 (tempo-invariant rhythm)."""
    r = np.log2(np.maximum(np.asarray(d, np.float64), 1e-4) / np.maximum(np.asarray(d_prev, np.float64), 1e-4))
    return (np.clip(np.round(2.0 * r), -4, 4) + 4).astype(np.int32)


def viewpoint_symbols(pitch: np.ndarray, ref: np.ndarray, first: np.ndarray,
                      dur: np.ndarray | None = None) -> np.ndarray:
    """(4, n) int32 symbols of notes: pitch, interval, interval x degree, interval x duration ratio.

    -1 where undefined: ``first`` marks a phrase's first note (no interval), ``ref`` < 0 an
    unknown key, ``dur`` None unknown durations.
    """
    p = pitch.astype(np.int32)
    n = p.size
    out = np.full((NVP, n), -1, np.int32)
    out[VP_PITCH] = p
    if n == 0:
        return out
    d = np.zeros(n, np.int32)
    d[1:] = p[1:] - p[:-1]
    ok = ~first.astype(np.bool_)
    sym_i = np.clip(d, -INT_MAX, INT_MAX) + INT_MAX
    out[VP_INT] = np.where(ok, sym_i, -1)
    deg = (p - ref.astype(np.int32)) % 12
    out[VP_INTDEG] = np.where(ok & (ref >= 0), sym_i * 12 + deg, -1)
    if dur is not None and n > 1:
        dr = np.zeros(n, np.int32)
        dr[1:] = duration_ratio_class(dur[1:], dur[:-1])
        out[VP_INTDUR] = np.where(ok, sym_i * N_DR + dr, -1)
    return out


def _pitch_map(last: int, ref: int, dr: int) -> np.ndarray:
    """(4, 128) symbol of each next pitch y under each viewpoint, given the last pitch; -1 where none.

    ``dr`` is the duration ratio class of the note predicted (its duration is known, its pitch
    is not), -1 when unknown.
    """
    y = np.arange(128, dtype=np.int32)
    out = np.full((NVP, 128), -1, np.int32)
    out[VP_PITCH] = y
    if last >= 0:
        d = y - last
        ok = np.abs(d) <= INT_MAX
        out[VP_INT] = np.where(ok, d + INT_MAX, -1)
        if ref >= 0:
            out[VP_INTDEG] = np.where(ok, (d + INT_MAX) * 12 + (y - ref) % 12, -1)
        if dr >= 0:
            out[VP_INTDUR] = np.where(ok, (d + INT_MAX) * N_DR + dr, -1)
    return out


@functools.lru_cache(maxsize=1024)           # at most 2 MB of (4, 128) maps
def pitch_map(last: int, ref: int, dr: int = -1) -> np.ndarray:
    m = _pitch_map(int(last), int(ref), int(dr))
    m.flags.writeable = False
    return m


# ---------------------------------------------------------------- the compiled kernels

@njit(cache=True, nogil=True)
def _ppm(ms: np.ndarray, mph: np.ndarray, n: int, cs: np.ndarray, clen: int, kmax: int, a_size: int,
         counts: np.ndarray, out: np.ndarray, method: int, c0: np.ndarray) -> int:
    """PPM-C blended distribution of the next symbol after context ``cs[:clen]``; returns the longest order seen.

    ``ms[:n]`` are the memory's symbols (-1: undefined), ``mph`` its phrase ids (contexts
    never cross a phrase boundary). Order k's counts are the symbols that follow every
    memory position whose k preceding symbols equal the context's last k; each order is
    blended with the estimate below it: P_k(s) = (c_k(s) + q_k P_{k-1}(s)) / (T_k + q_k),
    T_k the order's total count and q_k its number of distinct symbols (escape method C),
    starting from a uniform order -1. ``c0`` holds the order-0 counts when they are known
    (the memory keeps them up to date); an empty ``c0`` counts them here.
    """
    top = clen if clen < kmax else kmax
    for k in range(top + 1):
        for a in range(a_size):
            counts[k, a] = 0.0
    maxk = -1
    have0 = c0.size == a_size
    if have0:
        for a in range(a_size):
            counts[0, a] = c0[a]
            if c0[a] > 0.0:
                maxk = 0
    last = cs[clen - 1] if clen > 0 else -1
    for j in range(n):
        s = ms[j]
        if s < 0:
            continue
        if not have0:
            counts[0, s] += 1.0
            if maxk < 0:
                maxk = 0
        if top == 0 or j == 0 or ms[j - 1] != last or last < 0:
            continue
        for k in range(1, top + 1):
            jj = j - k
            if jj < 0 or mph[jj] != mph[j]:
                break
            c = cs[clen - k]
            if c < 0 or ms[jj] != c:
                break
            counts[k, s] += 1.0
            if k > maxk:
                maxk = k
    u = 1.0 / a_size
    for a in range(a_size):
        out[a] = u
    for k in range(maxk + 1):
        tot = 0.0
        q = 0.0
        t1 = 0.0
        for a in range(a_size):
            c = counts[k, a]
            if c > 0.0:
                tot += c
                q += 1.0
                if c == 1.0:
                    t1 += 1.0
        if tot <= 0.0:
            continue
        if method == 1:                      # escape method AX: singletons + 1
            q = t1 + 1.0
        inv = 1.0 / (tot + q)
        for a in range(a_size):
            out[a] = (counts[k, a] + q * out[a]) * inv
    return maxk


@njit(cache=True, nogil=True)
def _forbidden(mp: np.ndarray, n: int, ans: np.ndarray, alen: int, L: int, forbid: np.ndarray) -> None:
    """Mark (OR) the pitches that would make the answer's last L+1 notes a (transposed) copy of the memory."""
    if alen < L:
        return
    last = ans[alen - 1]
    for i in range(L, n):
        ok = True
        for k in range(L - 1):
            if ans[alen - L + k + 1] - ans[alen - L + k] != mp[i - L + k + 1] - mp[i - L + k]:
                ok = False
                break
        if ok:
            y = last + mp[i] - mp[i - 1]
            if 0 <= y < 128:
                forbid[y] = True


def cycle_runs(seq: list[int] | np.ndarray, periods: tuple[int, ...] = (2, 3, 4)) -> dict[int, int]:
    """Longest run (in notes) of each period L: a stretch where note i equals note i - L throughout.

    A run of a period-L cycle that is not a repeated single note counts; a run longer than
    ``2 L`` notes is a cycle that went round more than twice.
    """
    s = [int(x) for x in seq]
    out: dict[int, int] = {}
    for L in periods:
        best = 0
        run = 0
        for i in range(L, len(s)):
            if s[i] == s[i - L] and len(set(s[i - L: i + 1])) > 1:
                run = run + 1 if run else L + 1
            else:
                run = 0
            best = max(best, run)
        out[L] = best
    return out


def circles(seq: list[int] | np.ndarray, turns: int = 2) -> bool:
    """Whether a 2-4-note cycle runs for more than ``turns`` turns in ``seq``."""
    return any(r > turns * L for L, r in cycle_runs(seq).items())


# ---------------------------------------------------------------- the memory

def _check_melody(pitches: Any, durations: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        p = np.asarray(pitches, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"a melody's pitches must be numbers (MIDI 0..127): {e}") from None
    if p.size == 0:
        raise ConfigError("cannot learn an empty melody")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 127 or np.any(p != np.round(p)):
        bad = p[~(np.isfinite(p) & (p >= 0) & (p <= 127) & (p == np.round(p)))][:3]
        raise ConfigError(f"melody pitches must be whole MIDI numbers 0..127 (got {bad.tolist()})")
    d = None
    if durations is not None:
        try:
            d = np.asarray(durations, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"a melody's durations must be numbers: {e}") from None
        if d.size != p.size:
            raise ConfigError(f"a melody has {p.size} pitches but {d.size} durations")
        if not np.all(np.isfinite(d)) or np.any(d <= 0):
            raise ConfigError("melody durations must be finite and > 0 (found NaN, Inf or <= 0)")
    return p.astype(np.int64), d


class NoteMemory:
    """Flat arrays of learnt notes (whole phrases), their viewpoint symbols, and persistence."""

    FIELDS = ("pitch", "ref", "phrase", "vel", "dur", "ioi", "chord", "nchord")

    def __init__(self, cap: int) -> None:
        self.cap = int(cap)
        self.pitch = np.zeros(self.cap, np.int16)
        self.ref = np.full(self.cap, -1, np.int8)
        self.phrase = np.zeros(self.cap, np.int32)
        self.vel = np.zeros(self.cap, np.uint8)
        self.dur = np.zeros(self.cap, np.float32)
        self.ioi = np.zeros(self.cap, np.float32)
        self.chord = np.zeros((self.cap, MAX_CHORD - 1), np.int8)
        self.nchord = np.zeros(self.cap, np.int8)
        self.sym = np.full((NVP, self.cap), -1, np.int32)
        self.mp64 = np.zeros(self.cap, np.int64)          # pitch as int64 for the copy scan
        self.c0 = [np.zeros(a) for a in ALPHABET]         # order-0 counts of each viewpoint
        self.n = 0
        self.next_phrase = 1

    def append(self, pitch: np.ndarray, ref: np.ndarray, vel: np.ndarray, dur: np.ndarray, ioi: np.ndarray,
               chords: list[tuple[int, ...]] | None = None) -> int:
        k = int(pitch.size)
        if k == 0:
            return 0
        if k > self.cap:
            raise ConfigError(f"a phrase of {k} notes does not fit a memory of {self.cap}")
        if self.n + k > self.cap:
            self._forget(self.n + k - self.cap)
        s, e = self.n, self.n + k
        self.pitch[s:e] = np.clip(pitch, 0, 127)
        self.ref[s:e] = ref
        self.phrase[s:e] = self.next_phrase
        self.next_phrase += 1
        self.vel[s:e] = np.clip(vel, 1, 127)
        self.dur[s:e] = dur
        self.ioi[s:e] = ioi
        self.nchord[s:e] = 0
        if chords:
            for i, c in enumerate(chords):
                c = tuple(c)[: MAX_CHORD - 1]
                self.nchord[s + i] = len(c)
                self.chord[s + i, : len(c)] = c
        first = np.zeros(k, np.bool_)
        first[0] = True
        self.sym[:, s:e] = viewpoint_symbols(self.pitch[s:e], self.ref[s:e], first, self.ioi[s:e])
        self.mp64[s:e] = self.pitch[s:e]
        self.n = e
        for v in range(NVP):
            sv = self.sym[v, s:e]
            np.add.at(self.c0[v], sv[sv >= 0], 1.0)
        return k

    def _forget(self, need: int) -> None:
        """Drop the oldest whole phrases, at least ``need`` notes (cost O(memory), a memmove)."""
        drop = min(self.n, max(need, 1))
        while drop < self.n and self.phrase[drop] == self.phrase[drop - 1]:
            drop += 1
        keep = self.n - drop
        for v in range(NVP):                       # the order-0 counts lose what is forgotten
            sv = self.sym[v, :drop]
            np.subtract.at(self.c0[v], sv[sv >= 0], 1.0)
        for a in (self.pitch, self.ref, self.phrase, self.vel, self.dur, self.ioi, self.nchord, self.mp64):
            a[:keep] = a[drop: self.n]
        self.chord[:keep] = self.chord[drop: self.n]
        self.sym[:, :keep] = self.sym[:, drop: self.n]
        self.n = keep

    def _recount(self) -> None:
        for v in range(NVP):
            sv = self.sym[v, : self.n]
            self.c0[v][:] = np.bincount(sv[sv >= 0], minlength=ALPHABET[v])[: ALPHABET[v]]

    def clear(self) -> None:
        self.n = 0
        self.next_phrase = 1
        for c in self.c0:
            c[:] = 0.0

    def item(self, j: int) -> Item:
        c = tuple(int(x) for x in self.chord[j, : int(self.nchord[j])])
        return Item(int(self.pitch[j]), int(self.vel[j]), float(self.dur[j]), float(self.ioi[j]), c)

    def phrases(self) -> list[np.ndarray]:
        if self.n == 0:
            return []
        cuts = np.flatnonzero(np.diff(self.phrase[: self.n])) + 1
        return np.split(self.pitch[: self.n].astype(np.int64), cuts)

    # -- persistence (npz, no pickle) -------------------------------------------------------
    def save(self, path: str, kind: str) -> None:
        n = self.n
        meta = json.dumps({"version": MEMORY_VERSION, "kind": kind, "next_phrase": self.next_phrase})
        try:
            with open(path, "wb") as f:
                np.savez_compressed(f, pitch=self.pitch[:n], ref=self.ref[:n], phrase=self.phrase[:n],
                                    vel=self.vel[:n], dur=self.dur[:n], ioi=self.ioi[:n], chord=self.chord[:n],
                                    nchord=self.nchord[:n], meta=np.array(meta))
        except OSError as e:
            raise ConfigError(f"cannot write the Continuator {kind} {path}: {e.strerror or e}") from None

    def load(self, path: str, kind: str) -> None:
        """Load a file written by :meth:`save` (or a version-1 memory); a bad file is one ConfigError."""
        what = f"Continuator {kind} {path}"
        try:
            with np.load(path, allow_pickle=False) as z:
                files = set(z.files)
                if "meta" not in files or "pitch" not in files:
                    raise ConfigError(f"{what}: not an rtgen Continuator file (no 'meta'/'pitch' arrays)")
                meta = json.loads(str(z["meta"]))
                if not isinstance(meta, dict):
                    raise ConfigError(f"{what}: bad metadata")
                version = int(meta.get("version", 0))
                if version not in (1, MEMORY_VERSION):
                    raise ConfigError(f"{what}: unsupported version {meta.get('version')!r}")
                arrs = {f: np.asarray(z[f]) for f in self.FIELDS if f in files}
        except ConfigError:
            raise
        except FileNotFoundError:
            raise ConfigError(f"{what}: no such file") from None
        except ValueError as e:
            why = ("not an .npz file, or one holding Python objects (rtgen never unpickles)"
                   if "pickle" in str(e) else "not a valid .npz file")
            raise ConfigError(f"{what}: {why}") from None
        except (OSError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError, TypeError) as e:
            raise ConfigError(f"{what}: corrupt or not an .npz file ({type(e).__name__})") from None
        need = ("pitch", "phrase", "vel", "dur", "ioi", "chord", "nchord")
        missing = [f for f in need if f not in arrs]
        if missing:
            raise ConfigError(f"{what}: missing arrays {missing}")
        n = int(arrs["pitch"].shape[0]) if arrs["pitch"].ndim == 1 else -1
        shapes_ok = n >= 0 and all(arrs[f].shape[:1] == (n,) for f in arrs) and \
            arrs["chord"].shape == (n, MAX_CHORD - 1)
        if not shapes_ok:
            raise ConfigError(f"{what}: arrays of inconsistent shapes")
        if any(arrs[f].dtype.kind not in "iuf" for f in arrs):
            raise ConfigError(f"{what}: non-numeric arrays")
        if n > self.cap:
            raise ConfigError(f"{what}: holds {n} notes, more than max_memory={self.cap}")
        p = arrs["pitch"]
        if n and (p.min() < 0 or p.max() > 127 or not np.all(np.isfinite(arrs["dur"]))
                  or not np.all(np.isfinite(arrs["ioi"])) or np.any(np.diff(arrs["phrase"]) < 0)):
            raise ConfigError(f"{what}: values out of range (pitch, duration or phrase order)")
        self.pitch[:n] = p
        self.phrase[:n] = arrs["phrase"]
        self.vel[:n] = np.clip(arrs["vel"], 1, 127)
        self.dur[:n] = arrs["dur"]
        self.ioi[:n] = arrs["ioi"]
        self.chord[:n] = arrs["chord"]
        self.nchord[:n] = np.clip(arrs["nchord"], 0, MAX_CHORD - 1)
        self.n = n
        if "ref" in arrs:
            self.ref[:n] = np.clip(arrs["ref"], -1, 11)
        else:                                                # version 1: key of each phrase from its notes
            for seg in np.split(np.arange(n), np.flatnonzero(np.diff(self.phrase[:n])) + 1):
                if seg.size:
                    r, m, _ = detect_key(self.pitch[seg], self.dur[seg])
                    self.ref[seg] = key_referent(r, m)
        first = np.ones(n, np.bool_)
        first[1:] = self.phrase[1:n] != self.phrase[: n - 1]
        self.sym[:, :n] = viewpoint_symbols(self.pitch[:n], self.ref[:n], first, self.ioi[:n])
        self.mp64[:n] = self.pitch[:n]
        self._recount()
        self.next_phrase = max(int(meta.get("next_phrase", 1)), int(self.phrase[n - 1]) + 1 if n else 1)


# ---------------------------------------------------------------- the model

def entropy_bits(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum())


def combine_entropy_weighted(dists: list[np.ndarray], b: float, geometric: bool = True) -> np.ndarray:
    """Weighted geometric (or arithmetic) mean of distributions, weights = relative entropy ** -b (Pearce 2005)."""
    if len(dists) == 1:
        return dists[0]
    hmax = math.log2(dists[0].size)
    if not geometric:
        acc = np.zeros(dists[0].size)
        wsum = 0.0
        for d in dists:
            w = max(entropy_bits(d) / hmax, 1e-3) ** (-b)
            acc += w * d
            wsum += w
        return acc / wsum
    logs = np.zeros(dists[0].size)
    wsum = 0.0
    for d in dists:
        h = max(entropy_bits(d) / hmax, 1e-3)
        w = h ** (-b)
        logs += w * np.log(d)
        wsum += w
    logs /= wsum
    out = np.exp(logs - logs.max())
    return out / out.sum()


class ContinuatorModel:
    """The learnt memory, the style library, the session, prediction and answers (no threads, no engine)."""

    def __init__(self, config: ContinuatorConfig | None = None, seed: int = 0) -> None:
        self.cfg = config or ContinuatorConfig()
        self.cfg.validate()
        self.rng = np.random.default_rng(seed)
        self.memory = NoteMemory(self.cfg.max_memory)
        self.library = NoteMemory(16)
        self.library_name = ""
        self.session: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque()  # (pitches, refs, durs)
        self.session_notes = 0
        self.key_ref = -1                 # the referent (tonic of the signature's major key) now, -1 unknown
        self.tune_phrase = 1              # the phrase id this tune began with (a key change starts a tune)
        kmax = max(max(self.cfg.orders), max(self.cfg.stm_orders), 3)
        self._counts = [np.zeros((kmax + 1, a)) for a in ALPHABET]
        self._out = [np.zeros(a) for a in ALPHABET]
        self._no_c0 = np.zeros(0)
        self._forbid = np.zeros(128, np.bool_)
        self.learn_ns: deque[int] = deque(maxlen=4096)
        self.step_ns: deque[int] = deque(maxlen=4096)
        self.copy_blocks = 0              # choices where the copy limit removed every pitch
        self.cycle_blocks = 0             # pitches removed because they would circle

    # -- compatibility views on the player's memory --------------------------------------------
    @property
    def n(self) -> int:
        return self.memory.n

    @property
    def pitch(self) -> np.ndarray:
        return self.memory.pitch

    @property
    def phrase(self) -> np.ndarray:
        return self.memory.phrase

    @property
    def next_phrase(self) -> int:
        return self.memory.next_phrase

    # -- learning -------------------------------------------------------------------------
    def set_key(self, root: int, mode: int) -> None:
        """The key the player is in now (scale degrees of what is learnt and predicted count from it).

        A change of key starts a new tune: what came before may be quoted less (``max_copy_older``).
        """
        ref = key_referent(root, mode)
        if ref != self.key_ref:
            self.tune_phrase = self.memory.next_phrase
        self.key_ref = ref

    def tune_start(self) -> int:
        """Index in the memory where this tune begins (since the key change, at most ``recent_notes`` back)."""
        mem = self.memory
        k = int(np.searchsorted(mem.phrase[: mem.n], np.int32(self.tune_phrase), side="left"))
        return max(k, mem.n - self.cfg.recent_notes, 0)

    def _ref_for(self, pitches: np.ndarray, durs: np.ndarray | None, key: int | None) -> int:
        if key is not None:
            return int(key) % 12
        if self.key_ref >= 0:
            return self.key_ref
        r, m, _ = detect_key(pitches, durs)
        return key_referent(r, m)

    def learn(self, items: list[Item], key: int | None = None) -> int:
        """Learn one live phrase (long-term memory and session); returns the number of items learnt."""
        t0 = time.perf_counter_ns()
        items = items[: min(self.cfg.max_phrase, self.memory.cap)]
        if not items:
            return 0
        p = np.array([max(0, min(127, int(it.pitch))) for it in items], np.int64)
        d = np.array([max(0.01, float(it.dur)) for it in items], np.float64)
        ioi = np.array([max(0.01, float(it.ioi)) for it in items], np.float64)
        ref = self._ref_for(p, d, key)
        refs = np.full(p.size, ref, np.int8)
        k = self.memory.append(p, refs, np.array([it.vel for it in items]), d, ioi, [it.chord for it in items])
        self._session_add(p, refs, ioi)
        self.learn_ns.append(time.perf_counter_ns() - t0)
        return k

    def _session_add(self, p: np.ndarray, refs: np.ndarray, d: np.ndarray) -> None:
        if self.cfg.stm_notes <= 0:
            return
        self.session.append((p.copy(), refs.copy(), d.astype(np.float64)))
        self.session_notes += p.size
        while self.session and self.session_notes - self.session[0][0].size >= self.cfg.stm_notes:
            self.session_notes -= self.session.popleft()[0].size

    def learn_melody(self, pitches: Any, durations: Any = None, key: int | None = None) -> int:
        """Learn one whole melody into the long-term memory (the evaluation API).

        ``pitches`` are MIDI numbers 0..127, ``durations`` optional (seconds or beats; only
        stored, the prediction is of pitch), ``key`` the pitch class scale degrees count
        from (the key signature's major tonic; None: the model's current key, else found
        from the melody). Bad input raises :class:`ConfigError`.
        """
        p, d = _check_melody(pitches, durations)
        p = p[: self.cfg.max_memory]
        dd = np.full(p.size, 0.25) if d is None else d[: p.size]
        ref = self._ref_for(p, dd, key)
        return self.memory.append(p, np.full(p.size, ref, np.int8), np.full(p.size, 80), dd, dd)

    def clear(self) -> None:
        self.memory.clear()
        self.session.clear()
        self.session_notes = 0
        self.key_ref = -1
        self.tune_phrase = 1

    def memory_items(self) -> list[Item]:
        return [self.memory.item(j) for j in range(self.memory.n)]

    def _item(self, j: int) -> Item:
        return self.memory.item(j)

    def phrases(self) -> list[np.ndarray]:
        """Pitch sequences of the learnt phrases (used by copy checkers)."""
        return self.memory.phrases()

    # -- the style library ----------------------------------------------------------------------
    def load_library(self, source: str, max_melodies: int | None = None) -> int:
        """Load a style library: a saved library ``.npz``, a MIDI file or folder, or a music21 corpus name.

        Returns the number of notes. The library is a long-term model of its own, combined
        with the player's memory and session by entropy weighting.
        """
        from .melody_corpus import load_melodies
        if source.endswith(".npz"):
            lib = NoteMemory(self.cfg.max_memory)
            lib.load(source, "library")
            self.library = lib
            self.library_name = source
            return lib.n
        mels = load_melodies(source, max_melodies=max_melodies)
        total = sum(len(m.pitches) for m in mels)
        lib = NoteMemory(max(16, min(self.cfg.max_memory, total)))
        for m in mels:
            p = np.asarray(m.pitches, np.int64)
            if p.size == 0 or lib.n + p.size > lib.cap:
                continue
            d = np.asarray(m.durations, np.float64)
            lib.append(p, np.full(p.size, m.key_ref, np.int8), np.full(p.size, 80), d, d)
        self.library = lib
        self.library_name = source
        return lib.n

    def save_library(self, path: str) -> None:
        self.library.save(path, "library")

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str) -> None:
        self.memory.save(path, "memory")

    def load(self, path: str) -> None:
        mem = NoteMemory(self.cfg.max_memory)
        mem.load(path, "memory")
        self.memory = mem
        self.session.clear()
        self.session_notes = 0

    # -- prediction ------------------------------------------------------------------------------
    def _viewpoint_dist(self, mem_sym: np.ndarray, mem_ph: np.ndarray, n: int, ctx_sym: np.ndarray,
                        v: int, kmax: int, pmap: np.ndarray, method: int = 0,
                        c0: np.ndarray | None = None) -> np.ndarray | None:
        """One model's prediction of one viewpoint, mapped to the 128 pitches (None: undefined)."""
        if n == 0:
            return None
        out = self._out[v]
        maxk = _ppm(mem_sym, mem_ph, n, ctx_sym, ctx_sym.size, kmax, ALPHABET[v], self._counts[v], out, method,
                    self._no_c0 if c0 is None else c0)
        if maxk < 0:
            return None
        idx = pmap[v]
        ok = idx >= 0
        if not ok.any():
            return None
        d = np.where(ok, out[np.maximum(idx, 0)], 0.0)
        tot = d.sum()
        if tot <= 0:
            return None
        d /= tot
        return np.maximum(d, 1e-12)

    @staticmethod
    def _order(orders: tuple[int, ...], v: int) -> int:
        return int(orders[v]) if v < len(orders) else 3

    def _session_arrays(self, ctx_p: np.ndarray, ctx_ref: int, ctx_d: np.ndarray | None
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The short-term model's memory: this session's recent phrases, then the melody so far."""
        ps: list[np.ndarray] = [p for p, _, _ in self.session]
        rs: list[np.ndarray] = [r for _, r, _ in self.session]
        ds: list[np.ndarray] = [d for _, _, d in self.session]
        ps.append(ctx_p)
        rs.append(np.full(ctx_p.size, ctx_ref, np.int8))
        ds.append(ctx_d if ctx_d is not None else np.full(ctx_p.size, np.nan))
        p = np.concatenate(ps) if len(ps) > 1 else ctx_p
        r = np.concatenate(rs) if len(rs) > 1 else rs[0]
        dd = np.concatenate(ds) if len(ds) > 1 else ds[0]
        first = np.zeros(p.size, np.bool_)
        ph = np.zeros(p.size, np.int32)
        o = 0
        for i, seg in enumerate(ps):
            if seg.size:
                first[o] = True
                ph[o: o + seg.size] = i
            o += seg.size
        sym = viewpoint_symbols(p, r, first, np.nan_to_num(dd, nan=1.0))
        if ctx_d is None and ctx_p.size:                      # unknown durations: no duration viewpoint
            sym[VP_INTDUR, p.size - ctx_p.size:] = -1
        return sym, ph

    def predict(self, context: Any, key: int | None = None, durations: Any = None) -> np.ndarray:
        """P(next pitch | the previous pitches): shape (128,), every entry > 0, sums to 1.

        ``context`` is the melody so far (MIDI pitches, oldest first; may be empty). The
        distribution combines every viewpoint of the long-term memory, the style library and
        the short-term model (this session and the context), each blended over its PPM orders.
        ``durations`` (optional) are the context's note durations followed by the duration of
        the note predicted (its rhythm known, its pitch not, as IDyOM predicts pitch); without
        them the interval x duration-ratio viewpoint is left out.
        """
        ctx = np.asarray(context, np.int64).reshape(-1) if len(context) else np.zeros(0, np.int64)
        if ctx.size and (ctx.min() < 0 or ctx.max() > 127):
            raise ConfigError("context pitches must be MIDI numbers 0..127")
        d = None
        if durations is not None:
            d = np.asarray(durations, np.float64).reshape(-1)
            if d.size != ctx.size + 1 or not np.all(np.isfinite(d)) or np.any(d <= 0):
                raise ConfigError("durations must be len(context) + 1 finite values > 0 (the last: the next note's)")
        ref = self.key_ref if key is None else int(key) % 12
        return self._distribution(ctx, ref, stm_ctx=ctx, dur=d)

    def _distribution(self, ctx: np.ndarray, ref: int, stm_ctx: np.ndarray, dur: np.ndarray | None = None,
                      stm_dur: np.ndarray | None = None) -> np.ndarray:
        """``dur``: durations of ``ctx`` and of the note predicted (None: unknown)."""
        cfg = self.cfg
        first = np.zeros(ctx.size, np.bool_)
        if ctx.size:
            first[0] = True
        csym = viewpoint_symbols(ctx, np.full(ctx.size, ref, np.int8), first,
                                 None if dur is None else dur[: ctx.size])
        last = int(ctx[-1]) if ctx.size else -1
        dr = int(duration_ratio_class(dur[-1], dur[-2])) if dur is not None and dur.size >= 2 else -1
        pmap = pitch_map(last, ref, dr)
        if stm_dur is None and dur is not None and stm_ctx is ctx:
            stm_dur = dur[: ctx.size]
        ssym, sph = self._session_arrays(stm_ctx, ref, stm_dur)
        vdists: list[np.ndarray] = []
        for v in range(NVP):
            if v >= len(cfg.viewpoints) or not cfg.viewpoints[v] or (v != VP_PITCH and not cfg.transpose):
                continue
            if v == VP_INTDUR and dr < 0:
                continue
            cs = csym[v]
            models = []
            for mem in (self.memory, self.library):
                d = self._viewpoint_dist(mem.sym[v], mem.phrase, mem.n, cs, v, self._order(cfg.orders, v), pmap,
                                         cfg.ltm_escape, mem.c0[v])
                if d is not None:
                    models.append(d)
            if cfg.use_stm and (stm_ctx.size or self.session):
                d = self._viewpoint_dist(ssym[v], sph, ssym.shape[1], cs, v, self._order(cfg.stm_orders, v), pmap,
                                         cfg.stm_escape)
                if d is not None:
                    models.append(d)
            if models:
                vdists.append(combine_entropy_weighted(models, cfg.b_models, cfg.combine == "geometric"))
        if not vdists:
            return np.full(128, 1.0 / 128)
        p = combine_entropy_weighted(vdists, cfg.b_viewpoints, cfg.combine == "geometric")
        p = np.maximum(p, 1e-12)
        return p / p.sum()

    # -- generation ---------------------------------------------------------------------------
    def start_answer(self, context: list[Item], weights: np.ndarray | None = None,
                     phrase: list[Item] | None = None, key: tuple[int, int] | None = None) -> AnswerGen:
        return AnswerGen(self, context, weights, phrase, key)


def fitness_weights(root: int, scale: tuple[int, ...], chord: tuple[int, ...] = ()) -> np.ndarray:
    """Harmonic fitness of each pitch class: chord tones > scale tones > the rest."""
    w = np.full(12, 0.05)
    for d in scale:
        w[(root + d) % 12] = 1.0
    for pc in chord:
        w[pc % 12] = 2.0
    return w


def stable_degrees(root: int, mode: int) -> np.ndarray:
    """Weights of each pitch class for a phrase's last note: the tonic, then the 5th and the 3rd."""
    out = np.full(12, 0.01)
    out[root % 12] = 1.0
    out[(root + 7) % 12] = 0.3
    out[(root + (3 if mode else 4)) % 12] = 0.3
    return out


class AnswerGen:
    """Generates one answer note by note (each step bounded by the memory and library sizes).

    ``context`` is what the answer continues (the phrase, or its last note in question and
    answer), ``phrase`` the player's phrase whose rhythm, dynamics, chords and contour it
    follows, ``key`` (tonic pitch class, 0 major / 1 minor) where it comes to rest (None:
    found from the phrase).
    """

    def __init__(self, model: ContinuatorModel, context: list[Item], weights: np.ndarray | None,
                 phrase: list[Item] | None = None, key: tuple[int, int] | None = None) -> None:
        self.m = model
        cfg = model.cfg
        self.weights = np.ones(12) if weights is None else np.asarray(weights, np.float64)
        self.phrase = list(phrase if phrase is not None else context)
        self.ctx = np.array([max(0, min(127, it.pitch)) for it in context], np.int64)
        self.ctx_dur = np.array([max(0.01, it.ioi) for it in context], np.float64)
        self.stm_ctx = np.array([max(0, min(127, it.pitch)) for it in self.phrase], np.int64)
        self.stm_dur = np.array([max(0.01, it.ioi) for it in self.phrase], np.float64)
        self.ans_dur = np.zeros(cfg.max_answer + 1, np.float64)
        self.ans = np.zeros(cfg.max_answer + 1, np.int64)
        self.alen = 0
        self.items: list[Item] = []
        self.ended = False
        if key is None:
            pp0 = self.stm_ctx if self.stm_ctx.size else self.ctx
            if pp0.size:
                r, mo, _ = detect_key(pp0)
                key = (r, mo)
            else:
                key = (0, 0)
        self.key = key
        self.ref = model.key_ref if model.key_ref >= 0 else key_referent(*key)
        # the harmonic bias: fitness ** gamma (S = 1: none)
        self.gamma = 3.0 * (1.0 - cfg.harmonic_s)
        self.fit = np.maximum(self.weights, 1e-3)[np.arange(128) % 12] ** self.gamma
        self.stable = stable_degrees(*key)[np.arange(128) % 12]
        pp = [it.pitch for it in self.phrase] or [60]
        self.contour = np.asarray(pp, np.float64) - pp[0]
        self.start_pitch = float(pp[-1])
        # cycles the player played may recur
        self.allowed_cycle = {L for L, r in cycle_runs(pp).items() if r > cfg.max_cycle_turns * L}
        # a note is repeated no more often in a row than the player did (at least twice)
        run, self.max_repeat = 1, 2
        for a, b in zip(pp, pp[1:], strict=False):
            run = run + 1 if a == b else 1
            self.max_repeat = max(self.max_repeat, run)

    def _cycle_forbid(self, forbid: np.ndarray) -> None:
        """Mark the pitches that would run a 2-4-note cycle past ``max_cycle_turns`` turns."""
        turns = self.m.cfg.max_cycle_turns
        a = self.ans[: self.alen]
        for L in (2, 3, 4):
            if L in self.allowed_cycle:
                continue
            need = turns * L                 # notes already periodic before the new one
            if self.alen < need:
                continue
            tail = a[self.alen - need:]
            if all(tail[i] == tail[i - L] for i in range(L, need)) and len(set(tail[-L:].tolist())) > 1:
                y = int(tail[need - L])          # the note that would continue the cycle
                if not forbid[y]:
                    forbid[y] = True
                    self.m.cycle_blocks += 1
        if self.alen >= self.max_repeat:
            last = int(a[-1])
            if all(int(x) == last for x in a[self.alen - self.max_repeat:]):
                forbid[last] = True

    def step(self, final: bool = False) -> Item | None:
        """The next answer item, or None when every pitch is excluded (the answer ends)."""
        m = self.m
        cfg = m.cfg
        if self.ended or self.alen >= cfg.max_answer:
            self.ended = True
            return None
        t0 = time.perf_counter_ns()
        src = self.phrase[self.alen % len(self.phrase)] if self.phrase else Item(60, 80, 0.25, 0.25)
        ctx = np.concatenate([self.ctx, self.ans[: self.alen]]) if self.alen else self.ctx
        cd = np.concatenate([self.ctx_dur, self.ans_dur[: self.alen], [max(0.01, src.ioi)]])
        p = m._distribution(ctx[-64:], self.ref, stm_ctx=self.stm_ctx, dur=cd[-(min(ctx.size, 64) + 1):],
                            stm_dur=self.stm_dur)
        p = p ** (1.0 / cfg.temperature) * self.fit
        if cfg.contour_sigma > 0 and self.contour.size > 1 and not final:   # the last note: where it rests
            i = self.alen + 1
            target = self.start_pitch + self.contour[i % self.contour.size] - self.contour[0]
            p = p * np.exp(-0.5 * ((np.arange(128) - target) / cfg.contour_sigma) ** 2)
        if final and cfg.end_on_stable:
            p = p * self.stable
        forbid = m._forbid
        forbid[:] = False
        L = cfg.max_copy
        for mem in (m.memory, m.library):
            if mem.n:
                _forbidden(mem.mp64, mem.n, self.ans, self.alen, L, forbid)
        # older material (before this tune: its key, at most ``recent_notes`` back) and the library: quoted less
        lo = min(L, cfg.max_copy_older if cfg.max_copy_older > 0 else max(1, L - 2))
        if lo < L:
            old = m.tune_start()
            if old > lo:
                _forbidden(m.memory.mp64, old, self.ans, self.alen, lo, forbid)
            if m.library.n:
                _forbidden(m.library.mp64, m.library.n, self.ans, self.alen, lo, forbid)
        self._cycle_forbid(forbid)
        q = np.where(forbid, 0.0, p)
        if q.sum() <= 1e-300:
            m.copy_blocks += 1
            self.ended = True
            m.step_ns.append(time.perf_counter_ns() - t0)
            return None
        y = int(m.rng.choice(128, p=q / q.sum()))
        chord = tuple(c for c in src.chord if 0 <= y + c <= 127)
        it = Item(y, src.vel, src.dur, src.ioi, chord)
        self.ans[self.alen] = y
        self.ans_dur[self.alen] = max(0.01, src.ioi)
        self.alen += 1
        self.items.append(it)
        m.step_ns.append(time.perf_counter_ns() - t0)
        return it


def max_copy_length(generated: list[int] | np.ndarray, training: list[np.ndarray] | np.ndarray,
                    transposed: bool = True) -> int:
    """Longest run of consecutive generated notes that occurs consecutively in the training.

    With ``transposed`` a run counts when its intervals match (a transposed copy). The
    training sequences are searched as one concatenated sequence (the strictest reading).
    """
    g = np.asarray(generated, np.int64)
    seqs = training if isinstance(training, list) else [np.asarray(training)]
    tr = np.concatenate([np.asarray(s, np.int64) for s in seqs]) if seqs else np.zeros(0, np.int64)
    if g.size == 0 or tr.size == 0:
        return 0
    if not transposed:
        best = 0
        for i in range(g.size):
            for j in range(tr.size):
                k = 0
                while i + k < g.size and j + k < tr.size and g[i + k] == tr[j + k]:
                    k += 1
                best = max(best, k)
        return best
    # a run of k notes matches when its k-1 intervals match; any single note "matches"
    gi = np.diff(g)
    ti = np.diff(tr)
    best = 1
    for i in range(gi.size):
        for j in range(ti.size):
            k = 0
            while i + k < gi.size and j + k < ti.size and gi[i + k] == ti[j + k]:
                k += 1
            best = max(best, k + 1)
    return best


def warm_up() -> None:
    """Compile (or load from the cache) the scan kernels now, not at the first phrase end."""
    m = ContinuatorModel(ContinuatorConfig(max_memory=64), seed=0)
    m.learn([Item(60 + i, 80, 0.2, 0.25) for i in range(8)])
    g = m.start_answer([Item(60, 80, 0.2, 0.25), Item(62, 80, 0.2, 0.25)], np.ones(12))
    for _ in range(3):
        g.step()


__all__ = ["MODES", "ON_PLAY", "RHYTHMS", "VIEWPOINTS", "AnswerGen", "ChordClusterer", "ContinuatorConfig",
           "ContinuatorModel", "Item", "NoteMemory", "circles", "cycle_runs", "fitness_weights", "key_referent",
           "max_copy_length", "stable_degrees", "warm_up"]
