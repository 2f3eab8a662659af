"""Every example runs as written, in a bounded form (a few seconds; JACK ones on a private dummy server)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _run(args: list[str], timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=_env(),
                          cwd=str(ROOT))


def test_game_loop_renders_states_and_stingers(tmp_path: Path) -> None:
    out = tmp_path / "game.wav"
    r = _run([str(EX / "game_loop.py"), "--seconds", "8", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert "combat@" in r.stdout and "victory@" in r.stdout
    info = sf.info(str(out))
    assert info.samplerate == 48000 and abs(info.duration - 8.0) < 1e-3


def test_live_set_offline_with_the_continuator(tmp_path: Path) -> None:
    out = tmp_path / "set.wav"
    r = _run([str(EX / "live_set.py"), "--offline", str(out), "--seconds", "8", "--scene-seconds", "2"])
    assert r.returncode == 0, r.stderr
    assert "scene rules" in r.stdout and "scene automata" in r.stdout
    answers = int(r.stdout.rsplit("continuator answer notes", 1)[1].split()[0])
    assert answers > 0
    assert sf.info(str(out)).duration == pytest.approx(8.0, abs=1e-3)


def test_live_set_preset_loads_in_the_cli_parser() -> None:
    from rtgen.control.params import load_preset_file
    from rtgen.game import load_music, parse_states, parse_stingers

    preset, mm = load_preset_file(EX / "live_set.toml")
    t = load_music(EX / "live_set.toml")
    states = parse_states(t["states"], stingers=parse_stingers(t["stingers"]))
    kinds = {s.name for s, _ in preset.generators} | {g.name for st in states.values() for g in st.generators}
    from rtgen.gen.presets import GENERATORS
    assert kinds == set(GENERATORS)                              # every generator type is in the set
    assert mm.programs[1] == "rules" and len(mm.bindings) == 2


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


@pytest.mark.jack
def test_osc_client_against_rtgen_play(jack_server, tmp_path: Path) -> None:
    port = _free_port()
    play = subprocess.Popen([sys.executable, "-m", "rtgen.cli", "play", "--osc", str(port), "--seconds", "60",
                             "--record", str(tmp_path / "rec")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), cwd=str(ROOT))
    try:
        r = _run([str(EX / "osc_client.py"), "--port", str(port), "--tempo", "131", "--wait", "120"], timeout=200)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "server answered" in r.stdout and "tempo 131.0 bpm" in r.stdout
        beats = int(r.stdout.split("beats received: ")[1].split(",")[0].split()[0])
        assert beats >= 2
    finally:
        play.send_signal(signal.SIGINT)
        out, err = play.communicate(timeout=60)
    assert play.returncode == 0, err
    assert "osc" in out and "1 unknown" in out and "recorded" in out
    data, sr = sf.read(str(tmp_path / "rec" / "session.wav"))
    assert sr == 48000 and len(data) > sr


@pytest.mark.jack
def test_midi_jam_learns_a_knob_and_answers(jack_server, tmp_path: Path) -> None:
    import rtmidi

    save = tmp_path / "jam.toml"
    save.write_text('tempo = 100\n[[generator]]\ntype = "ca1d"\n')
    p = subprocess.Popen([sys.executable, str(EX / "midi_jam.py"), "--api", "jack", "--no-audio", "--seconds", "12",
                          "--save-map", str(save)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=_env(), cwd=str(ROOT))
    mo = None
    try:
        port = None
        t_end = time.monotonic() + 150
        while time.monotonic() < t_end:
            line = p.stdout.readline()
            if not line:
                break
            if line.startswith("ready:"):
                port = line.split("'")[1]
                break
        assert port, p.stderr.read() if p.poll() is not None else "no ready line"
        mo = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "test-keys")
        names = mo.get_ports()
        mo.open_port([i for i, n in enumerate(names) if n == port][0])
        mo.send_message([0xB0, 74, 100])                             # the knob: learned, then applied
        time.sleep(0.2)
        mo.send_message([0xB0, 74, 127])
        for note in (60, 62, 64, 65, 67, 65, 64, 62, 60):             # a phrase, then silence
            mo.send_message([0x90, note, 90])
            time.sleep(0.18)
            mo.send_message([0x80, note, 0])
            time.sleep(0.04)
        out, err = p.communicate(timeout=120)
    finally:
        if mo is not None:
            mo.close_port()
            mo.delete()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["learned"] == [["cc", 74, "param:intensity"]]
    assert summary["intensity"] == pytest.approx(1.0) and summary["applied"] >= 2
    assert summary["notes_in"] == 9 and summary["phrases"] >= 1 and summary["answer_notes"] >= 1
    from rtgen.control.params import load_midi_map
    assert load_midi_map(save).bindings[0].number == 74
