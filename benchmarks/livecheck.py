"""Live measurements shared by the benchmarks and the live tests: who was late, from outside.

JACK's engine checks at every cycle that each client finished the previous one, and its log
names the clients that did not (``JackEngine::XRun: client = NAME was not finished, state =
Triggered`` when its thread had not started yet, ``Running`` when it was still computing). That
attributes every late cycle to a client, so rtgen and the C reference client ``jack_metro``
can run on the same server at the same time and be judged in the same window:
:class:`LateCycles` counts those lines per client between ``start()`` and ``stop()``.

:func:`run_python_callback` is the control a bound must catch: a PortAudio stream whose
callback is Python (sounddevice), with a busy pure-Python thread in the same process, run in a
subprocess as JACK client ``pycallback``.

    python -m benchmarks.livecheck PERIOD SECONDS [--busy]     (the control itself)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from rtgen.backends.jackserver import JackServer

_LATE = re.compile(r"client = (\S+) was not finished, state = (\w+)")

#: JACK client names: rtgen's PortAudio client, the C reference, the Python-callback control
RTGEN, METRO, PYCALLBACK = "rtgen", "refmetro", "pycallback"


class LateCycles:
    """Late cycles per client, read from the JACK server's log over a window."""

    def __init__(self, server: JackServer) -> None:
        self.server = server
        self._a = 0
        self.counts: Counter[str] = Counter()
        self.running: Counter[str] = Counter()      # late while computing (the rest: not yet woken)
        self.seconds = 0.0
        self._t0 = 0.0

    def _size(self) -> int:
        return len(self.server.log())

    def start(self) -> LateCycles:
        self._a = self._size()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> Counter[str]:
        time.sleep(0.05)
        text = self.server.log()[self._a:]
        self.seconds = time.monotonic() - self._t0
        hits = _LATE.findall(text)
        self.counts = Counter(c for c, _ in hits)
        self.running = Counter(c for c, state in hits if state == "Running")
        return self.counts

    def per_minute(self, client: str) -> float:
        return self.counts.get(client, 0) * 60.0 / max(1e-9, self.seconds)

    def __enter__(self) -> LateCycles:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_python_callback(period: int, seconds: float, busy: bool = True, timeout: float = 120) -> dict[str, Any]:
    """Run the Python-callback control on the current JACK server (JACK_DEFAULT_SERVER); its stats."""
    cmd = [sys.executable, "-m", "benchmarks.livecheck", str(period), str(seconds)] + (["--busy"] if busy else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    if r.returncode != 0:
        raise RuntimeError(f"the Python-callback control failed: {r.stderr.strip()[-400:]}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def _control_main(argv: list[str]) -> int:
    import threading

    import numpy as np

    from rtgen.backends import live
    from rtgen.backends.jackserver import BusyThread

    period, seconds, busy = int(argv[0]), float(argv[1]), "--busy" in argv
    live.set_jack_client_name(PYCALLBACK)
    sd = live._sounddevice()
    dev = live.resolve_device(None)
    n = {"callbacks": 0, "underflows": 0}
    phase = np.zeros(1)
    inc = 2 * np.pi * 440.0 / 48000
    lock = threading.Lock()

    def callback(out: Any, frames: int, _t: Any, status: Any) -> None:
        n["callbacks"] += 1
        if status.output_underflow:
            n["underflows"] += 1
        ph = phase[0] + inc * np.arange(frames)
        out[:, 0] = 0.1 * np.sin(ph)
        out[:, 1] = out[:, 0]
        phase[0] = (ph[-1] + inc) % (2 * np.pi)

    with sd.OutputStream(samplerate=48000, blocksize=period, device=dev, channels=2, dtype="float32",
                         latency="low", callback=callback):
        if busy:
            with BusyThread():
                time.sleep(seconds)
        else:
            time.sleep(seconds)
    with lock:
        print(json.dumps(n), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_control_main(sys.argv[1:]))
