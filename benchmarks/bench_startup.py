"""Time to first sound: ``python -m benchmarks.bench_startup`` (one JSON line per figure).

What a performer waits for between pressing Enter and hearing something:

* ``startup/play_warm_s``, ``startup/jam_warm_s``: ``rtgen play`` / ``rtgen jam`` started as a
  process; a JACK client in this process (on a private dummy server) connects to rtgen's
  output port as soon as it appears and notes the first block with a sample above -60 dBFS.
  The figure is that moment minus the moment the process was launched (the median of a few
  starts). Target: <= 1.5 s warm.
* ``startup/play_neural_warm_s``: ``play --timbre neural`` (the ONNX model and its worker
  process start before the stream; the voices play the additive fallback until its frames come).
* ``startup/render_warm_s``: ``rtgen render out.wav --seconds 1``, launch to exit (the file is
  complete and its audio can be played).
* each figure also gives ``cpu_s``: the CPU seconds the process used until its port came up
  (render: in all), which depends far less on the machine's load than the wall time, and the
  load average at the time.
* ``..._cold_s``: the same with an empty numba cache (a fresh install before ``make``, or
  after the sources changed): everything compiles. Informational; ``make`` does this once.

Options: ``--quick`` (one warm start each, no cold), ``--no-cold``, ``--repeats N``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

from benchmarks.common import emit, skipped

THRESHOLD = 10 ** (-60 / 20)        # -60 dBFS
WARM_TARGET_S = 1.5


def _rtgen_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtgen.cli", *args]


class FirstSound:
    """A JACK client that connects to ``rtgen:out_0`` once it exists and notes when sound arrives."""

    def __init__(self, server: str) -> None:
        import jack

        self.client = jack.Client("startup-probe", servername=server, no_start_server=True)
        self.port = self.client.inports.register("in")
        self.t_sound: float | None = None
        self.t_port: float | None = None
        self.pid = 0
        self.cpu = float("nan")

        @self.client.set_process_callback
        def process(frames: int) -> None:
            if self.t_sound is None and self.t_port is not None:
                x = self.port.get_array()
                if float(np.max(np.abs(x))) > THRESHOLD:
                    self.t_sound = time.monotonic()

        self.client.activate()

    def watch(self, timeout: float) -> None:
        """Poll every 2 ms for rtgen's port; connect to it the moment it appears."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.t_sound is None:
            if self.t_port is None and self.pid:
                self.cpu = _cpu_s(self.pid)          # the CPU it took to get its port up
            if self.t_port is None:
                ports = [p.name for p in self.client.get_ports("rtgen:", is_output=True, is_audio=True)]
                if ports:
                    try:
                        self.client.connect(sorted(ports)[0], self.port)
                        self.t_port = time.monotonic()
                    except Exception:       # the port went away again (a failed start): keep looking
                        pass
            time.sleep(0.002)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (and its finished children), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


CPU: dict[str, float] = {}      # the CPU seconds of the last measured start, by verb


def time_to_sound(server: str, args: list[str], env: dict[str, str], timeout: float) -> float | None:
    probe = FirstSound(server)
    t0 = time.monotonic()
    proc = subprocess.Popen(_rtgen_cmd(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    probe.pid = proc.pid
    err: list[str] = []
    th = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else ""), daemon=True)
    th.start()
    try:
        probe.watch(timeout)
    finally:
        probe.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    th.join(timeout=5)
    if probe.t_sound is None:
        print(f"no sound from {' '.join(args)}: {''.join(err)[-400:]}", file=sys.stderr)
        return None
    CPU[" ".join(args)] = probe.cpu
    return probe.t_sound - t0


def time_render(env: dict[str, str], out: str) -> float | None:
    import resource

    t0 = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(_rtgen_cmd("render", out, "--seconds", "1"), env=env, capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        print(f"render failed: {r.stderr[-400:]}", file=sys.stderr)
        return None
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["render"] = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    repeats = 1 if a.quick else max(1, a.repeats)
    cold = not (a.quick or a.no_cold)
    from rtgen.backends.jackserver import JackServer, jackd_path

    have_jack = jackd_path() is not None
    try:
        import jack  # noqa: F401
    except Exception:
        have_jack = False
    tmp = tempfile.mkdtemp(prefix="rtgen-startup-")
    base_env = dict(os.environ)
    verbs: dict[str, list[str]] = {
        "play": ["play", "--seconds", "30", "--timbre", "additive"],
        "jam": ["jam", "--seconds", "30", "--timbre", "additive"],
        "play_neural": ["play", "--seconds", "30", "--timbre", "neural"],   # the model loads first
    }
    try:
        # make sure the warm figures are warm: compile (or load) once first
        subprocess.run(_rtgen_cmd("compile"), env=base_env, capture_output=True, timeout=1800)
        runs: list[tuple[str, dict[str, str]]] = [("warm", base_env)]
        if cold:
            runs.append(("cold", base_env))
        for kind, env0 in runs:
            for verb in ("render", "play", "jam", "play_neural"):
                if verb == "play_neural" and kind == "cold":
                    continue
                name = f"startup/{verb}_{kind}_s"
                vals: list[float] = []
                cpus: list[float] = []
                n = repeats if kind == "warm" else 1
                for i in range(n):
                    env = dict(env0)
                    if kind == "cold":
                        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"cold-{verb}-", dir=tmp)
                    if verb == "render":
                        v = time_render(env, os.path.join(tmp, f"r{i}.wav"))
                    else:
                        if not have_jack:
                            break
                        with JackServer(48000, 128) as srv:
                            env["JACK_DEFAULT_SERVER"] = srv.name
                            env["JACK_NO_START_SERVER"] = "1"
                            v = time_to_sound(srv.name, verbs[verb], env, timeout=900 if kind == "cold" else 60)
                    if v is not None:
                        vals.append(v)
                        cpus.append(CPU.get("render" if verb == "render" else " ".join(verbs[verb]),
                                            float("nan")))
                target = f"<= {WARM_TARGET_S}" if kind == "warm" else "< 300 (compiles once; make does it)"
                if not vals:
                    skipped(name, "s", target,
                            "jackd or the jack module is missing" if verb != "render" and not have_jack
                            else "no sound / the command failed")
                    continue
                med = statistics.median(vals)
                # CPU seconds the process used before its sound (render: in all): unlike the wall
                # time it hardly depends on what else the machine is doing
                extra: dict[str, Any] = {"runs": [round(v, 3) for v in vals],
                                         "cpu_s": round(statistics.median(cpus), 3),
                                         "load_avg": round(os.getloadavg()[0], 2)}
                ok = med <= WARM_TARGET_S if kind == "warm" else med < 300.0
                emit(name, med, "s", target, ok, **extra)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
