"""The effects send/return path of the live callback (kernel.fx_return), tested offline (additive voices:
the test drives the kernel block by block without the neural worker)."""

from __future__ import annotations

import numpy as np

from rtgen import Engine, EngineSpec
from rtgen.rt import kernel
from rtgen.rt.layout import FX_CAP, FXI_ENABLED, FXI_LATE, FXI_LATENCY, FXI_RET_HEAD, FXI_SEND_HEAD


def _live_like(eng: Engine, n: int, blocks: int, worker) -> np.ndarray:
    """Render like the live callback does (render, then fx_return), calling ``worker`` between blocks."""
    outs = []
    for _ in range(blocks):
        out = np.zeros((n, 2), np.float32)
        kernel.render(eng.state, out, n)
        kernel.fx_return(eng.state, out, n)
        outs.append(out)
        worker()
    return np.concatenate(outs)


def test_wet_path_has_constant_latency_and_a_late_worker_falls_back_to_dry() -> None:
    n, lat = 128, 256
    dry_eng = Engine(EngineSpec(seed=3), timbre="additive")
    dry_eng.note_on(60, 100)
    dry = dry_eng.render(frames=n * 40)

    eng = Engine(EngineSpec(seed=3), timbre="additive")
    eng.note_on(60, 100)
    fxi = eng.state.fxi
    fxi[FXI_ENABLED] = 1
    fxi[FXI_LATENCY] = lat
    state = {"late_from": 20, "calls": 0}

    def worker() -> None:      # an "effect" that halves the signal; it stops keeping up after 20 blocks
        state["calls"] += 1
        if state["calls"] >= state["late_from"]:
            return
        w = int(fxi[FXI_RET_HEAD])
        h = int(fxi[FXI_SEND_HEAD])
        for t in range(w, h):
            eng.state.fxr[t % FX_CAP] = 0.5 * eng.state.fxs[t % FX_CAP]
        fxi[FXI_RET_HEAD] = h

    out = _live_like(eng, n, 40, worker)
    assert np.all(out[:lat] == 0)                                # the latency, filled with silence
    k = 19 * n                                                    # blocks 2..19 are wet, shifted by lat
    assert np.array_equal(out[lat:k], 0.5 * dry[:k - lat])
    tail = out[22 * n:]                                           # the worker is late: dry, same latency
    assert np.array_equal(tail, dry[22 * n - lat: 40 * n - lat])
    assert fxi[FXI_LATE] >= 18


def test_per_layer_sends_carry_the_layer_post_fader_and_insert_removes_it_from_the_dry_mix() -> None:
    from rtgen.rt.layout import FXL_INSERT, FXL_SEND, LAYER_PLAYER

    n = 9600

    def run(send: float, insert: bool) -> tuple[np.ndarray, np.ndarray]:
        eng = Engine(EngineSpec(seed=2), timbre="additive")
        eng.note_on(64, 90)                      # the player layer, quiet enough that the limiter idles
        eng.state.fxi[FXI_ENABLED] = 1
        eng.state.fxl[LAYER_PLAYER, FXL_SEND + 1] = send
        eng.state.fxl[LAYER_PLAYER, FXL_INSERT] = 1.0 if insert else 0.0
        out = np.zeros((n, 2), np.float32)
        kernel.render(eng.state, out, n)       # the kernel alone: no return path
        return out, eng.state.fxa[1, :n].copy()

    dry, none = run(0.0, False)
    out, bus = run(0.5, False)
    assert np.abs(dry).max() > 0.05 and np.abs(dry).max() < 0.9
    assert np.array_equal(out, dry)            # a send never changes the dry mix
    assert not none.any()
    np.testing.assert_allclose(bus, 0.5 * dry, atol=1e-6)
    ins, bus2 = run(1.0, True)
    assert not ins.any()                       # inserted: heard only through its bus
    np.testing.assert_allclose(bus2, dry, atol=1e-6)
