"""Start and stop a real JACK server (dummy driver) under a unique name.

Tests, benchmarks and ``rtgen play --jack-dummy`` use it to play through a real audio
server on machines without a sound card. The server is stopped by its PID, never by
name. Xruns are counted by :class:`XrunMonitor`, a client in its own process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DeviceError


def jackd_path() -> str | None:
    return shutil.which("jackd")


def _running_server_names() -> set[str]:
    """Names (``-n``) of the JACK servers running now."""
    names = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0]).decode(errors="replace") in ("jackd", "jackdbus"):
                for i, a in enumerate(argv[:-1]):
                    if a in (b"-n", b"--name"):
                        names.add(argv[i + 1].decode(errors="replace"))
    return names


def _jackd_running() -> bool:
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() in ("jackd", "jackdbus"):
                        return True
            except OSError:
                continue
    return False


def _registry_mapped() -> bool:
    """True when some process (this one included) has JACK's server registry mapped: libjack
    keeps it for the life of the process, and deleting it under it breaks its next client."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/maps") as f:
                    if "jack-shm-registry" in f.read():
                        return True
            except OSError:
                continue
    return False


def cleanup_stale_shm(shm_dir: str = "/dev/shm") -> int:
    """Remove JACK's shared-memory files when nothing uses them; returns how many.

    A server that is killed (not stopped) leaves its entry in JACK's server registry, which
    has a fixed number of slots and frees a dead entry only for a server of the same name:
    after a few, every new server fails with "Too many servers already active". With no
    server running and no process holding the registry, every JACK file there is stale.
    (JackServer also draws its names from a small pool, so its own dead entries are reused.)
    """
    if not os.path.isdir(shm_dir) or _jackd_running() or _registry_mapped():
        return 0
    n = 0
    for name in os.listdir(shm_dir):
        if name.startswith(("jack-", "jack_")):
            try:
                os.unlink(os.path.join(shm_dir, name))
                n += 1
            except OSError:
                pass
    return n


class JackServer:
    """``jackd -n NAME -d dummy -r RATE -p PERIOD``; sets ``JACK_DEFAULT_SERVER`` while running."""

    #: default server names: JACK frees a dead server's registry slot only for a new server of
    #: the same name, so rtgen reuses a few names instead of leaking a slot per killed server
    NAME_POOL = tuple(f"rtgen-jack-{i}" for i in range(6))

    def __init__(self, rate: int = 48000, period: int = 128, name: str | None = None) -> None:
        self.rate = int(rate)
        self.period = int(period)
        self._pooled = name is None
        self.name = name or self.NAME_POOL[0]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_path = Path(tempfile.gettempdir()) / f"{self.name}.log"
        self._old_env: dict[str, str | None] = {}

    def start(self, timeout: float = 10.0) -> JackServer:
        if not self._pooled:
            return self._start(timeout)
        busy = _running_server_names()
        last: Exception | None = None
        for name in self.NAME_POOL:
            if name in busy:
                continue
            self.name = name
            try:
                return self._start(timeout)
            except DeviceError as e:      # e.g. a server of another user holds the name
                last = e
        raise DeviceError(f"no free JACK server name in {self.NAME_POOL[0]}..: {last}")

    def _start(self, timeout: float) -> JackServer:
        exe = jackd_path()
        if exe is None:
            raise DeviceError("jackd is not installed (Debian/Ubuntu: apt-get install jackd2)")
        cleanup_stale_shm()
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
        if self.proc is not None:
            cleanup_stale_shm()          # a killed server leaves its registry entry behind
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


class XrunMonitor:
    """Counts the server's xruns from a separate process (:mod:`rtgen.backends.xrunmon`).

    Xruns are events of the whole JACK graph: every client of the server sees the same ones.
    """

    def __init__(self, server: str, seconds: float) -> None:
        import sys

        self.p = subprocess.Popen([sys.executable, "-m", "rtgen.backends.xrunmon", server, str(seconds + 30)],
                                  stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        assert self.p.stdout is not None
        self.p.stdout.readline()             # "ready"

    def stop(self) -> int:
        """Stop counting; the number of xruns so far (-1 if the monitor failed)."""
        self.p.terminate()
        out, _ = self.p.communicate(timeout=30)
        for line in out.splitlines():
            if line.startswith("xruns"):
                return int(line.split()[1])
        return -1


class ReferenceClient:
    """A C JACK client (``jack_metro``) to compare rtgen with, on the same server in the same run.

    ``with ReferenceClient(server) as ref: time.sleep(s)`` then ``ref.xruns``: the server's
    xruns while only the reference ran.
    """

    def __init__(self, server: JackServer, bpm: int = 120) -> None:
        self.server = server
        self.bpm = bpm
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = "refmetro"
        self.xruns = -1
        self._mon: XrunMonitor | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("jack_metro") is not None

    def start(self, count_xruns: bool = True) -> ReferenceClient:
        exe = shutil.which("jack_metro")
        if exe is None:
            raise DeviceError("jack_metro is not installed (Debian: jackd2 example clients)")
        if count_xruns:
            self._mon = XrunMonitor(self.server.name, 24 * 3600)
        self.proc = subprocess.Popen([exe, "-n", self.name, "-b", str(self.bpm)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ), start_new_session=True)
        time.sleep(0.5)
        return self

    def stop(self) -> int:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._mon is not None:
            self.xruns = self._mon.stop()
            self._mon = None
        return self.xruns

    def __enter__(self) -> ReferenceClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reference_xruns(server: JackServer, seconds: float) -> int:
    """The server's xruns in ``seconds`` with only the C reference client running (-1: not installed)."""
    if not ReferenceClient.available():
        return -1
    with ReferenceClient(server) as ref:
        time.sleep(seconds)
    return ref.xruns


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
