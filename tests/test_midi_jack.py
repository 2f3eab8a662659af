"""MIDI over a real JACK server (dummy driver): ports, watchdog, a 10,000 messages/s fuzz, and the
end-to-end jam (a test client plays corpus melodies; the engine's answers come back over JACK MIDI).

Every test shares one private jackd (unique name) that the module fixture stops by PID.
"""

from __future__ import annotations

import os
import random
import threading
import time

import numpy as np
import pytest

from rtgen.control.keydetect import detect_key, in_scale
from rtgen.control.midi import MidiInput, list_ports
from rtgen.gen.continuator import ContinuatorConfig, max_copy_length
from rtgen.rt.layout import LAYER_PLAYER, O_NOTE_OFF, O_NOTE_ON, VF_LAYER, VF_STATE, VS_ON
from tests.midi_harness import JackServer, corpus_melody, jackd_path

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(jackd_path() is None, reason="jackd is not installed (apt-get install jackd2)")]


@pytest.fixture(scope="module")
def jack():
    srv = JackServer()
    try:
        srv.start()
    except (RuntimeError, OSError) as e:       # DeviceError is an OSError
        pytest.skip(f"cannot start a JACK dummy server: {e}")
    yield srv
    srv.stop()                      # by PID (SIGTERM, then SIGKILL)
    assert srv.proc is not None and srv.proc.poll() is not None, "jackd is still running"


def _client_out(name: str = "player"):
    import rtmidi
    mo = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name)
    return mo


def _connect_out(mo, want: str) -> None:
    ports = mo.get_ports()
    idx = [i for i, n in enumerate(ports) if want in n]
    assert idx, f"{want} not among {ports}"
    mo.open_port(idx[0], "out")


@pytest.fixture()
def engine():
    """The real engine, its clock running in real time (no sound device: this server has no
    PortAudio client; the MIDI-to-audio latency is measured from outside in test_latency_outside)."""
    from rtgen.config import EngineSpec
    from rtgen.control.jam import ClockThread
    from rtgen.engine import Engine

    eng = Engine(EngineSpec(sample_rate=48000, block_size=128, voices=64, seed=0))
    clock = ClockThread(eng).start()
    yield eng
    clock.stop()


def _player_notes(eng) -> tuple[list[int], list[int]]:
    """(note-on notes, note-off notes) the engine played on the player's layer, from its output events."""
    ev = eng.events()
    ons = [int(r[2]) for r in ev if int(r[0]) == O_NOTE_ON and int(r[4]) == LAYER_PLAYER]
    offs = [int(r[2]) for r in ev if int(r[0]) == O_NOTE_OFF and int(r[4]) == LAYER_PLAYER]
    return ons, offs


def _held_player_voices(eng) -> int:
    vf = eng.state.vf
    return int(((vf[:, VF_STATE] == VS_ON) & (vf[:, VF_LAYER] == LAYER_PLAYER)).sum())


def test_virtual_port_is_listed_and_notes_reach_the_engine(jack, engine):
    eng = engine
    eng.events()
    with MidiInput(eng, None, api="jack") as mi:
        assert mi.port_name == "rtgen:in"
        ports = list_ports("jack")
        assert "rtgen:in" in ports["outputs"]          # other clients write into it
        mo = _client_out()
        _connect_out(mo, "rtgen:in")
        for k in range(40):
            mo.send_message([0x90, 60 + k % 12, 100])
            mo.send_message([0x80, 60 + k % 12, 0])
            time.sleep(0.01)
        time.sleep(0.2)
        mo.close_port()
        mo.delete()
    ons, offs = _player_notes(eng)
    assert ons == [60 + k % 12 for k in range(40)]      # every note played, in order
    assert sorted(offs) == sorted(ons)
    assert mi.stats.commands == 80 and mi.stats.dropped_ring == 0
    js = mi.jitter.summary(48000)
    assert js["n"] == 80 and js["jitter_ms_max"] < 6.0
    assert _held_player_voices(eng) == 0


