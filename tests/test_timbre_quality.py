"""Held-out quality through the engine: the neural timbre is closer to the real SoundFont recording
than the additive fallback, and the right instrument is clearly closer than a wrong one.

The notes are held out by SoundFont zone (no training note plays their samples) at velocities
never trained, rendered through the engine's kernel and voices (``Engine`` + offline render),
beside the two controls of ``benchmarks/bench_timbre.py``, in the same run. The asserts are on
the ratios of mean multi-scale spectral distances, with bounds about 1.5x the measured ones
(see the model card): a model of the wrong instrument, an untrained one or a fallback-quality
one fails them. Needs tinysoundfont and FluidR3_GM.sf2 (skipped with the reason otherwise).
"""

from __future__ import annotations

import pytest

pytest.importorskip("tinysoundfont", reason="tinysoundfont is not installed (pip install --no-deps "
                    "tinysoundfont): the check renders the reference SoundFont notes")

from rtgen.timbre.analysis import soundfont_path  # noqa: E402

try:
    soundfont_path()
except FileNotFoundError as e:  # pragma: no cover - depends on the machine
    pytest.skip(str(e), allow_module_level=True)

from benchmarks.bench_timbre import CONFUSABLE, instrument_quality  # noqa: E402
from rtgen.timbre import AdditiveTimbre  # noqa: E402
from rtgen.timbre.base import INSTRUMENTS  # noqa: E402
from rtgen.timbre.onnx import OnnxTimbre  # noqa: E402

# (instrument, bound on model/fallback, bound on right/wrong), about 1.5x the ratios the benchmark
# measured on six notes (flute 0.25 / 0.71, trumpet 0.49 / 0.67, steel guitar 0.46 / 0.76,
# strings 0.55 / 0.77). The strings' wrong instrument is the violin, the nearest sound of the
# band: the control that is hardest to beat. Instruments the model does not yet play better
# than the fitted fallback (piano 1.01, basses, violin: see the model card) are not asserted.
CASES = [("flute", 0.4, 0.9), ("trumpet", 0.75, 0.9), ("steel_guitar", 0.7, 0.95), ("strings", 0.8, 0.95)]


def test_model_beats_fallback_and_wrong_instrument_on_heldout_zones() -> None:
    names = [n for n, _ in INSTRUMENTS]
    res = instrument_quality([names.index(n) for n, _, _ in CASES], OnnxTimbre(), AdditiveTimbre(), max_notes=4)
    bad = []
    for name, q_max, w_max in CASES:
        r = res[names.index(name)]
        if not float(r["ratio"]) <= q_max:  # type: ignore[arg-type]
            bad.append(f"{name}: model/fallback {float(r['ratio']):.3f} > {q_max}")  # type: ignore[arg-type]
        if not float(r["ratio_wrong"]) <= w_max:  # type: ignore[arg-type]
            bad.append(f"{name}: right/wrong ({CONFUSABLE[name]}) {float(r['ratio_wrong']):.3f} > {w_max}")  # type: ignore[arg-type]
    assert not bad, "; ".join(bad)
