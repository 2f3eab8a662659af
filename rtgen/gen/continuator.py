"""The Continuator: learns the player's phrases live and answers in their style.

After F. Pachet, "The Continuator: Musical Interaction with Style", *Journal of New
Music Research* 32(3), 2003:

* phrases are segmented by silence (an adaptive threshold from the player's
  inter-onset intervals), simultaneous notes are clustered into chords;
* a variable-order Markov model (longest matching context, order <= ``max_order``)
  is learnt over the phrases, in all 12 transpositions;
* an unseen context falls back through coarser viewpoints: pitch x duration x
  velocity, then pitch, then a pitch region, then a larger region;
* the choice is biased by harmony: ``P(x) = S * P_markov(x) + (1 - S) * fitness(x)``.

Anti-plagiarism follows the *max-order* idea of A. Papadopoulos, P. Roy and F.
Pachet, "Avoiding Plagiarism in Markov Sequence Generation", AAAI 2014: a generated
answer never contains more than ``max_copy`` consecutive notes that also occur,
consecutively, in the training memory. The constraint is enforced during generation:
before each choice the continuations that would complete a longer copy are removed
(copies are counted on intervals, so a transposed copy counts as a copy too); when
nothing is left the model backs off to lower orders and coarser viewpoints, and the
answer ends early rather than copy.

Representation. Pachet stores every phrase (and its 11 transpositions) in prefix
trees whose nodes list the continuations of a context. The set of continuations at
the deepest node matched by a context is exactly the set of memory positions whose
preceding notes match that context, so this implementation keeps the memory as flat
arrays and finds those positions with one compiled linear scan (``_candidates``).
Learning is an O(phrase) append; the 12 transpositions are realised at lookup time
(a context matches a memory position under any transposition within +-6 semitones),
which selects the same continuations as storing 12 transposed copies with 1/12 of
the memory. Generation costs O(memory) per note, bounded by ``max_memory``.

This module is the pure model (no thread, no clock, no engine); the live thread that feeds
it and schedules the answers is :mod:`rtgen.control.continuator_live`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numba import njit

log = logging.getLogger("rtgen.continuator")

RHYTHMS = ("natural", "linear", "input", "metrical")
MODES = ("continuation", "qa", "accompaniment")
ON_PLAY = ("stop", "duck", "keep")
MAX_CHORD = 6          # notes per chord item (the top note and up to 5 below it)
TMAX = 6               # transpositions -6..+5 (12 in all)


@dataclass
class ContinuatorConfig:
    max_order: int = 10
    max_memory: int = 200_000          # notes kept; the oldest phrases are forgotten beyond it
    max_phrase: int = 256              # items learnt per phrase at most (bounds learning time)
    transpose: bool = True             # learn in all 12 transpositions
    region1: int = 5                   # semitones per pitch region (first coarse viewpoint)
    region2: int = 12                  # larger region
    silence_factor: float = 2.5        # phrase end after factor x median IOI of silence ...
    silence_min: float = 0.25          # ... clamped to [silence_min, silence_max] seconds
    silence_max: float = 0.5
    chord_window: float = 0.04         # onsets within this window, while the first is held, form a chord
    rhythm: str = "natural"            # natural | linear | input | metrical
    linear_step: float = 0.0           # seconds per step in linear mode (0: the phrase's median IOI)
    metrical_div: int = 2              # metrical mode: steps per beat of the engine clock
    harmonic_s: float = 0.6            # S in P = S * Markov + (1 - S) * fitness
    untransposed_weight: float = 4.0   # weight of an untransposed occurrence vs a transposed one
    key_transpose: bool = True         # transposed continuations only where they fit the current scale
    max_copy: int = 6                  # longest verbatim copy of the memory allowed (>= 1)
    mode: str = "continuation"         # continuation | qa | accompaniment
    on_play: str = "stop"              # stop | duck | keep
    duck_gain: float = 0.3
    answer_factor: float = 1.0         # answer length = factor x phrase length (items)
    min_answer: int = 4
    max_answer: int = 32
    latency_s: float = 0.006           # first answer note = phrase end + this (engine sample clock)
    lookahead_s: float = 0.05          # notes are sent to the engine this long before they sound
    horizon_s: float = 0.3             # generation runs this far ahead of the playback
    step_budget_s: float = 0.01        # a generation step slower than this is counted
    velocity: int = 0                  # fixed answer velocity (0: learnt)

    def validate(self) -> None:
        if self.rhythm not in RHYTHMS:
            raise ValueError(f"rhythm must be one of {RHYTHMS}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.on_play not in ON_PLAY:
            raise ValueError(f"on_play must be one of {ON_PLAY}")
        if self.max_copy < 1:
            raise ValueError("max_copy must be >= 1")
        if not 1 <= self.max_order <= 32:
            raise ValueError("max_order must be in 1..32")


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


# ---------------------------------------------------------------- the compiled scan

@njit(cache=True, nogil=True)
def _forbidden(mp: np.ndarray, n: int, ans: np.ndarray, alen: int, L: int, forbid: np.ndarray) -> None:
    """Mark the pitches that would make the answer's last L+1 notes a (transposed) copy of the memory."""
    forbid[:] = False
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