def test_named_port_disappears_and_is_reopened(jack, engine):
    import rtmidi
    eng = engine
    eng.events()
    src = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "keyboard")
    src.open_virtual_port("out")
    with MidiInput(eng, "keyboard", api="jack", watchdog_s=0.1) as mi:
        assert mi.port_name == "keyboard:out"
        src.send_message([0x90, 60, 100])               # held when the keyboard vanishes
        time.sleep(0.1)
        src.close_port()
        src.delete()
        t = time.monotonic() + 3
        while mi.stats.disconnects == 0 and time.monotonic() < t:
            time.sleep(0.05)
        assert mi.stats.disconnects == 1
        time.sleep(0.1)
        assert _held_player_voices(eng) == 0             # the held key was released in the engine
        src = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "keyboard")
        src.open_virtual_port("out")
        t = time.monotonic() + 3
        while mi.stats.reconnects == 0 and time.monotonic() < t:
            time.sleep(0.05)
        assert mi.stats.reconnects == 1
        time.sleep(0.2)
        src.send_message([0x90, 62, 100])
        src.send_message([0x80, 62, 0])
        time.sleep(0.2)
        src.close_port()
        src.delete()
    ons, _ = _player_notes(eng)
    assert ons == [60, 62]


def test_fuzz_10000_messages_per_second_through_a_real_port(jack):
    """Random messages (notes, strays, CCs, bends, sysex, garbage data) at 10 kHz for 2 s."""
    from rtgen.config import EngineSpec
    from rtgen.control.jam import ClockThread
    from rtgen.engine import Engine
    eng = Engine(EngineSpec(sample_rate=48000, block_size=128, voices=64, seed=0))
    clock = ClockThread(eng).start()
    rng = random.Random(1)
    sent = 0
    mi = MidiInput(eng, None, api="jack").start()
    try:
        mo = _client_out("fuzzer")
        _connect_out(mo, "rtgen:in")
        t0 = time.monotonic()
        n_total = 20_000
        for i in range(n_total):
            r = rng.random()
            ch = rng.randrange(16)
            if r < 0.4:
                msg = [0x90 | ch, rng.randrange(128), rng.randrange(128)]
            elif r < 0.7:
                msg = [0x80 | ch, rng.randrange(128), rng.randrange(128)]      # many strays
            elif r < 0.8:
                msg = [0xB0 | ch, rng.randrange(128), rng.randrange(128)]
            elif r < 0.9:
                msg = [0xE0 | ch, rng.randrange(128), rng.randrange(128)]
            elif r < 0.95:
                msg = [0xC0 | ch, rng.randrange(128)]
            else:
                msg = [0xF0, rng.randrange(128), rng.randrange(128), 0xF7]
            mo.send_message(msg)
            sent += 1
            if i % 100 == 99:                            # 10,000 per second
                d = t0 + (i + 1) / 10_000 - time.monotonic()
                if d > 0:
                    time.sleep(d)
        rate = sent / (time.monotonic() - t0)
        time.sleep(0.3)
        mo.close_port()
        mo.delete()
    finally:
        mi.stop()
    st = mi.stats
    assert rate > 7000
    # every message is accounted for: decoded, skipped (sysex), or counted as dropped
    assert st.received == sent
    assert st.parse.messages + st.parse.sysex + st.parse.dropped == sent
    assert st.commands + st.dropped_ring + st.filtered + st.no_command == st.parse.messages
    time.sleep(0.6)                                      # release tails
    clock.stop()
    stats = eng.stats()
    assert stats["commands_dropped"] == st.dropped_ring
    vf = eng.state.vf
    on = (vf[:, VF_STATE] == VS_ON) & (vf[:, VF_LAYER] == LAYER_PLAYER)
    assert int(on.sum()) == 0, ("a player note is still held after the release", stats,
                                vf[on][:5, :16].tolist())


def _play_phrases(mo, phrases: list[list[tuple[int, float]]], gap: float) -> list[float]:
    """Play phrases in real time; returns the monotonic time of each phrase's last note-off."""
    ends = []
    for ph in phrases:
        for p, d in ph:
            mo.send_message([0x90, p, 96])
            time.sleep(d * 0.9)
            mo.send_message([0x80, p, 0])
            time.sleep(d * 0.1)
        ends.append(time.monotonic())
        time.sleep(gap)
    return ends


