"""Fit the additive fallback of the instruments added with the band from their recordings.

Reads the training notes of models/data/dataset.npz (held-out notes are never used) and
writes ``rtgen/timbre/additive_fit.py``: per instrument, the harmonic spectrum (dB, 64
harmonics) at reference pitches, averaged over the first 0.5 s of the notes near each
(amplitude-weighted); the envelope (linear attack to the peak, then either a sustained level
or a percussive decay, and the release time, all fitted on the amplitude of velocity-100
notes); the gain; the noise level and its band profile. The kit: one spectrum per key and
its nominal frequency, one envelope for the whole kit (the engine holds one envelope row per
instrument).

    .venv/bin/python models/fit_additive.py          # after models/build_dataset.py
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from rtgen.timbre.base import DRUM_PROGRAM, INSTRUMENTS, N_HARM, N_NOISE_BANDS  # noqa: E402

ORIGINAL = {"piano", "vibraphone", "nylon_guitar", "strings", "choir", "trumpet", "clarinet", "flute"}
REF_PITCHES = (24, 36, 48, 60, 72, 84, 96, 108)
LN1000 = float(np.log(1000.0))


def table_peak(h: np.ndarray) -> float:
    n = np.arange(512)
    k = np.arange(1, len(h) + 1)
    return float(np.max(np.abs(h @ np.sin(2 * np.pi * k[:, None] * n[None, :] / 512))))


def to_db(spec: np.ndarray) -> list[int]:
    s = spec / max(float(spec.max()), 1e-12)
    return [int(round(max(-90.0, 20 * np.log10(max(float(x), 1e-9))))) for x in s]


def envelope_row(notes: list[dict], hop_s: float) -> tuple[float, ...]:
    """(attack, decay, sustain, release, gain, bright, noise, noise_decay, bands(8), decay_time)."""
    held = [n for n in notes if abs(n["vel"] - 100) < 1 and n["dur"] > 1.0] or notes
    att, sus, t60s, rel, gains, nz_rel, bands = [], [], [], [], [], [], []
    for n in held:
        a = n["harm"].sum(1)
        n_hold = min(int(n["dur"] / hop_s), len(a))
        if n_hold < 4 or a[:n_hold].max() <= 1e-6:
            continue
        pk = int(np.argmax(a[:n_hold]))
        top = float(a[pk])
        first = int(np.argmax(a[:n_hold] >= 0.9 * top))
        att.append(max(0.002, (first + 1) * hop_s))
        late = float(a[n_hold - 1]) / top
        sus.append(late)
        if n_hold - 1 - pk > 4:
            span = (n_hold - 1 - pk) * hop_s
            t60s.append(span * LN1000 / max(np.log(1.0 / max(late, 1e-4)), 1e-3))
        tail = a[n_hold:] / max(float(a[n_hold - 1]), 1e-9)
        if len(tail) > 4:
            below = np.nonzero(tail < 0.01)[0]
            j = int(below[0]) if below.size else len(tail) - 1
            drop = max(np.log(1.0 / max(float(tail[j]), 1e-6)), 1e-3)
            rel.append((j + 1) * hop_s * LN1000 / drop)
        vg = (n["vel"] / 127.0) ** 1.6
        gains.append(table_peak(n["harm"][pk]) / vg)
        nz = n["noise"][:n_hold]
        nz_rel.append(float(np.sqrt((nz ** 2).sum(1)).mean()) / max(table_peak(n["harm"][pk]), 1e-9))
        bands.append(np.sqrt((nz ** 2).mean(0)))
    med = lambda xs, d: float(np.median(xs)) if xs else d  # noqa: E731
    s = med(sus, 1.0)
    percussive = s < 0.5
    b = np.mean(bands, axis=0) if bands else np.ones(N_NOISE_BANDS)
    b = b / max(float(b.max()), 1e-12)
    t60 = float(np.clip(med(t60s, 2.0), 0.1, 30.0))
    return (round(med(att, 0.01), 4), 0.01 if percussive else 0.3, 1.0 if percussive else round(min(s, 1.0), 3),
            round(float(np.clip(med(rel, 0.3), 0.02, 10.0)), 3), round(float(np.clip(med(gains, 0.3), 0.02, 2.0)), 4),
            60.0, round(float(np.clip(med(nz_rel, 0.02), 0.0, 1.0)), 4), 0.0,
            tuple(round(float(x), 3) for x in b), round(t60, 3) if percussive else 0.0)


def _wrap(vals: list[int], indent: str) -> str:
    """A tuple literal of ints over lines of at most ~110 characters."""
    out, line = [], indent + "("
    for v in vals:
        piece = f"{v}, "
        if len(line) + len(piece) > 112:
            out.append(line.rstrip())
            line = indent + " "
        line += piece
    out.append(line.rstrip().rstrip(",") + "),")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "data", "dataset.npz"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "rtgen", "timbre", "additive_fit.py"))
    args = ap.parse_args(argv)
    d = np.load(args.data)
    harm, noise, meta, starts = d["harm"], d["noise"], d["meta"], d["starts"]
    hop_s = int(d["hop"]) / int(d["sample_rate"])
    drum_hz = d["drum_hz"]
    by_instr: dict[int, list[dict]] = {}
    for k in range(len(meta)):
        i, p, v, dur, split, _ = meta[k]
        if split != 0:
            continue
        by_instr.setdefault(int(i), []).append(dict(
            pitch=int(p), vel=float(v), dur=float(dur), harm=harm[starts[k]:starts[k + 1]].astype(np.float64),
            noise=noise[starts[k]:starts[k + 1]].astype(np.float64)))
    spectra: dict[str, list[list[int]]] = {}
    params: dict[str, tuple] = {}
    drum_spectra: dict[int, list[int]] = {}
    n_early = int(0.5 / hop_s)
    for i, (name, prog) in enumerate(INSTRUMENTS):
        if name in ORIGINAL or i not in by_instr:
            continue
        notes = by_instr[i]
        params[name] = envelope_row(notes, hop_s)
        if prog == DRUM_PROGRAM:
            for key in sorted({n["pitch"] for n in notes}):
                hs = [n["harm"][:n_early] for n in notes if n["pitch"] == key]
                spec = np.concatenate(hs).sum(0)
                drum_spectra[key] = to_db(spec)
            continue
        rows = []
        for rp in REF_PITCHES:
            near = [n for n in notes if abs(n["pitch"] - rp) <= 6]
            if not near:
                near = sorted(notes, key=lambda n: abs(n["pitch"] - rp))[:8]
            spec = np.zeros(N_HARM)
            for n in near:
                h = n["harm"][:n_early]
                spec += (h / np.maximum(h.sum(1, keepdims=True), 1e-9) * h.sum(1, keepdims=True)).sum(0) \
                    / max(float(h.sum()), 1e-9)
            rows.append(to_db(spec))
        spectra[name] = rows
    with open(args.out, "w") as f:
        f.write('"""Additive fallback data fitted from FluidR3_GM.sf2 by models/fit_additive.py (generated; do not '
                'edit).\n\nSPECTRA[name][r]: harmonic amplitudes 1..64 in dB (re the strongest) at REF_PITCHES[r];\n'
                'PARAMS[name]: (attack, decay, sustain, release, gain, brightness, noise, noise decay, noise bands,\n'
                'percussive decay), as additive._PARAMS; DRUM_HZ[key]: the kit\'s nominal frequency per key (Hz,\n'
                '0 = no sound); DRUM_SPECTRA[key]: the key\'s harmonic amplitudes in dB.\n"""\n\n')
        f.write(f"REF_PITCHES = {REF_PITCHES!r}\n\n")
        f.write("SPECTRA: dict[str, tuple[tuple[int, ...], ...]] = {\n")
        for name, rows in spectra.items():
            f.write(f"    {name!r}: (\n")
            for r in rows:
                f.write(_wrap(r, "        "))
            f.write("    ),\n")
        f.write("}\n\nPARAMS: dict[str, tuple] = {\n")
        for name, row in params.items():
            head = ", ".join(repr(x) for x in row[:8])
            f.write(f"    {name!r}: (\n        {head},\n        {row[8]!r}, {row[9]!r}),\n")
        f.write("}\n\nDRUM_HZ: tuple[float, ...] = (\n")
        vals = [round(float(x), 2) for x in drum_hz]
        for k in range(0, 128, 8):
            f.write("    " + ", ".join(repr(v) for v in vals[k:k + 8]) + ",\n")
        f.write(")\n\nDRUM_SPECTRA: dict[int, tuple[int, ...]] = {\n")
        for key, r in drum_spectra.items():
            f.write(f"    {key}:\n" + _wrap(r, "        "))
        f.write("}\n")
    print(f"wrote {args.out}: {len(spectra)} instruments, {len(drum_spectra)} drum keys")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
