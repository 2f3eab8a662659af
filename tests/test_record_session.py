"""Session recording: WAV + one MIDI track per layer, valid after SIGKILL; the live tap, offline and on JACK."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtgen.record import MidiRecorder, SessionRecorder, WavWriter
from rtgen.rt.layout import FXI_ENABLED, LAYER_NAMES, O_NOTE_OFF, O_NOTE_ON

SR = 48000
ROOT = Path(__file__).resolve().parents[1]


def test_offline_session_wav_and_midi_match_the_render(tmp_path: Path) -> None:
    import mido

    from rtgen import Engine, EngineSpec
    from rtgen.game import MusicController

    eng = Engine(EngineSpec(seed=3, bpm=120))
    m = MusicController(eng, states={"a": {"preset": "ensemble", "quantum": "immediate"}})
    m.set_state("a")
    rec = SessionRecorder.for_engine(eng, tmp_path)
    m.add_event_sink(rec.feed_events)
    outs, ons = [], np.zeros(8, int)
    for _ in range(40):
        out = eng.render(frames=1200)
        rec.feed_audio(out)
        outs.append(out)
        m.poll()
    ev_count = rec.midi.notes
    info = rec.stop()
    audio = np.concatenate(outs)
    got, sr = sf.read(info["wav"], dtype="float32")
    assert sr == SR and got.shape == audio.shape
    assert np.abs(got - audio).max() < 2.0 ** -22
    mf = mido.MidiFile(info["midi"])
    assert len(mf.tracks) == 1 + len(LAYER_NAMES)
    for lay, tr in enumerate(mf.tracks[1:]):
        assert tr.name == LAYER_NAMES[lay]
        ons[lay] = sum(1 for msg in tr if msg.type == "note_on")
        assert ons[lay] == sum(1 for e in ev_count[lay] if e[1])
        offs = sum(1 for msg in tr if msg.type == "note_off")
        assert offs == ons[lay]                       # every note ends, even those still sounding at the end
    assert ons.sum() > 3
    assert abs(mf.length - audio.shape[0] / SR) < 1.0


def test_midi_ticks_follow_tempo_changes(tmp_path: Path) -> None:
    import mido

    r = MidiRecorder(tmp_path / "t.mid", SR, 120.0)
    row = np.zeros((2, 8))
    row[0] = [O_NOTE_ON, SR, 60, 100, 0, 0, 0, 1]            # 1 s at 120 bpm = beat 2
    row[1] = [O_NOTE_OFF, SR * 1.5, 60, 0, 0, 0, 0, 1]
    r.feed(row)
    r.set_tempo(SR * 2, 60.0)                                # from beat 4 on, 60 bpm
    row2 = row.copy()
    row2[0, 1] = SR * 3                                      # 1 s later = 1 beat at 60 bpm -> beat 5
    row2[1, 1] = SR * 4
    r.feed(row2)
    r.close()
    mf = mido.MidiFile(tmp_path / "t.mid")
    abs_ticks = []
    for tr in mf.tracks[1:2]:
        t = 0
        for msg in tr:
            t += msg.time
            if msg.type == "note_on":
                abs_ticks.append(t)
    assert abs_ticks == [2 * 480, 5 * 480]
    assert mf.length == pytest.approx(4.0, abs=1e-6)


_KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from rtgen.record import SessionRecorder
    from rtgen.rt.layout import O_NOTE_ON, O_NOTE_OFF
    rec = SessionRecorder(sys.argv[1], 48000, 100.0, flush_s=0.05)
    t = np.arange(480) / 48000.0
    n = 0
    while True:
        blk = np.stack([np.sin(2 * np.pi * 440 * (t + n / 48000)), np.zeros(480)], 1).astype(np.float32)
        rec.feed_audio(blk)
        rows = np.array([[O_NOTE_ON, n, 60 + (n // 480) % 12, 100, (n // 480) % 8, 0, 0, 0],
                         [O_NOTE_OFF, n + 240, 60 + (n // 480) % 12, 0, (n // 480) % 8, 0, 0, 0],
                         [O_NOTE_ON, n + 300, 40, 90, 3, 0, 0, 0]], float)   # left sounding
        rec.feed_events(rows)
        n += 480
        if n == 48000:
            print("recording", flush=True)
        time.sleep(0.005)
""")