def test_end_to_end_jam_answers_in_key_fast_and_cleanly(jack):
    import rtmidi

    from rtgen.config import EngineSpec
    from rtgen.control.jam import start_jam
    from rtgen.engine import Engine
    eng = Engine(EngineSpec(sample_rate=48000, block_size=128, voices=64, seed=0))
    got: list[tuple[float, list[int]]] = []
    lock = threading.Lock()
    limit = 4
    jam = start_jam(None, "virtual", api="jack", audio=False, engine=eng,
                    continuator_config=ContinuatorConfig(max_copy=limit, on_play="stop"))
    try:
        listener = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "listener")
        listener.ignore_types(sysex=True, timing=True, active_sense=True)

        def cb(ev, _data) -> None:
            with lock:
                got.append((time.monotonic(), list(ev[0])))
        listener.set_callback(cb)
        idx = [i for i, n in enumerate(listener.get_ports()) if n == "rtgen-out:out"][0]
        listener.open_port(idx, "in")
        mo = _client_out("pianist")
        assert jam.midi_in.port_name == "rtgen-in:in"     # the name `rtgen jam --help` gives
        _connect_out(mo, jam.midi_in.port_name)
        mel = corpus_melody("oneill1", sec_per_quarter=0.22)
        phrases = [mel[0:14], mel[14:28], mel[28:42]]
        _play_phrases(mo, phrases, gap=2.2)
        time.sleep(0.3)
        mo.close_port()
        mo.delete()
    finally:
        summary = jam.stop()
        time.sleep(0.2)
        listener.close_port()
        listener.delete()
    cont = jam.continuator
    assert summary.phrases == 3 and summary.answers == 3, summary.text()
    # latency on the engine's sample clock: phrase end -> first answer note
    lat = cont.stats.answer_latency_ms
    assert len(lat) == 3 and max(lat) < 30.0, lat
    # the engine really played the answers at those samples (output events)
    assert len(jam.tap.answer_onsets) >= 3 * 4
    # answers came back over JACK MIDI on channel 2 (LAYER_ANSWER -> channel 1)
    ans_on = [m for _, m in got if (m[0] & 0xF0) == 0x90 and (m[0] & 0x0F) == 1 and m[2] > 0]
    ans_off = [m for _, m in got if ((m[0] & 0xF0) == 0x80 or ((m[0] & 0xF0) == 0x90 and m[2] == 0))
               and (m[0] & 0x0F) == 1]
    assert len(ans_on) >= 12
    # no stuck notes at the synth: every answer note-on has its note-off
    bal: dict[int, int] = {}
    for _, m in got:
        if (m[0] & 0x0F) != 1:
            continue
        if (m[0] & 0xF0) == 0x90 and m[2] > 0:
            bal[m[1]] = bal.get(m[1], 0) + 1
        elif (m[0] & 0xF0) in (0x80, 0x90):
            bal[m[1]] = max(0, bal.get(m[1], 0) - 1)
    assert not [n for n, v in bal.items() if v > 0], (bal, len(ans_off))
    # key: the answers stay in the key of what was played
    played = [p for ph in phrases for p, _ in ph]
    root, mode, _ = detect_key(played, [d for ph in phrases for _, d in ph])
    pitches = [m[1] for m in ans_on]
    assert np.mean([in_scale(p, root, mode) for p in pitches]) >= 0.75
    # the copy limit holds for every answer against everything learnt before it
    training = cont.model.phrases()
    for a in cont.answers_log:
        assert max_copy_length(a["pitches"], training) <= limit


def test_run_jam_and_midi_ports_cli(jack, tmp_path, capsys):
    import json as _json

    from rtgen.control.jam import _cmd_ports, run_jam
    _cmd_ports(argparse_ns(api="jack", json=True))
    ports = _json.loads(capsys.readouterr().out)
    assert ports["api"] == ["jack"]
    mem = str(tmp_path / "mem.npz")
    summary = run_jam(None, None, seconds=0.5, memory=mem, api="jack", audio=False, quiet=True)
    assert summary.notes_in == 0 and summary.dropped["midi_ring"] == 0
    assert os.path.exists(mem)                     # the (empty) memory was saved


def argparse_ns(**kw):
    import argparse
    return argparse.Namespace(**kw)
