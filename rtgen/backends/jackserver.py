"""Start and stop a real JACK server (dummy driver) under a unique name.

Tests, benchmarks and ``rtgen play --jack-dummy`` use it to play through a real audio
server on machines without a sound card. The server is stopped by its PID, never by
name, and its log is kept so xruns can be counted per client (the server reports a
client that did not finish its cycle in time).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DeviceError


def jackd_path() -> str | None:
    return shutil.which("jackd")


class JackServer:
    """``jackd -n NAME -d dummy -r RATE -p PERIOD``; sets ``JACK_DEFAULT_SERVER`` while running."""

    def __init__(self, rate: int = 48000, period: int = 128, name: str | None = None) -> None:
        self.rate = int(rate)
        self.period = int(period)
        self.name = name or f"rtgen-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_path = Path(tempfile.gettempdir()) / f"{self.name}.log"
        self._old_env: dict[str, str | None] = {}

    def start(self, timeout: float = 10.0) -> JackServer:
        exe = jackd_path()
        if exe is None:
            raise DeviceError("jackd is not installed (Debian/Ubuntu: apt-get install jackd2)")
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
        self._log = open(self._log_path, "wb")
        self.proc = subprocess.Popen(
            [exe, "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        for k, v in (("JACK_DEFAULT_SERVER", self.name), ("JACK_NO_START_SERVER", "1"),
                     ("JACK_NO_AUDIO_RESERVATION", "1")):
            self._old_env[k] = os.environ.get(k)
            os.environ[k] = v
        deadline = time.monotonic() + timeout
        lsp = shutil.which("jack_lsp")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise DeviceError(f"jackd exited at start (code {self.proc.returncode}): {self.log()[-500:]}")
            if lsp:
                r = subprocess.run([lsp, "-s", self.name], capture_output=True, timeout=5,
                                   env=dict(os.environ))
                if r.returncode == 0 and b"system:playback" in r.stdout:
                    return self
            elif "engine" in self.log().lower():
                time.sleep(0.5)
                return self
            time.sleep(0.1)
        self.stop()
        raise DeviceError(f"jackd did not come up within {timeout} s")

    def log(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    def xruns(self, client: str | None = None) -> int:
        """Xruns the server logged (for one client name, or all)."""
        n = 0
        for line in self.log().splitlines():
            if "xrun" in line.lower() or "was not finished" in line:
                if client is None or re.search(rf"\b{re.escape(client)}\b", line):
                    n += 1
        return n

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        for k, v in self._old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._old_env = {}
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ReferenceClient:
    """A C JACK client (``jack_metro``) run beside rtgen, to compare xruns in the same run."""

    def __init__(self, server: JackServer, bpm: int = 120) -> None:
        self.server = server
        self.bpm = bpm
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = "refmetro"

    @staticmethod
    def available() -> bool:
        return shutil.which("jack_metro") is not None

    def start(self) -> ReferenceClient:
        exe = shutil.which("jack_metro")
        if exe is None:
            raise DeviceError("jack_metro is not installed (Debian: jackd2 example clients)")
        self.proc = subprocess.Popen([exe, "-n", self.name, "-b", str(self.bpm)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ), start_new_session=True)
        time.sleep(0.5)
        return self

    def xruns(self) -> int:
        return self.server.xruns(self.name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class BusyThread:
    """A pure-Python thread that spins (a game loop, a UI): the GIL is busy all the time."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.iterations = 0
        self._t = threading.Thread(target=self._run, name="rtgen-busy", daemon=True)

    def _run(self) -> None:
        x = 0
        while not self._stop.is_set():
            for _ in range(1000):
                x += 1
            self.iterations += 1

    def __enter__(self) -> BusyThread:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(timeout=5)


@contextmanager
def jack_dummy(rate: int = 48000, period: int = 128) -> Iterator[JackServer]:
    """A JACK dummy server for the duration of the block, with PortAudio re-scanned to see it."""
    from .live import initialize_portaudio, reinitialize, terminate_portaudio

    srv = JackServer(rate, period).start()
    try:
        reinitialize()
        yield srv
    finally:
        try:
            terminate_portaudio()   # drop PortAudio's JACK connection before the server goes away
        finally:
            srv.stop()
            initialize_portaudio()