def test_files_are_valid_after_sigkill_mid_recording(tmp_path: Path) -> None:
    import mido

    script = tmp_path / "rec.py"
    script.write_text(_KILL_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "out")], stdout=subprocess.PIPE, env=env)
    try:
        line = p.stdout.readline()
        assert line.strip() == b"recording"
        time.sleep(0.4)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    wav = tmp_path / "out" / "session.wav"
    data, sr = sf.read(str(wav), dtype="float32")
    assert sr == SR and data.shape[0] >= 48000
    ref = np.sin(2 * np.pi * 440 * np.arange(data.shape[0]) / SR)
    assert np.abs(data[:, 0] - ref).max() < 1e-5               # every frame the header counts is real audio
    mf = mido.MidiFile(str(tmp_path / "out" / "session.mid"))
    assert len(mf.tracks) == 9
    ons = sum(1 for tr in mf.tracks for m in tr if m.type == "note_on")
    offs = sum(1 for tr in mf.tracks for m in tr if m.type == "note_off")
    assert ons >= 100 and ons == offs                          # provisional offs close what was sounding


def test_wav_writer_reports_a_failing_disk_without_raising(tmp_path: Path) -> None:
    w = WavWriter(tmp_path / "x.wav", SR)
    w._f.close()                                               # the file goes away under the writer
    w.write(np.zeros((10, 2), np.float32))
    time.sleep(0.3)
    assert w.error is not None
    w.close()


def test_tap_records_what_the_real_compiled_callback_plays(tmp_path: Path) -> None:
    """The live ``@cfunc`` PortAudio callback itself (called through its C address, as PortAudio
    calls it) renders block after block; the tap pumps between blocks. The WAV must hold exactly
    what the callback wrote, and that must be what an offline render of the same engine plays."""
    import ctypes

    from rtgen import Engine, EngineSpec
    from rtgen.backends.live import callback_address
    from rtgen.record import RecordingTap
    from rtgen.rt.state import address_table

    proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64,
                             ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p)
    callback = proto(callback_address())
    # additive voices: the callback is driven here without the neural timbre's worker
    eng = Engine(EngineSpec(seed=5, block_size=128), timbre="additive")
    twin = Engine(EngineSpec(seed=5, block_size=128), timbre="additive")
    for e in (eng, twin):
        e.note_on(60, 100)
    rec = SessionRecorder.for_engine(eng, tmp_path)
    tap = RecordingTap(eng, rec.wav, poll_s=3600)              # pumped by hand, not by its thread
    tap.start()
    rec.tap = tap
    tbl = address_table(eng.state)
    outs, ref = [], []
    for i in range(300):
        out = np.zeros((128, 2), np.float32)
        assert callback(None, out.ctypes.data, 128, None, 0, tbl.ctypes.data) == 0
        outs.append(out)
        ref.append(twin.render(frames=128))
        if i % 7 == 0:
            tap.pump()
        if i == 150:
            for e in (eng, twin):
                e.note_on(67, 90)
    tap.pump()
    info = rec.stop()
    played = np.concatenate(outs)
    assert np.array_equal(played, np.concatenate(ref))        # the callback plays the offline render
    assert np.abs(played).max() > 0.01
    got, _ = sf.read(info["wav"], dtype="float32")
    assert info["lost_frames"] == 0 and got.shape == played.shape
    assert np.abs(got - played).max() < 2.0 ** -22              # 24-bit PCM of the same samples
    assert eng.state.fxi[FXI_ENABLED] == 0


def test_tap_refuses_when_effects_use_the_ring(tmp_path: Path) -> None:
    from rtgen import Engine, EngineSpec
    from rtgen.errors import ConfigError

    eng = Engine(EngineSpec(seed=5))
    eng.state.fxi[FXI_ENABLED] = 1
    rec = SessionRecorder.for_engine(eng, tmp_path)
    with pytest.raises(ConfigError, match="effects"):
        rec.start_live()
    rec.stop()


@pytest.mark.jack
def test_live_recording_over_jack(jack_server, tmp_path: Path) -> None:
    from rtgen import Engine, EngineSpec
    from rtgen.backends.live import LiveStream

    eng = Engine(EngineSpec(seed=1, block_size=128))
    eng.note_on(60, 100)
    rec = SessionRecorder.for_engine(eng, tmp_path)
    with LiveStream(eng, block_size=128):
        rec.start_live()
        time.sleep(1.5)
        info = rec.stop()
    got, _ = sf.read(info["wav"], dtype="float32")
    assert 1.0 * SR < got.shape[0] < 2.0 * SR and info["lost_frames"] == 0
    assert np.abs(got).max() > 0.01
