"""``rtgen jam`` as a user runs it: its ports are the ones its help names, the preset's tempo, a
default arrangement that sounds, SIGTERM like Ctrl-C, clear errors for bad files. Real JACK."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_signals import _run_and_signal

pytestmark = pytest.mark.jack


def _jam(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtgen.cli", "jam", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_jam_ports_tempo_and_default_arrangement() -> None:
    help_text = _jam("--help").stdout
    r = _jam("--jack-dummy", "--seconds", "2", "--api", "jack")
    assert r.returncode == 0, r.stderr
    # the ports it prints are the ones its help names
    for port in ("rtgen-in:in", "rtgen:out_0"):
        assert port in r.stderr and port in " ".join(help_text.split()), (port, r.stderr)
    # without --preset the default arrangement plays (at its tempo) and the engine sounded notes
    assert "ensemble at 96 bpm" in r.stdout and "verdict:" in r.stdout, r.stdout
    r = _jam("--jack-dummy", "--seconds", "1", "--api", "jack", "--preset", "ensemble", "--bpm", "120",
             "--seed", "3", "--timbre", "additive")
    assert r.returncode == 0 and "ensemble at 120 bpm" in r.stdout, r.stdout + r.stderr


def test_jam_stops_cleanly_on_sigterm() -> None:
    rc, out, err = _run_and_signal(["jam", "--jack-dummy", "--api", "jack"], "rtgen jam: play into",
                                   signal.SIGTERM, ("jackd",))
    assert rc == 0, err
    assert "jam:" in out and "ended by: SIGTERM" in out and "Traceback" not in err


def test_jam_memory_that_is_not_a_memory_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "notmidi.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60")
    r = _jam("--memory", str(bad), "--no-audio", "--seconds", "1")
    assert r.returncode == 2 and "not a MIDI file" in r.stderr and "pickle" not in r.stderr, r.stderr
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not a zip at all")
    r = _jam("--memory", str(bad), "--no-audio", "--seconds", "1", "--api", "jack")
    assert r.returncode == 2 and "not a Continuator memory file" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "pickle" not in r.stderr
