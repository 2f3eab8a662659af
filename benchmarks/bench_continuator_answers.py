"""The shape of the Continuator's answers, over hundreds of real phrases.

A simulated player plays the songs of a corpus phrase by phrase (Essen's children's songs
and Bach chorale soprano lines, music21), ten songs a session, into one Continuator model;
after each phrase the model learns it and answers it, as live (``AnswerGen`` with the
phrase's key from Krumhansl-Schmuckler, answer length = the phrase's). Phrases are cut
after a long note (>= 1.5 x the song's median duration), 5-16 notes.

Figures, per corpus:

* ``cycle_rate``: answers where a 2-4-note cycle runs more than two turns (the issue saw
  F# F# A G go round almost three times) while the phrase did not;
* ``length_ratio``: answer notes / phrase notes;
* ``stable_ending``: the share of answers ending on the tonic, 3rd or 5th, with the
  histogram of ending degrees (semitones above the tonic);
* ``copy_max`` and the copy-length histogram: the longest run of answer notes found
  consecutively (as intervals) in everything learnt, against ``max_copy``;
* ``previous_song_copy``: the longest run copied from an earlier song's phrases (as
  intervals; ``verbatim_*``: the same pitches);
* ``bits_per_note``: information content of the answers under a model of the style (the
  same corpus's other half, learnt by a separate model), given the phrase, beside random
  in-key notes in the phrase's range (``random_in_key``) and the song's real next phrase
  (``real_next_phrase``);
* ``contour_corr``: correlation of the answer's pitches with the phrase's.

``python -m benchmarks.bench_continuator_answers [--quick]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np

from benchmarks.common import emit, failed
from rtgen.gen.continuator import (
    ContinuatorConfig,
    ContinuatorModel,
    Item,
    circles,
    fitness_weights,
    max_copy_length,
    warm_up,
)
from rtgen.gen.keydetect import detect_key, scale_of
from rtgen.gen.melody_corpus import Melody, load_melodies

SETS = {"essen_kinder": "essen/kinder", "bach_chorales185": "bach/chorales185"}
SEC_PER_QUARTER = 0.5


def phrases_of(m: Melody, lo: int = 5, hi: int = 16) -> list[tuple[list[int], list[float]]]:
    """Cut a melody after long notes into phrases of lo..hi notes."""
    d = np.asarray(m.durations)
    med = float(np.median(d))
    out: list[tuple[list[int], list[float]]] = []
    a = 0
    for i in range(len(m.pitches)):
        n = i + 1 - a
        if (n >= lo and d[i] >= 1.5 * med) or n >= hi or i == len(m.pitches) - 1:
            if n >= 3:
                out.append((m.pitches[a: i + 1], [float(x) for x in d[a: i + 1]]))
            a = i + 1
    return out


def _items(p: list[int], d: list[float]) -> list[Item]:
    return [Item(int(x), 80, y * SEC_PER_QUARTER * 0.9, y * SEC_PER_QUARTER) for x, y in zip(p, d, strict=True)]


def _ic(model: ContinuatorModel, ctx: list[int], seq: list[int], key: int) -> float:
    bits = []
    for i, y in enumerate(seq):
        p = model.predict(ctx + seq[:i], key=key)
        bits.append(-np.log2(p[y]))
    return float(np.mean(bits))


def run(key: str, mels: list[Melody], n_phrases: int, rng: np.random.Generator, cfg: ContinuatorConfig) -> None:
    half = len(mels) // 2
    judge = ContinuatorModel(ContinuatorConfig())           # the style, learnt from the other half
    for m in mels[half:]:
        judge.learn_melody(m.pitches, m.durations, key=m.key_ref)
    songs = mels[:half]
    cycles = 0
    ratios: list[float] = []
    ends: Counter[int] = Counter()
    stable = 0
    copies: Counter[int] = Counter()
    prev_copies: list[int] = []
    prev_verbatim: list[int] = []          # same pitches, not only the same intervals
    ic_ans: list[float] = []
    ic_rand: list[float] = []
    ic_real: list[float] = []
    corr: list[float] = []
    step_us: list[float] = []
    done = 0
    model: ContinuatorModel | None = None
    for si, song in enumerate(songs):
        if done >= n_phrases:
            break
        if si % 10 == 0:
            model = ContinuatorModel(cfg, seed=si)           # a new session every ten songs
        assert model is not None
        earlier = model.phrases()                            # what earlier songs taught
        ph = phrases_of(song)
        played: list[int] = []
        for pi, (p, d) in enumerate(ph):
            if done >= n_phrases:
                break
            played += p
            root, mode, _ = detect_key(played)
            items = _items(p, d)
            model.set_key(root, mode)
            model.learn(items)
            w = fitness_weights(root, scale_of(root, mode))
            gen = model.start_answer(items, w, items, (root, mode))
            target = len(p)
            out: list[int] = []
            t0 = time.perf_counter()
            while len(out) < target:
                it = gen.step(final=len(out) == target - 1)
                if it is None:
                    break
                out.append(it.pitch)
            step_us.append((time.perf_counter() - t0) * 1e6 / max(1, len(out)))
            done += 1
            ratios.append(len(out) / len(p))
            if not out:
                continue
            if circles(out) and not circles(p):
                cycles += 1
            deg = (out[-1] - root) % 12
            ends[deg] += 1
            stable += deg in (0, 7, 3 if mode else 4)
            copies[max_copy_length(out, model.phrases())] += 1
            if earlier:
                prev_copies.append(max_copy_length(out, earlier))
                prev_verbatim.append(max_copy_length(out, earlier, transposed=False))
            ref = root if mode == 0 else (root + 3) % 12
            ic_ans.append(_ic(judge, p, out, ref))
            lo, hi = min(p) - 2, max(p) + 2
            sc = [x for x in range(lo, hi + 1) if (x - root) % 12 in scale_of(root, mode)]
            rnd = [int(x) for x in rng.choice(sc, size=len(out))]
            ic_rand.append(_ic(judge, p, rnd, ref))
            if pi + 1 < len(ph):
                ic_real.append(_ic(judge, p, ph[pi + 1][0], ref))
            k = min(len(out), len(p))
            if k >= 3 and np.std(out[:k]) > 0 and np.std(p[:k]) > 0:
                corr.append(float(np.corrcoef(out[:k], p[:k])[0, 1]))
    n = max(1, done)
    g = f"continuator_answers/{key}"
    emit(f"{g}_phrases", done, "phrases", f">= {n_phrases}", done >= n_phrases, songs=min(len(songs), si + 1))
    emit(f"{g}_cycle_rate", cycles / n, "fraction", "== 0", cycles == 0)
    emit(f"{g}_length_ratio", float(np.mean(ratios)), "answer/phrase notes", "0.8..1.2",
         0.8 <= float(np.mean(ratios)) <= 1.2, min=float(np.min(ratios)))
    emit(f"{g}_stable_ending", stable / n, "fraction", ">= 0.8", stable / n >= 0.8,
         ending_degrees={str(k): v for k, v in sorted(ends.items())})
    cmax = max(copies) if copies else 0
    emit(f"{g}_copy_max", cmax, "notes", f"<= {cfg.max_copy}", cmax <= cfg.max_copy,
         histogram={str(k): v for k, v in sorted(copies.items())})
    if prev_copies:
        emit(f"{g}_previous_song_copy_max", max(prev_copies), "notes", f"<= {cfg.max_copy}",
             max(prev_copies) <= cfg.max_copy, median=float(np.median(prev_copies)),
             verbatim_median=float(np.median(prev_verbatim)), verbatim_max=int(max(prev_verbatim)),
             verbatim_histogram={str(k): v for k, v in sorted(Counter(prev_verbatim).items())})
    a, r = float(np.mean(ic_ans)), float(np.mean(ic_rand))
    emit(f"{g}_bits_per_note", a, "bits/note", "< random in-key notes", a < r, peer=r, ratio=a / r,
         real_next_phrase=float(np.mean(ic_real)) if ic_real else None)
    emit(f"{g}_random_in_key_bits_per_note", r, "bits/note", "> the answers'", r > a)
    emit(f"{g}_contour_corr", float(np.mean(corr)) if corr else 0.0, "pearson r", "> 0",
         bool(corr) and float(np.mean(corr)) > 0)
    med = float(np.median(step_us))
    emit(f"{g}_step_us", med, "us/note", "< 30000", med < 30000, max=float(np.max(step_us)))


def bench_cost_100k(library: str = "essen/altdeu10", trials: int = 20) -> None:
    """Cost with 100,000 notes learnt and a corpus loaded: learning a phrase, and the decision to the first note.

    The decision to the first note is what the live thread does at a phrase end: learn the
    phrase, start the answer, compute its first note (target: 30 ms).
    """
    rng = np.random.default_rng(0)
    mels = load_melodies("essen/kinder")
    m = ContinuatorModel(ContinuatorConfig(max_memory=120_000), seed=0)
    while m.n < 100_000:
        x = mels[int(rng.integers(len(mels)))]
        t = int(rng.integers(-5, 7))
        m.learn(_items([p + t for p in x.pitches[:16]], x.durations[:16]))
    m.load_library(library)
    first: list[float] = []
    learn: list[float] = []
    m.step_ns.clear()
    for k in range(trials):
        x = mels[k]
        r, mode, _ = detect_key(x.pitches)
        items = _items(x.pitches[:12], x.durations[:12])
        t0 = time.perf_counter()
        m.learn(items)
        t1 = time.perf_counter()
        g = m.start_answer(items, fitness_weights(r, scale_of(r, mode)), items, (r, mode))
        g.step()
        first.append((time.perf_counter() - t0) * 1e3)
        learn.append((t1 - t0) * 1e6 / len(items))
        for _ in range(11):
            g.step()
    step = np.array(m.step_ns) / 1e6
    emit("continuator_answers/first_note_ms_100k", float(np.median(first)), "ms", "< 30", max(first) < 30.0,
         max=float(np.max(first)), memory_notes=m.n, library_notes=m.library.n, library=library)
    emit("continuator_answers/step_ms_100k", float(np.median(step)), "ms/note", "< 30", float(np.median(step)) < 30,
         max=float(step.max()))
    emit("continuator_answers/learn_us_per_note_100k", float(np.median(learn)), "us/note", "< 1000",
         float(np.median(learn)) < 1000, max=float(np.max(learn)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 phrases a corpus instead of 300")
    args = ap.parse_args(argv)
    cfg = ContinuatorConfig()
    warm_up()                                     # load the compiled kernels before anything is timed
    for key, src in SETS.items():
        try:
            mels = load_melodies(src)
        except Exception as e:
            failed(f"continuator_answers/{key}_cycle_rate", "fraction", "== 0", e)
            continue
        run(key, mels, 100 if args.quick else 300, np.random.default_rng(0), cfg)
    try:
        bench_cost_100k(trials=5 if args.quick else 20)
    except Exception as e:
        failed("continuator_answers/first_note_ms_100k", "ms", "< 30", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
