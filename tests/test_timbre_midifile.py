"""Offline rendering of a real Standard MIDI File (written with mido) through both timbres."""

from __future__ import annotations

import os

import mido
import numpy as np
import pytest
import soundfile as sf

from rtgen.errors import RtgenError
from rtgen.timbre.midifile import read_midi_notes, render_midi_file, render_notes


def _write_song(path: str) -> None:
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))          # 120 bpm
    tr.append(mido.Message("program_change", channel=0, program=73, time=0))  # flute
    tr.append(mido.Message("program_change", channel=1, program=0, time=0))   # piano
    for i, note in enumerate((60, 64, 67, 72)):
        tr.append(mido.Message("note_on", channel=0, note=note, velocity=90, time=0 if i == 0 else 0))
        tr.append(mido.Message("note_off", channel=0, note=note, velocity=0, time=240))
    tr.append(mido.MetaMessage("set_tempo", tempo=1000000, time=0))         # 60 bpm from here
    tr.append(mido.Message("control_change", channel=1, control=64, value=127, time=0))
    tr.append(mido.Message("note_on", channel=1, note=48, velocity=100, time=0))
    tr.append(mido.Message("note_on", channel=1, note=55, velocity=0, time=240))   # running-status off
    tr.append(mido.Message("note_off", channel=1, note=48, velocity=0, time=0))
    tr.append(mido.Message("control_change", channel=1, control=64, value=0, time=480))
    tr.append(mido.Message("note_on", channel=9, note=36, velocity=100, time=0))   # drum: skipped
    tr.append(mido.Message("note_off", channel=9, note=36, velocity=0, time=120))
    mid.save(path)


def test_read_midi_notes_tempo_and_pedal(tmp_path: os.PathLike) -> None:
    path = os.path.join(tmp_path, "song.mid")
    _write_song(path)
    notes = read_midi_notes(path)
    assert [n[2] for n in notes] == [60, 64, 67, 72, 48]
    np.testing.assert_allclose([n[0] for n in notes[:4]], [0.0, 0.25, 0.5, 0.75], atol=1e-6)
    # the pedal holds the piano note until it is lifted: 0.5 s (60 bpm) + 1.0 s
    assert notes[4][0] == pytest.approx(1.0) and notes[4][1] == pytest.approx(1.5)
    assert notes[0][5] == 73 and notes[4][5] == 0


@pytest.mark.parametrize("timbre", ["additive", "neural"])
def test_render_midi_file(tmp_path: os.PathLike, timbre: str) -> None:
    path = os.path.join(tmp_path, "song.mid")
    out = os.path.join(tmp_path, f"song_{timbre}.wav")
    _write_song(path)
    info = render_midi_file(path, out, "auto", timbre=timbre, sr=48000)
    assert info["notes"] == 5 and info["timbre"] == timbre
    x, sr = sf.read(out)
    assert sr == 48000 and x.ndim == 2 and x.shape[1] == 2
    assert 2.5 < len(x) / sr < 4.5
    assert np.isfinite(x).all() and 0.005 < np.abs(x).max() <= 1.0
    # sound where the notes are, near silence long after the end
    rms = lambda a: float(np.sqrt(np.mean(a ** 2)))  # noqa: E731
    assert rms(x[int(0.05 * sr):int(0.2 * sr), 0]) > 1e-3


def test_render_fixed_instrument_and_notes() -> None:
    y = render_notes(__import__("rtgen.timbre", fromlist=["AdditiveTimbre"]).AdditiveTimbre(),
                     [(0.0, 0.3, 69.0, 100.0, 7.0)], sr=48000, seconds=0.6)
    assert y.shape == (int(0.6 * 48000),) and y.dtype == np.float32
    spec = np.abs(np.fft.rfft(y[2400:2400 + 8192] * np.hanning(8192)))
    peak_hz = np.argmax(spec) * 48000 / 8192
    assert abs(peak_hz - 440.0) < 10.0


def test_bad_midi_files(tmp_path: os.PathLike) -> None:
    with pytest.raises(RtgenError, match="not found"):
        render_midi_file(os.path.join(tmp_path, "missing.mid"), os.path.join(tmp_path, "o.wav"), "piano",
                         timbre="additive")
    bad = os.path.join(tmp_path, "bad.mid")
    with open(bad, "wb") as f:
        f.write(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(RtgenError, match="bad.mid"):
        render_midi_file(bad, os.path.join(tmp_path, "o.wav"), "piano", timbre="additive")
    empty = os.path.join(tmp_path, "empty.mid")
    m = mido.MidiFile()
    m.tracks.append(mido.MidiTrack())
    m.save(empty)
    with pytest.raises(RtgenError, match="no .*notes"):
        render_midi_file(empty, os.path.join(tmp_path, "o.wav"), "piano", timbre="additive")
    path = os.path.join(tmp_path, "song.mid")
    _write_song(path)
    with pytest.raises(RtgenError, match="unknown instrument"):
        render_midi_file(path, os.path.join(tmp_path, "o.wav"), "bagpipes", timbre="additive")
