"""rtgen play with the live-performance options, on a private JACK dummy server; the UI wiring headless."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import mido
import pytest
import soundfile as sf

from rtgen.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_play_options_parse() -> None:
    a = build_parser().parse_args(["play", "--osc", "9000", "--record", "d", "--ui", "--midi-clock-in", "x",
                                   "--midi-clock-out", "y", "--link", "--midi-in", "z"])
    assert (a.osc, a.record, a.ui, a.midi_clock_in, a.midi_clock_out, a.link, a.midi_in) == \
        (9000, "d", True, "x", "y", True, "z")
    a = build_parser().parse_args(["play"])
    assert a.osc is None and a.record is None and not a.ui and not a.link


def test_bad_live_preset_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('tempo = 100\n[[generator]]\ntype = "ca1d"\n[[midi_map.binding]]\nsource = "cc"\nnumber = 999\n'
                 'target = "tempo"\n')
    assert main(["play", "--preset", str(f), "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "bad.toml: midi_map.binding[0]: key 'number'" in err and "Traceback" not in err


@pytest.mark.jack
def test_play_live_set_with_osc_clock_out_and_recording(jack_server, tmp_path: Path, capsys) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc = main(["play", "--preset", str(ROOT / "examples" / "live_set.toml"), "--seconds", "2.5",
               "--osc", str(port), "--midi-clock-out", "virtual", "--record", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"port {port}" in out and "midi clock out" in out and "recorded" in out
    data, sr = sf.read(str(tmp_path / "session.wav"))
    assert sr == 48000 and 1.5 * sr < len(data) < 3.5 * sr
    mf = mido.MidiFile(str(tmp_path / "session.mid"))
    assert [t.name for t in mf.tracks[1:4]] == ["rules", "grammar", "automata"]
    assert sum(1 for t in mf.tracks for m in t if m.type == "note_on") > 0


def test_ui_wiring_headless(tmp_path: Path) -> None:
    from rtgen import Engine, EngineSpec
    from rtgen.ui.session import PlaySession

    eng = Engine(EngineSpec(seed=1))
    args = argparse.Namespace(record=str(tmp_path), osc=None, midi_clock_in=None, midi_clock_out=None, link=False,
                              midi_map=None, music_tables=None, loaded_preset=None)
    ps = PlaySession(eng, args).start(live=False)
    app = ps.run_ui(0.8, headless=True)
    assert app.frames >= 3
    info = ps.stop()
    assert info["recorded"].startswith("wrote")


@pytest.mark.jack
def test_live_transition_lands_on_the_bar_sample(jack_server) -> None:
    """Live (compiled callback on JACK): a transition sent from Python mid-bar lands on the next bar's sample."""
    import time

    import numpy as np

    from rtgen import Engine, EngineSpec
    from rtgen.backends.live import LiveStream
    from rtgen.game import MusicController
    from rtgen.rt.layout import LAYER_AUTOMATA, LAYER_STINGER, O_BEAT, O_NOTE_ON

    eng = Engine(EngineSpec(seed=1, bpm=240, block_size=128))
    m = MusicController(eng, states={"a": {"preset": "chorale", "tempo": 240, "quantum": "immediate"},
                                     "b": {"preset": "ca1d", "tempo": 240, "stinger": "s"}},
                        stingers={"s": {"notes": [[0, 80, 100, 0.25]]}})
    rows = []
    m.add_event_sink(rows.append)
    with LiveStream(eng, block_size=128):
        m.set_state("a")
        time.sleep(0.37)
        m.poll()
        tr = m.set_state("b", "bar")
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end and (m.pending is not None or not rows):
            m.poll()
            time.sleep(0.01)
        time.sleep(0.3)
        m.poll()
    ev = np.concatenate(rows)
    bars = ev[(ev[:, 0] == O_BEAT) & (ev[:, 4] == 0)]
    assert tr.sample in set(bars[:, 1].astype(int))
    on = ev[ev[:, 0] == O_NOTE_ON]
    assert int(on[on[:, 4] == LAYER_AUTOMATA][:, 1].min()) == tr.sample
    assert int(on[on[:, 4] == LAYER_STINGER][:, 1].min()) == tr.sample