@njit(cache=True, nogil=True)
def _candidates(mp: np.ndarray, md: np.ndarray, mv: np.ndarray, mph: np.ndarray, n: int,
                cp: np.ndarray, cd: np.ndarray, cv: np.ndarray, clen: int, max_order: int, tmax: int,
                r1: int, r2: int, forbid: np.ndarray, tmask: np.ndarray, m0s: np.ndarray, m1s: np.ndarray,
                out_j: np.ndarray, out_y: np.ndarray) -> tuple[int, int, int]:
    """Continuations of the context: (count, viewpoint 0..3, order); -1 viewpoint if none.

    Viewpoint 0 = pitch x duration x velocity, 1 = pitch, 2 = region ``r1``, 3 = region ``r2``.
    Pitch viewpoints match under any transposition |t| <= tmax whose continuation falls on a
    pitch class allowed by ``tmask`` (the current scale; untransposed continuations are always
    allowed); region viewpoints match untransposed.
    """
    if clen <= 0 or n < 2:
        return 0, -1, 0
    top = clen if clen < max_order else max_order
    best0 = 0
    best1 = 0
    last = cp[clen - 1]
    for j in range(1, n):
        m0s[j] = 0
        m1s[j] = 0
        if mph[j] != mph[j - 1]:
            continue
        t = last - mp[j - 1]
        if t > tmax or t < -tmax:
            continue
        y = mp[j] + t
        if y < 0 or y > 127 or forbid[y] or (t != 0 and not tmask[y % 12]):
            continue
        m0 = 0
        m1 = 0
        full = True
        for k in range(1, top + 1):
            jj = j - k
            if jj < 0 or mph[jj] != mph[j]:
                break
            if mp[jj] + t != cp[clen - k]:
                break
            m1 = k
            if full and md[jj] == cd[clen - k] and mv[jj] == cv[clen - k]:
                m0 = k
            else:
                full = False
        m0s[j] = m0
        m1s[j] = m1
        if m0 > best0:
            best0 = m0
        if m1 > best1:
            best1 = m1
    cnt = 0
    if best1 >= 1:
        use0 = best0 == best1
        for j in range(1, n):
            if (use0 and m0s[j] == best0) or ((not use0) and m1s[j] == best1):
                out_j[cnt] = j
                out_y[cnt] = mp[j] + last - mp[j - 1]
                cnt += 1
        return cnt, 0 if use0 else 1, best1
    for v in range(2):
        r = r1 if v == 0 else r2
        best = 0
        for j in range(1, n):
            m1s[j] = 0
            if mph[j] != mph[j - 1] or forbid[mp[j]]:
                continue
            m = 0
            for k in range(1, top + 1):
                jj = j - k
                if jj < 0 or mph[jj] != mph[j]:
                    break
                if mp[jj] // r != cp[clen - k] // r:
                    break
                m = k
            m1s[j] = m
            if m > best:
                best = m
        if best >= 1:
            for j in range(1, n):
                if m1s[j] == best:
                    out_j[cnt] = j
                    out_y[cnt] = mp[j]
                    cnt += 1
            return cnt, 2 + v, best
    return 0, -1, 0


# ---------------------------------------------------------------- the model

