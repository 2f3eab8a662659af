"""Live playback through a real JACK server (dummy driver): PortAudio's JACK host API plays the engine."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from rtgen import ConfigError, DeviceError, Engine, EngineSpec
from rtgen.backends.jackserver import BusyThread
from rtgen.backends.live import LiveStream

pytestmark = pytest.mark.jack


class Capture:
    """A JACK capture client in its own process, recording ``source`` for ``seconds``."""

    def __init__(self, server_name: str, seconds: float, source: str = "rtgen:out_0") -> None:
        import tempfile
        from pathlib import Path

        self.path = Path(tempfile.mkdtemp()) / "capture.npy"
        script = Path(__file__).with_name("jack_capture.py")
        self.proc = subprocess.Popen([sys.executable, str(script), server_name, source, str(seconds),
                                      str(self.path)], stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", "capture client failed to start"

    def close(self) -> np.ndarray:
        self.proc.wait(timeout=60)
        return np.load(self.path)


def _period_samples(x: np.ndarray) -> float:
    """Fundamental period by autocorrelation (parabolic peak interpolation)."""
    x = x - x.mean()
    ac = np.correlate(x, x, "full")[len(x) - 1:]
    lo = 40
    k = lo + int(np.argmax(ac[lo:400]))
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    return k + 0.5 * (a - c) / (a - 2 * b + c)


def test_plays_through_jack_as_client_rtgen_with_a_busy_python_thread(jack_server) -> None:
    eng = Engine(EngineSpec(block_size=128, seed=1))
    with LiveStream(eng) as stream, BusyThread() as busy:
        lsp = subprocess.run(["jack_lsp"], capture_output=True, text=True, env=dict(os.environ)).stdout
        cap = Capture(jack_server.name, 3.0)
        eng.note_on(69, 110)               # A4: 440 Hz
        audio = cap.close()
        stats = stream.stats()
    assert "rtgen:out_0" in lsp and "rtgen:out_1" in lsp
    assert busy.iterations > 1000          # the busy thread really ran
    expected = 3.0 * 48000 / 128
    assert stats.callbacks >= 0.9 * expected
    # What rtgen controls: its callback keeps its deadline whatever the busy thread does.
    # This VM's host takes a vCPU away now and then (a 30 s busy-wait probe on the idle
    # machine saw 39 stalls over 2 ms, up to 15.7 ms, and the guest charges them to the
    # thread's CPU time as well; a CI run saw one of 83 ms inside a callback), so single
    # callbacks may miss: the bounds are on the fraction that does, and on the mean. A
    # callback waiting on the GIL would miss 50-75 % of its deadlines. Underflows count
    # xruns of the whole JACK graph; they are measured next to a C client in bench_engine.
    assert stats.over_deadline <= max(3, stats.callbacks // 100)
    assert stats.over_deadline_cpu <= max(3, stats.callbacks // 100)
    assert stats.mean_block_us < 0.25 * stats.deadline_us
    assert stats.underflows <= 0.01 * stats.callbacks
    loud = audio[np.abs(audio) > 0]
    assert loud.size > 48000 and np.all(np.isfinite(audio)) and np.abs(audio).max() <= 1.0
    seg = audio[np.flatnonzero(np.abs(audio) > 0)[0] + 4800:][:9600].astype(np.float64)
    assert _period_samples(seg) == pytest.approx(48000 / 440.0, rel=0.01)


def test_sixty_four_frame_blocks_play(jack_factory) -> None:
    jack_factory(48000, 64)
    eng = Engine(EngineSpec(block_size=64, seed=1))
    with LiveStream(eng) as stream:
        eng.note_on(60, 100)
        time.sleep(1.5)
        stats = stream.stats()
    assert stats.callbacks >= 0.9 * 1.5 * 48000 / 64
    assert stats.over_deadline <= max(3, stats.callbacks // 100)
    assert stats.mean_block_us < 0.25 * stats.deadline_us


def test_commands_from_another_thread_reach_the_live_engine(jack_server) -> None:
    eng = Engine(EngineSpec(block_size=128, seed=1))
    with LiveStream(eng):
        def player() -> None:
            for i in range(50):
                eng.note_on(60 + i % 12, 90)
                time.sleep(0.01)
                eng.note_off(60 + i % 12)

        t = threading.Thread(target=player)
        t.start()
        t.join()
        time.sleep(1.0)
    st = eng.stats()
    assert st["notes"] == 50 and st["commands_dropped"] == 0
    assert eng.active_voices() == 0            # every note released and faded


def test_bad_device_and_rate_are_clear_errors(jack_server) -> None:
    with pytest.raises(DeviceError, match="no output device matches"):
        LiveStream(Engine(EngineSpec()), device="no-such-card").start()
    with pytest.raises(ConfigError, match="does not support 44100 Hz"):
        LiveStream(Engine(EngineSpec(sample_rate=44100))).start()
    with pytest.raises(ConfigError):
        LiveStream(Engine(EngineSpec()), block_size=9000)


def test_cli_play_on_a_private_jack_server_prints_a_summary() -> None:
    import shutil

    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    r = subprocess.run([sys.executable, "-m", "rtgen.cli", "play", "--jack-dummy", "--seconds", "2"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "callbacks" in r.stdout and "underflows" in r.stdout and "worst block" in r.stdout
    n = int(next(ln for ln in r.stdout.splitlines() if "callbacks" in ln).split()[-1])
    assert n > 500
