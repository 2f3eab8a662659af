"""``rtgen jam`` as a user runs it: its ports are the ones its help names, the preset's tempo, a
default arrangement that sounds, SIGTERM like Ctrl-C, clear errors for bad files. Real JACK."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
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
    from rtgen.gen.presets import list_presets, load_preset
    from rtgen.session import DEFAULT_PRESETS

    default = next(n for n in DEFAULT_PRESETS if n in list_presets())
    assert f"{default} at {load_preset(default).tempo:g} bpm" in r.stdout and "verdict:" in r.stdout, r.stdout
    r = _jam("--jack-dummy", "--seconds", "1", "--api", "jack", "--preset", "ensemble", "--bpm", "120",
             "--seed", "3", "--timbre", "additive")
    assert r.returncode == 0 and "ensemble at 120 bpm" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_jam_stops_cleanly_on_sigterm_and_sighup(sig: int) -> None:
    rc, out, err = _run_and_signal(["jam", "--jack-dummy", "--api", "jack"], "rtgen jam: play into",
                                   sig, ("jackd",))
    assert rc == 0, err
    assert "jam:" in out and f"ended by: {signal.Signals(sig).name}" in out and "Traceback" not in err


def test_jam_memory_that_is_not_a_memory_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "notmidi.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60")
    r = _jam("--memory", str(bad), "--no-audio", "--seconds", "1")
    assert r.returncode == 2 and "not a MIDI file" in r.stderr and "allow_pickle" not in r.stderr, r.stderr
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not a zip at all")
    r = _jam("--memory", str(bad), "--no-audio", "--seconds", "1", "--api", "jack")
    assert r.returncode == 2 and "memory" in r.stderr and str(bad) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "allow_pickle" not in r.stderr      # not numpy's own message


def test_the_default_arrangement_follows_the_players_key(jack_server) -> None:
    """Without a preset the jam plays the ensemble; a player in E minor moves its key to E minor,
    and the generators' notes (not the player's) then fall in that key."""
    from rtgen.control.jam import start_jam
    from rtgen.control.perform import key_name
    from rtgen.rt.layout import LAYER_ANSWER, LAYER_PLAYER, O_NOTE_ON
    from tests.test_midi_jack import _client_out, _connect_out

    jam = start_jam(None, None, api="jack", audio=False)
    rows = []
    jam.tap.sinks.append(lambda ev: rows.append(ev.copy()))
    try:
        from rtgen.session import DEFAULT_PRESETS

        assert jam.arrangement in DEFAULT_PRESETS
        mo = _client_out("pianist-e")
        _connect_out(mo, jam.midi_in.port_name)
        melody = [64, 66, 67, 71, 69, 67, 66, 64, 71, 67, 64, 59, 64, 66, 67, 64]    # E minor
        for _ in range(2):
            for n in melody:
                mo.send_message([0x90, n, 90])
                time.sleep(0.12)
                mo.send_message([0x80, n, 0])
                time.sleep(0.03)
        time.sleep(0.5)
        assert key_name(jam.engine) == "E minor", key_name(jam.engine)
        t_key = int(jam.engine.state.st[0])
        time.sleep(3.0)
        mo.close_port()
        mo.delete()
    finally:
        jam.stop()
    import numpy as np

    ev = np.concatenate(rows) if rows else np.zeros((0, 8))
    from rtgen.gen.presets import load_preset

    arr = getattr(load_preset(jam.arrangement), "arrangement", None)      # its drums play GM drum pitches
    drums = {rs.layer for name, rs in (arr.roles.items() if arr is not None else ()) if name == "drums"}
    gen = ev[(ev[:, 0] == O_NOTE_ON) & (ev[:, 1] > t_key) & (ev[:, 4] != LAYER_PLAYER) & (ev[:, 4] != LAYER_ANSWER)
             & ~np.isin(ev[:, 4], list(drums))]
    assert len(gen) >= 8, len(gen)
    e_minor = {4, 6, 7, 9, 11, 0, 2, 1, 3}        # natural, harmonic and melodic minor (C#, D#)
    pcs = [int(p) % 12 for p in gen[:, 2]]
    assert np.mean([p in e_minor for p in pcs]) >= 0.9, (sorted(pcs), gen[:, 4].tolist())