class ContinuatorModel:
    """The learnt memory and the generator (no threads, no engine: testable alone)."""

    def __init__(self, config: ContinuatorConfig | None = None, seed: int = 0) -> None:
        self.cfg = config or ContinuatorConfig()
        self.cfg.validate()
        self.rng = np.random.default_rng(seed)
        cap = int(self.cfg.max_memory)
        self.cap = cap
        self.pitch = np.zeros(cap, np.int16)
        self.dcls = np.zeros(cap, np.int8)
        self.vcls = np.zeros(cap, np.int8)
        self.phrase = np.zeros(cap, np.int32)
        self.vel = np.zeros(cap, np.uint8)
        self.dur = np.zeros(cap, np.float32)
        self.ioi = np.zeros(cap, np.float32)
        self.chord = np.zeros((cap, MAX_CHORD - 1), np.int8)
        self.nchord = np.zeros(cap, np.int8)
        self.n = 0
        self.next_phrase = 1
        self._m0 = np.zeros(cap, np.int16)
        self._m1 = np.zeros(cap, np.int16)
        self._oj = np.zeros(cap, np.int64)
        self._oy = np.zeros(cap, np.int64)
        self._forbid = np.zeros(128, np.bool_)
        self.learn_ns: deque[int] = deque(maxlen=4096)
        self.step_ns: deque[int] = deque(maxlen=4096)
        self.viewpoint_counts = [0, 0, 0, 0, 0]     # 0..3 viewpoints, 4 = final fallback
        self.copy_blocks = 0                        # answers ended early by the copy constraint

    # -- learning -------------------------------------------------------------------------
    def learn(self, items: list[Item]) -> int:
        """Append one phrase; returns the number of items learnt."""
        t0 = time.perf_counter_ns()
        items = items[: self.cfg.max_phrase]
        k = len(items)
        if k == 0:
            return 0
        if self.n + k > self.cap:
            self._forget(self.n + k - self.cap)
        s = self.n
        pid = self.next_phrase
        self.next_phrase += 1
        for i, it in enumerate(items):
            j = s + i
            self.pitch[j] = max(0, min(127, int(it.pitch)))
            self.vel[j] = max(1, min(127, int(it.vel)))
            self.dur[j] = it.dur
            self.ioi[j] = it.ioi
            self.dcls[j] = dur_class(it.dur)
            self.vcls[j] = vel_class(it.vel)
            self.phrase[j] = pid
            c = it.chord[: MAX_CHORD - 1]
            self.nchord[j] = len(c)
            self.chord[j, : len(c)] = c
        self.n += k
        self.learn_ns.append(time.perf_counter_ns() - t0)
        return k

    def _forget(self, need: int) -> None:
        """Drop the oldest phrases (at least ``need`` items, at least 1/8 of the memory)."""
        drop = min(self.n, max(need, self.cap // 8))
        while drop < self.n and self.phrase[drop] == self.phrase[drop - 1]:
            drop += 1                              # whole phrases only
        keep = self.n - drop
        for a in (self.pitch, self.dcls, self.vcls, self.phrase, self.vel, self.dur, self.ioi,
                  self.nchord, self.chord):
            a[:keep] = a[drop: self.n]
        self.n = keep

    def clear(self) -> None:
        self.n = 0
        self.next_phrase = 1

    def memory_items(self) -> list[Item]:
        return [self._item(j) for j in range(self.n)]

    def _item(self, j: int) -> Item:
        c = tuple(int(x) for x in self.chord[j, : int(self.nchord[j])])
        return Item(int(self.pitch[j]), int(self.vel[j]), float(self.dur[j]), float(self.ioi[j]), c)

    def phrases(self) -> list[np.ndarray]:
        """Pitch sequences of the learnt phrases (used by copy checkers)."""
        if self.n == 0:
            return []
        cuts = np.flatnonzero(np.diff(self.phrase[: self.n])) + 1
        return np.split(self.pitch[: self.n].astype(np.int64), cuts)

    # -- persistence (npz, no pickle) -------------------------------------------------------
    def save(self, path: str) -> None:
        n = self.n
        meta = json.dumps({"version": 1, "next_phrase": self.next_phrase, "config": asdict(self.cfg)})
        with open(path, "wb") as f:
            np.savez_compressed(f, pitch=self.pitch[:n], dcls=self.dcls[:n], vcls=self.vcls[:n],
                                phrase=self.phrase[:n], vel=self.vel[:n], dur=self.dur[:n],
                                ioi=self.ioi[:n], chord=self.chord[:n], nchord=self.nchord[:n],
                                meta=np.array(meta))

    def load(self, path: str) -> None:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if int(meta.get("version", 0)) != 1:
                raise ValueError(f"unsupported Continuator memory version {meta.get('version')}")
            n = int(z["pitch"].shape[0])
            if n > self.cap:
                raise ValueError(f"memory holds {n} notes, more than max_memory={self.cap}")
            self.pitch[:n] = z["pitch"]
            self.dcls[:n] = z["dcls"]
            self.vcls[:n] = z["vcls"]
            self.phrase[:n] = z["phrase"]
            self.vel[:n] = z["vel"]
            self.dur[:n] = z["dur"]
            self.ioi[:n] = z["ioi"]
            self.chord[:n] = z["chord"]
            self.nchord[:n] = z["nchord"]
            self.n = n
            self.next_phrase = int(meta["next_phrase"])

    # -- generation ---------------------------------------------------------------------------
    def start_answer(self, context: list[Item], weights: np.ndarray | None = None) -> AnswerGen:
        return AnswerGen(self, context, weights)


def fitness_weights(root: int, scale: tuple[int, ...], chord: tuple[int, ...] = ()) -> np.ndarray:
    """Harmonic fitness of each pitch class: chord tones > scale tones > the rest."""
    w = np.full(12, 0.05)
    for d in scale:
        w[(root + d) % 12] = 1.0
    for pc in chord:
        w[pc % 12] = 2.0
    return w


class AnswerGen:
    """Generates one answer note by note (each step bounded by the memory size)."""

    def __init__(self, model: ContinuatorModel, context: list[Item], weights: np.ndarray | None) -> None:
        self.m = model
        cfg = model.cfg
        self.weights = np.ones(12) if weights is None else np.asarray(weights, np.float64)
        k = cfg.max_order
        ctx = context[-k:]
        self.cp = np.zeros(k + 1, np.int64)
        self.cd = np.zeros(k + 1, np.int64)
        self.cv = np.zeros(k + 1, np.int64)
        self.clen = 0
        for it in ctx:
            self._push(it.pitch, dur_class(it.dur), vel_class(it.vel))
        self.ans = np.zeros(cfg.max_answer + 1, np.int64)
        self.alen = 0
        self.items: list[Item] = []
        self.ended = False
        self.harmonic_s = cfg.harmonic_s
        # transposed continuations must land in the current scale (pitch classes of fitness >= 1)
        self.tmask = self.weights >= 1.0 if cfg.key_transpose else np.ones(12, np.bool_)
        if not self.tmask.any():
            self.tmask[:] = True

    def _push(self, p: int, d: int, v: int) -> None:
        k = self.m.cfg.max_order
        if self.clen == k:
            self.cp[:-2] = self.cp[1:-1]
            self.cd[:-2] = self.cd[1:-1]
            self.cv[:-2] = self.cv[1:-1]
            self.clen -= 1
        self.cp[self.clen] = p
        self.cd[self.clen] = d
        self.cv[self.clen] = v
        self.clen += 1

    def step(self, final: bool = False) -> Item | None:
        """The next answer item, or None when no continuation respects the copy limit."""
        m = self.m
        cfg = m.cfg
        if self.ended or self.alen >= cfg.max_answer:
            self.ended = True
            return None
        t0 = time.perf_counter_ns()
        _forbidden(m.pitch, m.n, self.ans, self.alen, cfg.max_copy, m._forbid)
        cnt, vp, _order = _candidates(m.pitch, m.dcls, m.vcls, m.phrase, m.n, self.cp, self.cd, self.cv,
                                      self.clen, cfg.max_order, TMAX if cfg.transpose else 0,
                                      cfg.region1, cfg.region2, m._forbid, self.tmask,
                                      m._m0, m._m1, m._oj, m._oy)
        w = self.weights
        if final:                                  # qa: end on a stable note
            w = w * np.where(np.arange(12) == int(np.argmax(w)), 4.0, 1.0)
        if cnt > 0:
            ys = m._oy[:cnt]
            # an occurrence learnt in the key it is used in counts more than a transposed one
            untransposed = ys == m.pitch[m._oj[:cnt]]
            occ = np.where(untransposed, cfg.untransposed_weight, 1.0)
            counts = np.bincount(ys, weights=occ, minlength=128)
            pm = counts / counts.sum()
            present = counts > 0
            fit = np.where(present, w[np.arange(128) % 12], 0.0)
            fit /= fit.sum()
            s = 0.0 if final else self.harmonic_s
            p = s * pm + (1.0 - s) * fit
            y = int(m.rng.choice(128, p=p / p.sum()))
            js = m._oj[:cnt][ys == y]
            j = int(js[int(m.rng.integers(js.size))])
            src = m._item(j)
            it = Item(y, src.vel, src.dur, src.ioi, src.chord)
            m.viewpoint_counts[vp] += 1
        else:
            fb = self._fallback(w)
            if fb is None:
                m.copy_blocks += 1
                self.ended = True
                m.step_ns.append(time.perf_counter_ns() - t0)
                return None
            it = fb
            m.viewpoint_counts[4] += 1
        self.ans[self.alen] = it.pitch
        self.alen += 1
        self._push(it.pitch, dur_class(it.dur), vel_class(it.vel))
        self.items.append(it)
        m.step_ns.append(time.perf_counter_ns() - t0)
        return it

    def _fallback(self, w: np.ndarray) -> Item | None:
        """No learnt continuation at any viewpoint: a harmonically fit note near the last one."""
        m = self.m
        if self.clen == 0 or m.n == 0:
            return None
        last = int(self.cp[self.clen - 1])
        cand = np.arange(max(0, last - 7), min(128, last + 8))
        cand = cand[~m._forbid[cand]]
        if cand.size == 0:
            return None
        p = w[cand % 12] / (1.0 + np.abs(cand - last))
        y = int(m.rng.choice(cand, p=p / p.sum()))
        j = int(m.rng.integers(m.n))
        src = m._item(j)
        return Item(y, src.vel, src.dur, src.ioi, ())


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


__all__ = ["MODES", "ON_PLAY", "RHYTHMS", "AnswerGen", "ChordClusterer", "ContinuatorConfig", "ContinuatorModel",
           "Item", "fitness_weights", "max_copy_length", "warm_up"]
