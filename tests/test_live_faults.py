"""Faults on the live path: the sound server disappearing mid-play."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from rtgen.backends.jackserver import JackServer, jackd_path

pytestmark = pytest.mark.jack


@pytest.mark.parametrize("record", [False, True])
def test_jack_server_vanishing_mid_play_is_a_clear_error_and_a_clean_exit(record: bool, tmp_path) -> None:
    if jackd_path() is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    srv = JackServer(48000, 128).start()
    extra = ["--record", str(tmp_path / "take")] if record else []
    try:
        env = dict(os.environ)                     # JACK_DEFAULT_SERVER points at srv
        p = subprocess.Popen([sys.executable, "-m", "rtgen.cli", "play", "--seconds", "30", *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 120
        line = ""
        assert p.stderr is not None
        while time.monotonic() < deadline:          # wait until it really plays
            line = p.stderr.readline()
            if line.startswith("playing on") or not line:
                break
        assert line.startswith("playing on"), line
        time.sleep(1.0)
        os.killpg(srv.proc.pid, signal.SIGKILL)     # the server dies under the stream
        srv.proc.wait()
        t = time.monotonic()
        out, err = p.communicate(timeout=20)
        took = time.monotonic() - t
    finally:
        srv.stop()
    assert took < 10, "rtgen did not notice the server was gone"
    assert p.returncode == 3, err
    assert "sound server went away" in err and "Traceback" not in err and "Assertion" not in err
    assert "callbacks" in out                       # the summary is still printed
    if record:                                      # and the recording is complete and readable
        import mido
        import soundfile as sf

        wavs = list((tmp_path / "take").rglob("*.wav"))
        mids = list((tmp_path / "take").rglob("*.mid"))
        assert wavs and mids
        info = sf.info(str(wavs[0]))
        assert info.frames > 48000 // 2 and info.samplerate == 48000
        mf = mido.MidiFile(str(mids[0]))
        ons = sum(1 for t in mf.tracks for m in t if m.type == "note_on" and m.velocity > 0)
        offs = sum(1 for t in mf.tracks for m in t if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))
        assert ons > 0 and ons == offs, "every recorded note must end"


def test_killed_servers_do_not_exhaust_the_jack_registry() -> None:
    """JACK's registry has a fixed number of server slots; killed servers used to leak theirs."""
    if jackd_path() is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    for _ in range(10):                        # more than the registry's slots
        srv = JackServer(48000, 256).start()
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        srv.stop()
    srv = JackServer(48000, 256).start()       # "Too many servers already active" before the fix
    srv.stop()
    assert srv.proc.poll() is not None
