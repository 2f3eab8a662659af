"""Build the neural-timbre training set from the General MIDI SoundFont (TimGM6mb.sf2).

Every note is rendered in isolation with tinysoundfont at 48 kHz mono (note-on at sample 0,
note-off after its duration, then a release tail) and analysed per hop of 256 samples into
harmonic amplitudes (64 harmonics of the known f0) and residual noise RMS in 8 bands
(see ``rtgen.timbre.analysis``). Held-out notes (pitches and velocities never trained on)
are kept apart for evaluation.

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
    HELDOUT_DURATION,
    HELDOUT_PITCHES,
    HELDOUT_VELOCITIES,
    TAIL_SECONDS,
    TRAIN_DURATIONS,
    TRAIN_PITCHES,
    TRAIN_VELOCITIES,
    SoundFontRenderer,
    analyse_note,
    soundfont_path,
)
from rtgen.timbre.base import HOP, INSTRUMENTS, SAMPLE_RATE  # noqa: E402


def note_list() -> list[tuple[int, int, int, float, int]]:
    """``(instrument index, pitch, velocity, duration s, split)``; split 0 = train, 1 = held out."""
    notes = []
    for i in range(len(INSTRUMENTS)):
        for p in TRAIN_PITCHES:
            for v in TRAIN_VELOCITIES:
                for d in TRAIN_DURATIONS:
                    notes.append((i, p, v, d, 0))
        for p in HELDOUT_PITCHES:
            for v in HELDOUT_VELOCITIES:
                notes.append((i, p, v, HELDOUT_DURATION, 1))
    return notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "data", "dataset.npz"))
    args = ap.parse_args(argv)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if os.path.exists(args.out):
        os.remove(args.out)
    t0 = time.time()
    rend = SoundFontRenderer(SAMPLE_RATE)
    notes = note_list()
    harm_l, noise_l, meta, starts = [], [], [], [0]
    for n_i, (i, p, v, d, split) in enumerate(notes):
        x = rend.note(INSTRUMENTS[i][1], p, v, d, TAIL_SECONDS)
        h, nz = analyse_note(x, p, SAMPLE_RATE, HOP)
        harm_l.append(h)
        noise_l.append(nz)
        meta.append((i, p, v, d, split))
        starts.append(starts[-1] + len(h))
        if (n_i + 1) % 100 == 0 or n_i + 1 == len(notes):
            print(f"[{time.time() - t0:6.1f}s] {n_i + 1}/{len(notes)} notes "
                  f"({INSTRUMENTS[i][0]}), {starts[-1]} frames", flush=True)
    np.savez_compressed(
        args.out,
        harm=np.concatenate(harm_l), noise=np.concatenate(noise_l),
        meta=np.asarray(meta, dtype=np.float64), starts=np.asarray(starts, dtype=np.int64),
        sample_rate=SAMPLE_RATE, hop=HOP, tail=TAIL_SECONDS,
        instruments=np.asarray([f"{n}:{p}" for n, p in INSTRUMENTS]),
        soundfont=os.path.basename(soundfont_path()),
    )
    n_train = sum(1 for m in meta if m[4] == 0)
    print(f"wrote {args.out}: {len(meta)} notes ({n_train} train, {len(meta) - n_train} held out), "
          f"{starts[-1]} frames, {time.time() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
