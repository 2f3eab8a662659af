"""Onset and click measurements of a timed note list, through the engine and from the SoundFont.

Used by the reuse test (``tests/test_neural_onsets.py``) and the onset benchmark
(``benchmarks/bench_onsets.py``): the same notes are rendered through :class:`rtgen.Engine`
(the kernel and voices that ``render``, ``play`` and ``jam`` use) and with tinysoundfont from
the SoundFont the shipped model learnt from, then compared:

* ``onset_db``: the peak of the first ``ONSET_S`` seconds after each note-on, in dB over the
  instrument's body level (the peak from 80 to 280 ms after an isolated note-on);
* ``jump``: the largest sample-to-sample step over the whole take, over the same body level.

A note starting with a burst (the reused-voice bug of issue 12) reads tens of dB above the
recording's onset; a click reads as a jump many times the recording's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..rt.layout import S_SAMPLE

ONSET_S = 0.008
BODY_S = (0.08, 0.28)
SF2_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")
DRUM_KEY = 38           # the kit's acoustic snare: the drum instrument's test note


@dataclass(frozen=True)
class Take:
    """A timed note list: ``(onset s, note, velocity, duration s)`` rows, and where the clean
    (isolated) note whose body sets the level starts."""

    notes: tuple[tuple[float, int, int, float], ...]
    seconds: float
    ref_onset: float


def reuse_take(note: int = 60, vel: int = 90) -> Take:
    """One note alone (its voice's first use or a reuse), the same note again once every voice is
    free (a reused voice), four fast repeats, three overlapping notes, then a repeat of the note
    while the overlapping ones still sound."""
    rows = [(0.05, note, vel, 0.4), (3.0, note, vel, 0.4)]
    rows += [(4.0 + 0.09 * k, note, vel, 0.06) for k in range(4)]
    rows += [(5.0, note, vel, 0.35), (5.03, note + 4, vel, 0.35), (5.06, note + 7, vel, 0.35)]
    rows += [(5.2, note, vel, 0.3)]
    return Take(tuple(rows), 6.5, 3.0)


def reference_soundfont(timbre: Any | None = None) -> str:
    """The SoundFont file the model was trained on: named in its ``training_data`` metadata
    (looked up beside the training code's default and in the system SoundFont folders)."""
    from .analysis import soundfont_path

    default = soundfont_path()
    meta = getattr(timbre, "metadata", {}) or {}
    try:
        src = str(json.loads(meta.get("training_data", "{}")).get("source", ""))
    except (ValueError, AttributeError):
        src = ""
    name = src.split()[0] if src else ""
    if name and name != os.path.basename(default):
        for d in (os.path.dirname(default),) + SF2_DIRS:
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return p
    return default


def soundfont_take(take: Take, program: int, sf2: str, sr: int = 48000, drums: bool = False) -> np.ndarray:
    """The take rendered by tinysoundfont (mono float64): GM ``program``, or the kit (bank 128)."""
    import tinysoundfont

    syn = tinysoundfont.Synth(samplerate=sr)
    sfid = syn.sfload(sf2)
    if drums:
        syn.program_select(9, sfid, 128, 0, True)
        ch = 9
    else:
        syn.program_select(0, sfid, 0, int(program))
        ch = 0
    ev: list[tuple[int, int, int, int]] = []      # (sample, order, note, vel): offs before ons
    for t, n, v, d in take.notes:
        ev.append((int(round(t * sr)), 1, n, v))
        ev.append((int(round((t + d) * sr)), 0, n, 0))
    ev.sort()
    n_total = int(round(take.seconds * sr))
    out = np.zeros(n_total, np.float64)
    pos = 0
    for s, _, n, v in ev + [(n_total, 0, -1, 0)]:
        s = min(s, n_total)
        if s > pos:
            buf = np.frombuffer(syn.generate(s - pos), dtype=np.float32).reshape(-1, 2)
            out[pos:s] = buf.mean(axis=1)
            pos = s
        if n < 0:
            break
        if v > 0:
            syn.noteon(ch, n, v)
        else:
            syn.noteoff(ch, n)
    return out


def engine_take(engine: Any, take: Take, instrument: int | str, layer: str = "player") -> np.ndarray:
    """The take through ``engine`` (mono: the mid of the stereo output, float64), from its current
    sample on (the note times are relative to it); the layer is centred."""
    sr = engine.sample_rate
    engine.set_layer(layer, pan=0.0, gain=0.8)
    t0 = int(engine.state.st[S_SAMPLE])
    for t, n, v, d in take.notes:
        a = float(t0 + int(round(t * sr)))
        b = float(t0 + int(round((t + d) * sr)))
        engine.note_on(n, v, layer=layer, instrument=instrument, time=a)
        engine.note_off(n, layer=layer, time=b)
    out = engine.render(frames=int(round(take.seconds * sr)))
    return out.astype(np.float64).mean(axis=1)


def measure(x: np.ndarray, take: Take, sr: int = 48000) -> dict[str, Any]:
    """``onset_db`` per note (list), ``jump`` (largest step over the body level) and ``level``."""
    r0 = int(round(take.ref_onset * sr))
    level = float(np.abs(x[r0 + int(BODY_S[0] * sr):r0 + int(BODY_S[1] * sr)]).max())
    level = max(level, 1e-9)
    on = []
    for t, *_ in take.notes:
        a = int(round(t * sr))
        on.append(20.0 * np.log10(max(float(np.abs(x[a:a + int(ONSET_S * sr)]).max()), 1e-9) / level))
    return {"onset_db": on, "jump": float(np.abs(np.diff(x)).max()) / level, "level": level}
