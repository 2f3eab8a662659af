"""Build the neural-timbre training set from FluidR3_GM.sf2 (MIT; Debian's fluid-soundfont-gm).

Every note is rendered in isolation with tinysoundfont at 48 kHz mono (note-on at sample 0,
note-off after its duration, then a release tail; drum hits are recorded for
``DRUM_SECONDS`` and never released, as the engine plays them one-shot) and analysed per hop
of 256 samples into harmonic amplitudes (64 harmonics of the measured f0), residual noise RMS
in 8 bands and the pitch deviation in cents (see ``rtgen.timbre.analysis``).

Held-out notes play samples no training note plays: the split is read from the SoundFont's
key zones (``rtgen.timbre.analysis.note_split``). The kit trains on every key (each key is
its own sound) and holds out velocities. Each drum key's nominal frequency (``drum_hz``) is
measured from its recording; the organ's harmonics are counted from a quarter of the key's
frequency (its 16' rank sounds two octaves down; ``NOTE_HZ_RATIO``).

    .venv/bin/python models/build_dataset.py            # writes models/data/dataset.npz

The output is rebuilt from scratch on every run (models/data/ is not versioned).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from rtgen.timbre.analysis import (  # noqa: E402
    DRUM_SECONDS,
    HELDOUT_DURATION,
    TAIL_SECONDS,
    TRAIN_DURATIONS,
    TRAIN_VELOCITIES,
    SoundFontRenderer,
    analyse_note,
    drum_key_hz,
    heldout_notes,
    note_split,
    soundfont_path,
)
from rtgen.timbre.base import DRUM_PROGRAM, HOP, INSTRUMENTS, NOTE_HZ_RATIO, SAMPLE_RATE, midi_to_hz  # noqa: E402

# Instruments whose recordings carry pitch movement worth learning (the others' deviation is 0).
TRACK_PITCH = {"strings", "choir", "trumpet", "clarinet", "flute", "violin", "cello", "trombone", "horns",
               "sax", "synth_lead", "synth_pad", "organ", "electric_guitar"}


def note_list(only: set[int] | None = None) -> list[tuple[int, int, int, float, float, int]]:
    """``(instrument, pitch, velocity, duration s, tail s, split)``; split 0 = train, 1 = held out.

    Training notes: every training key × velocity, two of the three durations in rotation."""
    notes = []
    for i, (_, prog) in enumerate(INSTRUMENTS):
        if only is not None and i not in only:
            continue
        train, _ = note_split(i)
        if prog == DRUM_PROGRAM:
            for p in train:
                for v in TRAIN_VELOCITIES:
                    notes.append((i, p, v, DRUM_SECONDS, 0.0, 0))
            for p, v in heldout_notes(i):
                notes.append((i, p, v, DRUM_SECONDS, 0.0, 1))
            continue
        n = 0
        for p in train:
            for v in TRAIN_VELOCITIES:
                for j in range(2):
                    notes.append((i, p, v, TRAIN_DURATIONS[(n + j) % 3], TAIL_SECONDS, 0))
                n += 1
        for p, v in heldout_notes(i):
            notes.append((i, p, v, HELDOUT_DURATION, TAIL_SECONDS, 1))
    return notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "data", "dataset.npz"))
    ap.add_argument("--only", default="", help="comma-separated instrument indices (default: all)")
    args = ap.parse_args(argv)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if os.path.exists(args.out):
        os.remove(args.out)
    t0 = time.time()
    rend = SoundFontRenderer(SAMPLE_RATE)
    only = {int(x) for x in args.only.split(",")} if args.only else None
    notes = note_list(only)
    drum_hz = np.zeros(128)
    drums = [i for i, (_, p) in enumerate(INSTRUMENTS) if p == DRUM_PROGRAM]
    if drums and (only is None or drums[0] in only):
        for k in note_split(drums[0])[0]:
            drum_hz[k] = drum_key_hz(rend.note(DRUM_PROGRAM, k, 100, DRUM_SECONDS, 0.0), SAMPLE_RATE)
    harm_l, noise_l, cents_l, meta, starts = [], [], [], [], [0]
    for n_i, (i, p, v, d, tail, split) in enumerate(notes):
        name, prog = INSTRUMENTS[i]
        x = rend.note(prog, p, v, d, tail)
        f0 = drum_hz[p] if prog == DRUM_PROGRAM else float(midi_to_hz(p)) * NOTE_HZ_RATIO.get(name, 1.0)
        h, nz, c = analyse_note(x, p, SAMPLE_RATE, HOP, f0_hz=f0, track_pitch=name in TRACK_PITCH)
        harm_l.append(h.astype(np.float16))
        noise_l.append(nz.astype(np.float16))
        cents_l.append(c)
        meta.append((i, p, v, d, split, tail))
        starts.append(starts[-1] + len(h))
        if (n_i + 1) % 200 == 0 or n_i + 1 == len(notes):
            print(f"[{time.time() - t0:6.1f}s] {n_i + 1}/{len(notes)} notes ({name}), {starts[-1]} frames",
                  flush=True)
    np.savez(
        args.out,
        harm=np.concatenate(harm_l), noise=np.concatenate(noise_l), cents=np.concatenate(cents_l),
        meta=np.asarray(meta, dtype=np.float64), starts=np.asarray(starts, dtype=np.int64),
        drum_hz=drum_hz, sample_rate=SAMPLE_RATE, hop=HOP,
        instruments=np.asarray([f"{n}:{p}" for n, p in INSTRUMENTS]),
        soundfont=os.path.basename(soundfont_path()),
    )
    n_train = sum(1 for m in meta if m[4] == 0)
    print(f"wrote {args.out}: {len(meta)} notes ({n_train} train, {len(meta) - n_train} held out), "
          f"{starts[-1]} frames, {time.time() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
