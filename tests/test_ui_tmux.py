"""``rtgen play --ui`` in a real terminal (tmux): it draws, a key changes the music, and SIGTERM
ends it like ``q``: the summary is printed, the private JACK server stops, exit code 0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.test_signals import _alive, _children

pytestmark = pytest.mark.jack


def test_play_ui_in_tmux_keys_and_sigterm() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install tmux)")
    pytest.importorskip("textual", reason="the UI needs the ui extra (pip install 'rtgen[ui]')")
    sock = f"rtgen-test-{os.getpid()}"
    tmux = ["tmux", "-L", sock]
    import tempfile

    tmp = tempfile.mkdtemp(prefix="rtgen-tmux-")
    pid_f, rc_f = os.path.join(tmp, "pid"), os.path.join(tmp, "rc")
    # a small wrapper in the pane runs rtgen in the terminal's foreground group and writes its pid
    # and exit code (tmux's own pane_dead_status is not always set)
    wrapper = (f"import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'rtgen.cli', 'play', "
               f"'--jack-dummy', '--ui', '--seconds', '120']); open({pid_f!r}, 'w').write(str(p.pid)); "
               f"rc = p.wait(); open({rc_f!r}, 'w').write(str(rc))")
    cmd = f"{sys.executable} -c \"{wrapper}\""
    env = dict(os.environ, TERM="xterm-256color")
    subprocess.run(tmux + ["new-session", "-d", "-x", "160", "-y", "50", cmd], check=True, env=env)
    try:
        subprocess.run(tmux + ["set-option", "-g", "remain-on-exit", "on"], check=True)

        def pane(fmt: str) -> str:
            return subprocess.run(tmux + ["display-message", "-p", fmt], capture_output=True,
                                  text=True).stdout.strip()

        def screen() -> str:
            return subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True).stdout

        end = time.monotonic() + 60
        while time.monotonic() < end and not os.path.exists(pid_f):
            time.sleep(0.1)
        time.sleep(0.1)
        pid = int(open(pid_f).read())
        end = time.monotonic() + 180
        while time.monotonic() < end and "bpm" not in screen():
            time.sleep(0.2)
        assert "bpm" in screen() and "master" in screen(), screen()
        from rtgen.gen.presets import list_presets, load_preset
        from rtgen.session import DEFAULT_PRESETS

        default = next(n for n in DEFAULT_PRESETS if n in list_presets())
        want = f"tempo {load_preset(default).tempo + 2:g} bpm"
        subprocess.run(tmux + ["send-keys", "+"], check=True)
        end = time.monotonic() + 10
        while time.monotonic() < end and want not in screen():
            time.sleep(0.1)
        assert want in screen(), screen()
        kids = _children(pid)
        assert any("jackd" in c for c in kids.values()), kids
        os.kill(pid, 15)
        end = time.monotonic() + 60
        while time.monotonic() < end and pane("#{pane_dead}") != "1":
            time.sleep(0.2)
        assert pane("#{pane_dead}") == "1"
        text = screen()
        assert open(rc_f).read() == "0", text
        assert "session summary" in text and "SIGTERM" in text, text
        time.sleep(0.2)
        assert not {k: c for k, c in kids.items() if _alive(k, c)}
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
