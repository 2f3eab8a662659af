"""Hot reload through ``rtgen play`` itself: edit the preset file while it plays (real process,
real JACK dummy server); a valid edit is taken, a broken one keeps the music and says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.test_live_control import PRESET

pytestmark = pytest.mark.jack


def test_play_reloads_an_edited_preset_and_survives_a_broken_one(tmp_path: Path) -> None:
    f = tmp_path / "stage.toml"
    f.write_text(PRESET.format(tempo=100, key="C"))
    p = subprocess.Popen([sys.executable, "-m", "rtgen.cli", "play", "--jack-dummy", "--preset", str(f)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err: list[str] = []

    def read() -> None:
        assert p.stderr is not None
        for line in p.stderr:
            err.append(line)

    th = threading.Thread(target=read, daemon=True)
    th.start()

    def wait_for(text: str, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in line for line in err):
                return
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in: {''.join(err)}")

    try:
        wait_for("playing on")
        f.write_text(PRESET.format(tempo=126, key="E"))
        wait_for("reloaded stage.toml", 10)
        f.write_text("name = 'stage'\ntempo = 'fast'\n")
        wait_for("reload failed, the old music plays on", 10)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, "".join(err)
    assert "stage.toml: 1 reloads, 1 with errors" in out and "Traceback" not in "".join(err)
