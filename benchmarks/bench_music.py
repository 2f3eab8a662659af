"""Musical statistics of every shipped preset beside real music and a random baseline.

``python -m benchmarks.bench_music [--seconds 120] [--presets a,b] [--quick]`` renders each preset
(seed 1) and prints one JSON line per figure:

- symbolic, on the preset's lead line (the arrangement's ``lead`` role; for the generator-family
  presets the busiest melodic layer): share of steps (|interval| <= 2 semitones), IOI entropy
  (bits, onsets quantised to 1/12 beat), onsets on beats, recurrence of 4-interval motifs in
  32-note windows, zlib-compressed size of the interval string over that of shuffled intervals;
  over all pitched notes: in-key rate, minor-second clash frames (50 ms frames where two sounding
  notes lie 1 or 13 semitones apart), chord tones on strong beats (lead notes on beats 1 and 3
  whose pitch class is in the chord the engine's harmony held);
- the same figures for music21's Bach chorales (soprano lines; clashes on the full texture),
  Essen folk songs and O'Neill's Irish tunes, and for random notes (uniform over the lead's
  range, the lead's own rhythm), all computed in this run;
- audio: integrated loudness (ITU-R BS.1770, pyloudnorm), loudness range (EBU Tech 3342:
  3 s short-term windows, 10th to 95th percentile after gating), true peak (4x oversampled),
  energy share below 120 Hz, spectral centroid, stereo width (side/mid energy).

Targets (floors): lead motif recurrence 0.05..0.25, >= 55 % steps in leads, <= 10 % clash
frames, LRA >= 3 LU over two minutes, integrated loudness within +-3 LU of -16 LUFS.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
import zlib
from collections import Counter
from typing import Any

import numpy as np

TARGET_LUFS = -16.0


def emit(name: str, value: float, unit: str, target: str = "", ok: bool | None = None, **extra: Any) -> None:
    """One figure in the benchmarks' schema; a figure without a target is reported beside the
    corpora and the random baseline (target "reported", pass true)."""
    from benchmarks.common import emit as emit_row
    from benchmarks.common import skipped

    if "reason" in extra:
        skipped(name, unit or "n/a", target or "measured", str(extra.pop("reason")), **extra)
        return
    emit_row(name, value, unit or "n/a", target or "reported", True if ok is None else bool(ok), **extra)


# ------------------------------------------------------------------------- rendering
def render_preset(name: str, seconds: float, seed: int = 1) -> dict[str, Any]:
    """Audio, notes [(onset s, dur s, pitch, layer, instr)] and the chord timeline of a preset."""
    from rtgen import Engine, EngineSpec
    from rtgen.gen.band import arrangement_of
    from rtgen.gen.presets import apply_to_engine, load_preset
    from rtgen.rt.layout import H_CHORD, H_CHORD_LEN, O_NOTE_OFF, O_NOTE_ON

    p = load_preset(name)
    eng = Engine(EngineSpec(bpm=p.tempo, seed=seed))
    apply_to_engine(p, eng)
    sr = eng.spec.sample_rate
    n = int(seconds * sr)
    out = np.zeros((n, 2), np.float32)
    block = 512
    chords: list[tuple[float, tuple[int, ...]]] = []
    pos = 0
    while pos < n:
        m = min(block, n - pos)
        eng.render(out[pos:pos + m])
        h = eng.state.harm
        ch = tuple(sorted({int(h[H_CHORD + i]) % 12 for i in range(int(h[H_CHORD_LEN]))}))
        if not chords or chords[-1][1] != ch:
            chords.append((pos / sr, ch))
        pos += m
    ev = eng.events()
    ons: dict[int, Any] = {}
    notes = []
    for r in ev:
        if r[0] == O_NOTE_ON:
            ons[int(r[7])] = r
        elif r[0] == O_NOTE_OFF and int(r[7]) in ons:
            o = ons.pop(int(r[7]))
            notes.append((o[1] / sr, (r[1] - o[1]) / sr, int(o[2]), int(o[4]), int(o[6])))
    for o in ons.values():
        notes.append((o[1] / sr, (n - o[1]) / sr, int(o[2]), int(o[4]), int(o[6])))
    notes.sort()
    arr = arrangement_of(eng)
    return {"preset": p, "audio": out, "sr": sr, "notes": notes, "chords": chords, "arrangement": arr,
            "bpm": p.tempo}


def lead_layer(r: dict[str, Any]) -> int:
    from rtgen.rt.layout import LAYER_NAMES

    arr = r["arrangement"]
    if arr is not None and arr.spec.lead_from:
        return LAYER_NAMES.index(arr.spec.lead_from)
    if arr is not None and "lead" in arr.spec.roles:
        return arr.spec.roles["lead"].layer
    # the generator-family presets: the layer whose notes are most often alone (a melody) and high
    by: dict[int, list[Any]] = {}
    for nt in r["notes"]:
        by.setdefault(nt[3], []).append(nt)
    best, score = 0, -1.0
    for lay, ns in by.items():
        if len(ns) < 16:
            continue
        onsets = Counter(round(x[0], 3) for x in ns)
        mono = sum(1 for c in onsets.values() if c == 1) / len(onsets)
        s = mono * 100 + float(np.mean([x[2] for x in ns])) * 0.1
        if s > score:
            best, score = lay, s
    return best


def drum_mask(r: dict[str, Any]) -> set[int]:
    """Layers that hold the drum kit (left out of pitch statistics)."""
    arr = r["arrangement"]
    if arr is not None and "drums" in arr.spec.roles:
        return {arr.spec.roles["drums"].layer}
    return set()


def monophonic(notes: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """The top note of each onset (a lead line may double itself)."""
    out: dict[float, tuple[float, float, int]] = {}
    for t, d, p in notes:
        k = round(t, 3)
        if k not in out or p > out[k][2]:
            out[k] = (t, d, p)
    return [out[k] for k in sorted(out)]


# ------------------------------------------------------------------------- symbolic statistics
def line_stats(line: list[tuple[float, float, int]], beat_s: float, rng: random.Random) -> dict[str, float]:
    """Statistics of a monophonic line [(onset, dur, pitch)]; times in seconds, ``beat_s`` a beat."""
    pitches = [p for _, _, p in line]
    iv = [b - a for a, b in zip(pitches, pitches[1:], strict=False)]
    if len(iv) < 8:
        return {}
    steps = sum(1 for x in iv if abs(x) <= 2) / len(iv)
    leaps5 = sum(1 for x in iv if abs(x) >= 7) / len(iv)
    iois = [round((b[0] - a[0]) / beat_s * 12) for a, b in zip(line, line[1:], strict=False)]
    c = Counter(iois)
    tot = sum(c.values())
    ent = -sum(v / tot * math.log2(v / tot) for v in c.values())
    on_beat = sum(1 for t, _, _ in line if abs(t / beat_s - round(t / beat_s)) < 0.02) / len(line)
    rec = motif_recurrence(iv)
    real = len(zlib.compress(bytes((x + 128) % 256 for x in iv), 9))
    sh = []
    for _ in range(5):
        s = list(iv)
        rng.shuffle(s)
        sh.append(len(zlib.compress(bytes((x + 128) % 256 for x in s), 9)))
    return {"steps": steps, "leaps_fifth": leaps5, "ioi_entropy": ent, "on_beats": on_beat,
            "motif_recurrence": rec, "zlib_vs_shuffled": real / float(np.mean(sh))}


def motif_recurrence(iv: list[int], win: int = 32, k: int = 4) -> float:
    """Mean over 32-note windows of the share of 4-interval patterns that already occurred in it."""
    vals = []
    for s in range(0, max(1, len(iv) - win + 1), win // 2):
        w = iv[s:s + win]
        seen: set[tuple[int, ...]] = set()
        rep = tot = 0
        for i in range(len(w) - k + 1):
            g = tuple(w[i:i + k])
            tot += 1
            if g in seen:
                rep += 1
            seen.add(g)
        if tot:
            vals.append(rep / tot)
    return float(np.mean(vals)) if vals else 0.0


def clash_frames(notes: list[tuple[float, float, int]], end: float, frame: float = 0.05) -> float:
    """Share of sounding 50 ms frames where two notes lie a minor second (or ninth) apart."""
    nf = int(end / frame) + 1
    sounding: list[list[int]] = [[] for _ in range(nf)]
    for t, d, p in notes:
        for f in range(int(t / frame), min(nf, int((t + max(d, frame)) / frame))):
            sounding[f].append(p)
    busy = clash = 0
    for ps in sounding:
        if len(ps) < 2:
            if ps:
                busy += 1
            continue
        busy += 1
        u = sorted(set(ps))
        if any((b - a) in (1, 13) for i, a in enumerate(u) for b in u[i + 1:]):
            clash += 1
    return clash / max(1, busy)


def chord_at(chords: list[tuple[float, tuple[int, ...]]], t: float) -> tuple[int, ...]:
    cur: tuple[int, ...] = ()
    for ct, ch in chords:
        if ct <= t + 1e-6:
            cur = ch
        else:
            break
    return cur


# ------------------------------------------------------------------------- corpora
def corpus_lines(which: str, limit: int) -> list[list[tuple[float, float, int]]]:
    """Monophonic lines (onset, dur, pitch) in beats (quarter notes) from music21's corpus."""
    from music21 import corpus

    lines = []
    if which == "bach":
        paths = [p for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml"))][:limit]
        for path in paths:
            s = corpus.parse(path)
            part = s.parts[0].flatten().notes
            lines.append([(float(n.offset), float(n.quarterLength), int(n.pitch.midi)) for n in part
                          if n.isNote])
        return lines
    name = "essenFolksong" if which == "essen" else "oneills1850"
    paths = [p for p in corpus.getPaths() if f"/{name}/" in str(p)][: max(1, limit // 4)]
    for path in paths:
        try:
            s = corpus.parse(path)
        except Exception:
            continue
        opus = s.scores if hasattr(s, "scores") else [s]
        for sc in opus:
            ns = sc.flatten().notes
            line = [(float(n.offset), float(n.quarterLength), int(n.pitch.midi)) for n in ns if n.isNote]
            if len(line) >= 16:
                lines.append(line)
            if len(lines) >= limit:
                return lines
    return lines


def bach_clashes(limit: int) -> float:
    from music21 import corpus

    vals = []
    for path in [p for p in corpus.getComposer("bach") if str(p).endswith((".mxl", ".xml"))][:limit]:
        s = corpus.parse(path)
        notes = [(float(n.offset) * 0.5, float(n.quarterLength) * 0.5, int(p.midi))
                 for n in s.flatten().notes for p in n.pitches]
        end = max(t + d for t, d, _ in notes)
        vals.append(clash_frames(notes, end))
    return float(np.mean(vals))


def pooled(lines: list[list[tuple[float, float, int]]], rng: random.Random) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for ln in lines:
        st = line_stats(ln, 1.0, rng)
        for k, v in st.items():
            acc.setdefault(k, []).append(v)
    return {k: float(np.mean(v)) for k, v in acc.items()}


# ------------------------------------------------------------------------- audio statistics
def audio_stats(x: np.ndarray, sr: int) -> dict[str, float]:
    import pyloudnorm as pyln
    from scipy.signal import resample_poly

    meter = pyln.Meter(sr)
    lufs = float(meter.integrated_loudness(x.astype(np.float64)))
    # LRA (EBU Tech 3342): short-term (3 s) loudness every 1 s, absolute gate -70, relative -20 LU
    st = []
    for s in range(0, max(1, len(x) - 3 * sr), sr):
        seg = x[s:s + 3 * sr].astype(np.float64)
        if len(seg) < 3 * sr:
            break
        st.append(meter.integrated_loudness(seg) if np.any(seg) else -200.0)
    st_arr = np.array([v for v in st if v > -70.0])
    lra = 0.0
    if len(st_arr) > 2:
        gate = 10 * np.log10(np.mean(10 ** (st_arr / 10))) - 20.0
        g = st_arr[st_arr > gate]
        lra = float(np.percentile(g, 95) - np.percentile(g, 10)) if len(g) > 2 else 0.0
    up = resample_poly(x.astype(np.float64), 4, 1, axis=0)
    tp = 20 * math.log10(max(1e-9, float(np.max(np.abs(up)))))
    mono = x.mean(axis=1).astype(np.float64)
    spec = np.abs(np.fft.rfft(mono[: min(len(mono), 1 << 22)])) ** 2
    f = np.fft.rfftfreq(min(len(mono), 1 << 22), 1.0 / sr)
    low = float(spec[f < 120].sum() / max(1e-30, spec.sum()))
    cen = float((spec * f).sum() / max(1e-30, spec.sum()))
    mid = (x[:, 0] + x[:, 1]) * 0.5
    side = (x[:, 0] - x[:, 1]) * 0.5
    width = float(np.sum(side.astype(np.float64) ** 2) / max(1e-30, np.sum(mid.astype(np.float64) ** 2)))
    return {"lufs": lufs, "lra": lra, "true_peak": tp, "bass_share": low, "centroid": cen, "width": width}


# ------------------------------------------------------------------------- per preset
def preset_figures(name: str, seconds: float, rng: random.Random) -> dict[str, float]:
    r = render_preset(name, seconds)
    beat_s = 60.0 / r["bpm"]
    drums = drum_mask(r)
    pitched = [(t, d, p) for t, d, p, lay, _ in r["notes"] if lay not in drums]
    lay = lead_layer(r)
    lead = monophonic([(t, d, p) for t, d, p, ly, _ in r["notes"] if ly == lay])
    out = dict(line_stats(lead, beat_s, rng))
    pre = r["preset"]
    scale = {(pre.key + s) % 12 for s in pre.scale}
    out["in_key"] = sum(1 for _, _, p in pitched if p % 12 in scale) / max(1, len(pitched))
    out["clash_frames"] = clash_frames(pitched, seconds)
    strong = [(t, p) for t, _, p in lead if abs((t / beat_s) % 2.0) < 0.02 or abs((t / beat_s) % 2.0 - 2.0) < 0.02]
    ok = sum(1 for t, p in strong if p % 12 in chord_at(r["chords"], t))
    out["chord_tones_strong"] = ok / max(1, len(strong))
    lo, hi = (min(p for _, _, p in lead), max(p for _, _, p in lead)) if lead else (60, 72)
    rnd = [(t, d, rng.randint(lo, hi)) for t, d, _ in lead]
    out["random_steps"] = line_stats(rnd, beat_s, rng).get("steps", 0.0) if len(rnd) > 9 else 0.0
    out["random_recurrence"] = line_stats(rnd, beat_s, rng).get("motif_recurrence", 0.0) if len(rnd) > 9 else 0.0
    out["lead_notes"] = len(lead)
    out.update(audio_stats(r["audio"], r["sr"]))
    # the first downbeat's notes are in the key
    first = [p for t, _, p in pitched if t < 0.01]
    out["first_in_key"] = sum(1 for p in first if p % 12 in scale) / max(1, len(first))
    return out


def pygen_lateness(seconds: float = 20.0, busy: bool = True) -> dict[str, float]:
    """The Python generator path against a clock: a thread renders the game preset in real time
    (512-frame blocks, paced by the wall clock, as an audio callback would), the runner's own
    thread keeps the arrangement two beats ahead, and a busy pure-Python thread competes for
    the interpreter. Late events (ready after their sample) are dropped and counted."""
    import threading

    from rtgen import Engine, EngineSpec
    from rtgen.gen.band import runner_of
    from rtgen.gen.presets import apply_to_engine, load_preset

    p = load_preset("game")
    eng = Engine(EngineSpec(bpm=p.tempo, seed=1))
    apply_to_engine(p, eng)
    run = runner_of(eng)
    assert run is not None
    eng.pre_render.clear()                  # the live way: only the runner's thread fills
    stop = threading.Event()

    def hog() -> None:
        x = 0
        while not stop.is_set():
            for i in range(10000):
                x += i * i
    th = threading.Thread(target=hog, daemon=True)
    if busy:
        th.start()
    run.start_live(poll_s=0.005)
    block = np.zeros((512, 2), np.float32)
    sr = eng.spec.sample_rate
    t0 = time.perf_counter()
    done = 0
    while done < seconds * sr:
        due = t0 + done / sr
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        eng.render(block)
        done += len(block)
    run.stop_live()
    stop.set()
    st = run.stats
    leads = np.array(st.leads_ms) if st.leads_ms else np.zeros(1)
    return {"late": float(st.late), "events": float(st.events), "windows": float(st.windows),
            "min_lead_ms": float(leads.min()), "median_lead_ms": float(np.median(leads)),
            "us_per_window": st.busy_s / max(1, st.windows) * 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--presets", default="")
    ap.add_argument("--corpus", type=int, default=24, help="pieces per corpus (0: skip the corpora)")
    ap.add_argument("--quick", action="store_true", help="30 s renders, 6 pieces per corpus (a smoke check)")
    a = ap.parse_args(argv)
    if a.quick:
        a.seconds, a.corpus = 30.0, 6
    from rtgen.gen.presets import list_presets

    rng = random.Random(7)
    t0 = time.perf_counter()
    if a.corpus > 0:
        for which in ("bach", "essen", "oneill"):
            try:
                st = pooled(corpus_lines(which, a.corpus), rng)
            except Exception as e:                     # a corpus music21 does not ship
                emit(f"music/corpus/{which}", 0, "pieces", reason=str(e)[:120])
                continue
            for k, v in st.items():
                emit(f"music/corpus/{which}/{k}", v, "fraction" if k != "ioi_entropy" else "bits")
        emit("music/corpus/bach/clash_frames", bach_clashes(max(4, a.corpus // 3)), "fraction")
    if not a.presets or "pygen" in a.presets.split(","):
        lt = pygen_lateness()
        emit("music/pygen/late_events", lt["late"], "events", "0", lt["late"] == 0, of=lt["events"])
        emit("music/pygen/min_lead_ms", lt["min_lead_ms"], "ms", "> 0", lt["min_lead_ms"] > 0)
        emit("music/pygen/median_lead_ms", lt["median_lead_ms"], "ms")
        emit("music/pygen/us_per_window", lt["us_per_window"], "us")
    names = [n for n in a.presets.split(",") if n != "pygen"] if a.presets else list_presets()
    for name in names:
        f = preset_figures(name, a.seconds, rng)
        for k, v in f.items():
            target, ok = "", None
            if k == "steps":
                target, ok = ">= 0.55", v >= 0.55
            elif k == "motif_recurrence":
                target, ok = "0.05..0.25", 0.05 <= v <= 0.25
            elif k == "clash_frames":
                target, ok = "<= 0.10", v <= 0.10
            elif k == "lra" and a.seconds >= 119:
                target, ok = ">= 3 LU", v >= 3.0
            elif k == "lufs":
                target, ok = "-16 +- 3 LUFS", abs(v - TARGET_LUFS) <= 3.0
            elif k == "true_peak":
                target, ok = "<= -1 dBTP", v <= -1.0
            elif k == "first_in_key":
                target, ok = "1.0", v >= 0.999
            unit = {"lufs": "LUFS", "lra": "LU", "true_peak": "dBTP", "centroid": "Hz", "ioi_entropy": "bits",
                    "lead_notes": "notes"}.get(k, "fraction")
            emit(f"music/{name}/{k}", v, unit, target, ok)
    emit("music/bench_seconds", time.perf_counter() - t0, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
