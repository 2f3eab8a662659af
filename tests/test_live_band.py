"""An arrangement plays live: its runner thread keeps ahead of a real JACK stream (dummy driver)."""

from __future__ import annotations

import time

import pytest

from rtgen import Engine, EngineSpec
from rtgen.backends.jackserver import BusyThread
from rtgen.backends.live import LiveStream
from rtgen.gen.band import arrangement_of, runner_of, start_live
from rtgen.gen.presets import apply_to_engine, load_preset
from rtgen.rt.layout import O_NOTE_ON

pytestmark = pytest.mark.jack


def test_arrangement_plays_live_with_a_busy_python_thread(jack_server) -> None:
    p = load_preset("groove")
    eng = Engine(EngineSpec(block_size=128, seed=1, bpm=p.tempo))
    apply_to_engine(p, eng)
    arr, run = arrangement_of(eng), runner_of(eng)
    assert arr is not None and run is not None
    with LiveStream(eng), BusyThread() as busy:
        start_live(eng)
        time.sleep(4.0)
        run.stop_live()
        rows = eng.events()
    assert busy.iterations > 1000
    ons = rows[rows[:, 0] == O_NOTE_ON]
    layers = {int(x) for x in ons[:, 4]}
    assert {arr.spec.roles["bass"].layer, arr.spec.roles["harmony"].layer} <= layers
    assert run.stats.events > 20
    assert run.stats.late == 0, run.stats                # computed two beats ahead, never late
    assert run.stats.worst_lead_ms > 50.0
