"""The neural timbre live: its worker runs in its own process, so a busy thread cannot starve it."""

from __future__ import annotations

import gc
import os
import time

import pytest

from rtgen import Engine, EngineSpec
from rtgen.backends.jackserver import BusyThread
from rtgen.backends.live import LiveStream
from rtgen.rt.layout import VF_NEURAL

pytestmark = pytest.mark.jack


def test_neural_voices_stay_neural_live_with_a_busy_thread(jack_server) -> None:
    eng = Engine(EngineSpec(block_size=128, seed=1), timbre="neural")
    assert eng.worker_mode == "process"
    neural_seen = 0
    with LiveStream(eng) as stream, BusyThread():
        shm_name = eng._shm.name
        assert os.path.exists(f"/dev/shm/{shm_name}")
        for _ in range(10):
            for n in range(8):
                eng.note_on(52 + n, 90, instrument=n)
            time.sleep(0.25)
            neural_seen += int((eng.state.vf[:, VF_NEURAL] == 1.0).sum())
            for n in range(8):
                eng.note_off(52 + n)
        time.sleep(0.5)
        st = stream.stats()
    report = eng.stop_worker()
    stats = eng.stats()
    assert st.callbacks > 0.9 * 3.0 * 48000 / 128
    assert neural_seen >= 60, "voices did not get the model's frames"
    # a voice-hop is late only while a new note waits for its first frames or the worker lags;
    # a worker thread under a busy thread loses most hops (tens of thousands here)
    voice_hops = 80 * (0.25 + 0.3) * 48000 / 256
    assert stats["late_frames"] < 0.25 * voice_hops, stats
    assert report == "" or report.startswith("frames")
    del stream
    eng = None
    gc.collect()
    assert not os.path.exists(f"/dev/shm/{shm_name}"), "the shared segment leaked"
