"""Held-out quality: the neural timbre is closer to the real SoundFont recording than the fallback.

Needs tinysoundfont to render the reference notes (install it with ``pip install --no-deps
tinysoundfont``: its pyaudio dependency does not build and is not needed to render).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tinysoundfont", reason="tinysoundfont is not installed (pip install --no-deps "
                    "tinysoundfont): the held-out quality check renders the reference SoundFont notes")
pytest.importorskip("pretty_midi", reason="pretty_midi (which ships TimGM6mb.sf2) is not installed")

from rtgen.timbre import AdditiveTimbre  # noqa: E402
from rtgen.timbre.analysis import (  # noqa: E402
    HELDOUT_DURATION,
    TAIL_SECONDS,
    SoundFontRenderer,
    multiscale_spectral_distance,
)
from rtgen.timbre.base import INSTRUMENTS  # noqa: E402
from rtgen.timbre.midifile import render_notes  # noqa: E402
from rtgen.timbre.onnx import OnnxTimbre  # noqa: E402


def test_model_beats_fallback_on_heldout_notes() -> None:
    ref = SoundFontRenderer(48000)
    neural, additive = OnnxTimbre(), AdditiveTimbre()
    cases = [("flute", 62, 85), ("strings", 74, 55), ("piano", 50, 115), ("trumpet", 86, 85),
             ("clarinet", 62, 115), ("nylon_guitar", 74, 55)]
    names = [n for n, _ in INSTRUMENTS]
    seconds = HELDOUT_DURATION + TAIL_SECONDS
    wins = []
    for name, pitch, vel in cases:
        i = names.index(name)
        x = ref.note(INSTRUMENTS[i][1], pitch, vel, HELDOUT_DURATION, TAIL_SECONDS)
        y_n = render_notes(neural, [(0.0, HELDOUT_DURATION, pitch, vel, i)], seconds=seconds)
        y_a = render_notes(additive, [(0.0, HELDOUT_DURATION, pitch, vel, i)], seconds=seconds)
        # the fallback gets its best loudness (RMS matched to the recording); the model gets none
        e_x = np.mean(x.astype(np.float64) ** 2)
        y_a = y_a * np.sqrt(e_x / max(np.mean(y_a.astype(np.float64) ** 2), 1e-20))
        d_n = multiscale_spectral_distance(x, y_n)
        d_a = multiscale_spectral_distance(x, y_a)
        wins.append(d_n < d_a)
    assert sum(wins) >= len(cases) // 2 + 1, f"model closer than fallback on only {sum(wins)}/{len(cases)}"
