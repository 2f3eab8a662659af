"""The neural timbre inside the engine: frames from the worker, fallback when late, never NaN."""

from __future__ import annotations

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.rt import kernel
from rtgen.rt.layout import NF_DEPTH, VF_NEURAL, VF_NOTE_ID, VF_STATE, VS_FREE


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def _scene(eng: Engine) -> None:
    eng.note_on(60, 100, instrument="flute")
    eng.note_on(67, 60, instrument="piano", time=5000)
    eng.note_off(60, time=40000)
    eng.note_off(67, time=40000)


@pytest.fixture(scope="module")
def neural_render() -> np.ndarray:
    eng = Engine(EngineSpec(seed=3), timbre="neural")
    assert eng.neural
    _scene(eng)
    out = eng.render(frames=48000 * 2)
    assert eng.stats()["late_frames"] == 0
    assert eng.active_voices() == 0, "a released neural voice must end"
    return out


def test_neural_voices_sound_at_a_sane_level_and_end(neural_render: np.ndarray) -> None:
    out = neural_render
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0
    assert 0.01 < _rms(out[4800:38000]) < 0.5
    assert np.abs(out[-4800:]).max() == 0.0


def test_neural_render_is_bit_identical(neural_render: np.ndarray) -> None:
    eng = Engine(EngineSpec(seed=3), timbre="neural")
    _scene(eng)
    out = np.zeros((48000 * 2, 2), np.float32)
    for a in range(0, out.shape[0], 500):         # another block size
        eng.render(out[a:a + 500])
    assert np.array_equal(out, neural_render)


def test_voices_switch_to_the_model_level_without_a_jump() -> None:
    eng = Engine(EngineSpec(seed=3), timbre="neural")
    eng.note_on(69, 100, instrument="clarinet")
    out = eng.render(frames=9600)
    v = int(np.flatnonzero(eng.state.vf[:, VF_STATE] != VS_FREE)[0])
    assert eng.state.vf[v, VF_NEURAL] == 1.0
    # the first frame comes a few hops after the note-on (the cached attack plays until then);
    # the change to the model's level is a ramp over one hop, never a step within a hop
    hop_rms = np.array([_rms(out[i:i + 256]) for i in range(0, 9600 - 256, 256)])
    period = 109                            # A4 at 48 kHz: windows of one cycle compare like with like
    win_peak = np.array([np.abs(out[i:i + period]).max() for i in range(256, 9600 - period, period)])
    assert np.all(win_peak[1:] / win_peak[:-1] < 2.0), "a step in level"
    assert np.all(win_peak[1:] / win_peak[:-1] > 0.5), "a step in level"
    steady = hop_rms[10:]                   # after ~50 ms, hop to hop within 30 %
    assert np.all(steady[1:] / steady[:-1] < 1.3) and np.all(steady[1:] / steady[:-1] > 0.7)


def test_a_stalled_worker_falls_back_counts_and_leaves_no_stuck_note() -> None:
    eng = Engine(EngineSpec(seed=1), timbre="neural")
    eng.note_on(60, 100, instrument="strings")
    out = np.zeros((256, 2), np.float32)
    for _ in range(20):                        # frames flow: the voice plays the model
        eng._worker.catch_up()
        kernel.render(eng.state, out, 256)
    v = int(np.flatnonzero(eng.state.vf[:, VF_STATE] != VS_FREE)[0])
    assert eng.state.vf[v, VF_NEURAL] == 1.0
    level = _rms(out)
    eng.note_off(60, time=eng.state.st[0] + 2000)
    quiet = []
    for _ in range(800):                       # the worker stalls: never called again (4.3 s)
        kernel.render(eng.state, out, 256)
        quiet.append(_rms(out))
    assert eng.stats()["late_frames"] >= 1
    assert eng.state.vf[v, VF_NEURAL] == 0.0 or eng.state.vf[v, VF_STATE] == VS_FREE
    assert quiet[0] > 0.3 * level                # the fallback keeps the level
    assert eng.active_voices() == 0              # and still releases the note
    assert np.all(np.isfinite(out))


def test_nan_from_the_model_never_reaches_the_output() -> None:
    eng = Engine(EngineSpec(seed=0), timbre="neural")
    eng.note_on(60, 100)
    out = np.zeros((256, 2), np.float32)
    for _ in range(8):
        eng._worker.catch_up()
        kernel.render(eng.state, out, 256)
    v = int(np.flatnonzero(eng.state.vf[:, VF_STATE] != VS_FREE)[0])
    h = int(eng.state.st[0]) // 256 + 1
    sl = h % NF_DEPTH
    eng.state.nf_tab[sl, v, :] = np.nan
    eng.state.nf_amp[sl, v] = np.nan
    eng.state.nf_id[sl, v] = int(eng.state.vf[v, VF_NOTE_ID])
    eng.state.nf_hop[sl, v] = h
    late0 = eng.stats()["late_frames"]
    for _ in range(8):
        kernel.render(eng.state, out, 256)
        assert np.all(np.isfinite(out))
    assert eng.stats()["late_frames"] > late0
    assert _rms(out) > 0.0
