"""SIGTERM and SIGHUP end ``rtgen play`` and ``rtgen jam`` like Ctrl-C: the summary is printed,
every child process (the private JACK server, the timbre and effects workers) is stopped, and
the exit code is 0. Real processes, a real JACK dummy server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.jack


def _children(pid: int) -> dict[int, str]:
    """{pid: command line} of the live children of ``pid``."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(d)] = cmd
    return out


def _alive(pid: int, cmd: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            now = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return now == cmd and state != "Z"


def _run_and_signal(args: list[str], ready: str, sig: int, want_children: tuple[str, ...]) -> tuple[int, str, str]:
    p = subprocess.Popen([sys.executable, "-m", "rtgen.cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    err: list[str] = []
    seen = threading.Event()

    def read_err() -> None:
        assert p.stderr is not None
        for line in p.stderr:
            err.append(line)
            if ready in line:
                seen.set()

    th = threading.Thread(target=read_err, daemon=True)
    th.start()
    try:
        assert seen.wait(240), "".join(err)
        time.sleep(1.0)
        kids = _children(p.pid)
        for want in want_children:
            assert any(want in c for c in kids.values()), (want, kids)
        p.send_signal(sig)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    th.join(timeout=5)
    time.sleep(0.2)
    left = {k: c for k, c in kids.items() if _alive(k, c)}
    assert not left, f"children left running: {left}"
    return p.returncode, out, "".join(err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_play_stops_cleanly_on_sigterm_and_sighup(sig: int) -> None:
    rc, out, err = _run_and_signal(["play", "--jack-dummy", "--seconds", "120", "--timbre", "neural"],
                                   "playing on", sig, ("jackd", "rtgen.timbre.workerproc"))
    assert rc == 0, err
    assert "session summary" in out and "verdict" in out and signal.Signals(sig).name in out
    assert "Traceback" not in err


def test_play_with_effects_stops_its_effects_worker_on_sigterm() -> None:
    pytest.importorskip("pyo", reason="pyo is an optional extra (pip install 'rtgen[fx]')")
    rc, out, err = _run_and_signal(["play", "--jack-dummy", "--seconds", "120", "--fx", "hall"],
                                   "playing on", signal.SIGTERM, ("jackd", "rtgen.fx.workerproc"))
    assert rc == 0, err
    assert "effects" in out and "SIGTERM" in out
