"""The live effects worker on the send/return rings (thread and process), driven like the callback
(additive voices: the kernel is called block by block without the neural timbre's worker)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.fx import _pyo
from rtgen.rt import kernel
from rtgen.rt.layout import FXI_ENABLED, FXI_LATE, FXI_LATENCY, FXI_RET_HEAD

if _pyo.load_pyo() is None:
    pytest.skip(f"pyo is not importable ({_pyo.why()}): pip install 'rtgen[fx]'", allow_module_level=True)

from rtgen.fx import FxWorker  # noqa: E402

D = 100          # the delay effect's shift, samples
N = 128          # host block


def _engine() -> Engine:
    eng = Engine(EngineSpec(seed=5, block_size=N), timbre="additive")
    eng.note_on(60, 100)
    eng.note_on(67, 90)
    return eng


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_worker_fills_the_return_ring_with_the_wet_signal_at_constant_latency(mode: str) -> None:
    dry = _engine().render(frames=N * 60)
    eng = _engine()
    cfg = {"block": 64, "master": [{"type": "delay", "time": D / 48000, "feedback": 0.0, "mix": 1.0}]}
    w = FxWorker(eng, cfg, host_block=N, worker=mode).start()
    try:
        fxi = eng.state.fxi
        assert fxi[FXI_ENABLED] == 1 and fxi[FXI_LATENCY] == w.latency == 2 * N + 64
        outs = []
        for _ in range(60):
            out = np.zeros((N, 2), np.float32)
            kernel.render(eng.state, out, N)
            kernel.fx_return(eng.state, out, N)
            outs.append(out)
            h = int(eng.state.st[0])
            deadline = time.monotonic() + 5.0       # a patient "callback": wait for the worker
            while int(fxi[FXI_RET_HEAD]) < h - h % 64 and time.monotonic() < deadline:
                time.sleep(0.0005)
        st = w.stats()
    finally:
        w.stop()
        w.release_shared_memory()
    got = np.concatenate(outs)
    lat = w.latency
    assert int(eng.state.fxi[FXI_LATE]) == -(-lat // N)      # only the blocks before the first sample
    assert st["late_blocks"] == 0
    assert st["rack_blocks"] >= 60 * N // 64 - 2
    assert np.all(got[:lat] == 0)
    # from the first block whose frames all lie after the start, the wet signal is the dry one
    # delayed by the effect (D) and the ring latency (the block before plays dry: counted late)
    k0 = max(-(-lat // N) * N, lat + D)
    np.testing.assert_allclose(got[k0:], dry[k0 - lat - D:len(got) - lat - D], atol=2e-5)


def test_process_worker_takes_live_parameter_changes() -> None:
    eng = _engine()
    cfg = {"master": [{"type": "delay", "name": "echo", "time": D / 48000, "feedback": 0.0, "mix": 1.0}]}
    w = FxWorker(eng, cfg, host_block=N, worker="process").start()
    try:
        w.set("echo", "mix", 0.0)              # fully dry from the next block on
        time.sleep(0.3)
        fxi = eng.state.fxi
        outs = []
        ref = Engine(EngineSpec(seed=5, block_size=N), timbre="additive")
        ref.note_on(60, 100)
        ref.note_on(67, 90)
        dry = ref.render(frames=N * 30)
        for _ in range(30):
            out = np.zeros((N, 2), np.float32)
            kernel.render(eng.state, out, N)
            kernel.fx_return(eng.state, out, N)
            outs.append(out)
            h = int(eng.state.st[0])
            deadline = time.monotonic() + 5.0
            while int(fxi[FXI_RET_HEAD]) < h and time.monotonic() < deadline:
                time.sleep(0.0005)
        got = np.concatenate(outs)
        lat = w.latency
        k0 = -(-lat // N) * N
        np.testing.assert_allclose(got[k0:], dry[k0 - lat:len(got) - lat], atol=2e-5)
        with pytest.raises(ValueError, match="mix"):
            w.set("echo", "mix", 2.0)
    finally:
        w.stop()
        w.release_shared_memory()
