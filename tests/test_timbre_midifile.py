"""Standard MIDI Files (written with mido) rendered through the Engine, with both timbres: the same
kernel and voices as every other way of making notes."""

from __future__ import annotations

import os

import mido
import numpy as np
import pytest
import soundfile as sf

from rtgen import Engine, EngineSpec
from rtgen.errors import RtgenError
from rtgen.timbre.midifile import (
    gm_instrument,
    read_midi_events,
    read_midi_notes,
    render_midi_file,
    render_notes,
    schedule_midi,
)


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
    said: list[str] = []
    info = render_midi_file(path, out, "auto", timbre=timbre, sr=48000, say=said.append)
    has_kit = "drums" in [n for n, _ in Engine(EngineSpec(), timbre=timbre).timbre.instruments()]
    assert info["notes"] == 5 + has_kit and info["file_notes"] == 6 and info["timbre"] == timbre
    assert has_kit or [m for m in said if "channel 10" in m] == [said[-1]]     # said once
    x, sr = sf.read(out)
    assert sr == 48000 and x.ndim == 2 and x.shape[1] == 2
    assert 2.5 < len(x) / sr < 6.0          # the file's 2.75 s and the release tail (the kit decays on its own)
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


def _engine_of(song_rows: list[tuple[float, float, int, int]], timbre: str = "additive") -> np.ndarray:
    """The same notes played straight into an Engine (note-on/off at their samples)."""
    eng = Engine(EngineSpec(seed=0), timbre=timbre)
    for lay in range(8):
        eng.set_layer(lay, pan=0.0, gain=0.8)
    for t, d, note, vel in song_rows:
        eng.note_on(note, vel, layer=0, instrument=0, time=round(t * 48000))
        eng.note_off(note, layer=0, time=round((t + d) * 48000))
    return eng.render(frames=48000 * 2)


def _write_notes(path: str, rows: list[tuple[float, float, int, int]]) -> None:
    mid = mido.MidiFile(ticks_per_beat=480)       # 120 bpm: 960 ticks a second
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    ev = sorted([(round(t * 960), 1, n, v) for t, d, n, v in rows] + [(round((t + d) * 960), 0, n, 0)
                                                                      for t, d, n, v in rows])
    now = 0
    for tick, on, n, v in ev:
        tr.append(mido.Message("note_on" if on else "note_off", note=n, velocity=v, time=tick - now))
        now = tick
    mid.save(path)


def test_a_midi_file_plays_exactly_the_engine_notes(tmp_path: os.PathLike) -> None:
    """One path: the file's render is bit-identical to the same notes sent to an Engine."""
    rows = [(0.0, 0.5, 60, 100), (0.25, 0.5, 64, 80), (0.5, 0.25, 67, 90)]
    path = os.path.join(tmp_path, "three.mid")
    _write_notes(path, rows)
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    got = schedule_midi(eng, read_midi_events(path), seconds=2.0, block=333)
    assert np.array_equal(got, _engine_of(rows))


def test_seconds_cuts_and_the_default_is_the_file_plus_its_tail(tmp_path: os.PathLike) -> None:
    path = os.path.join(tmp_path, "song.mid")
    _write_song(path)
    song = read_midi_events(path)
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    assert schedule_midi(eng, song, seconds=1.5).shape == (72000, 2)
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    full = schedule_midi(eng, song)
    assert song.seconds < len(full) / 48000 < song.seconds + 3.0        # the release tail, not 10 s more
    assert eng.active_voices() == 0 and np.abs(full[-64:]).max() < 1e-3


def test_programs_map_to_the_table_or_the_nearest_of_their_family() -> None:
    table = [("piano", 0), ("vibraphone", 11), ("nylon_guitar", 24), ("strings", 48), ("trumpet", 56),
             ("drums", 0)]
    assert gm_instrument(48, table, {"drums"}) == (3, "")
    assert gm_instrument(26, table, {"drums"}) == (2, "family")        # jazz guitar -> nylon guitar
    assert gm_instrument(61, table, {"drums"}) == (4, "family")        # brass section -> trumpet
    assert gm_instrument(2, table, {"drums"}) == (0, "family")
    assert gm_instrument(73, table, {"drums"})[1] == "nearest"         # no pipe: the nearest program


def test_pitch_bend_and_pedal_go_through_the_engine(tmp_path: os.PathLike) -> None:
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.Message("program_change", program=73, time=0))
    tr.append(mido.Message("control_change", control=64, value=127, time=0))
    tr.append(mido.Message("note_on", note=69, velocity=100, time=0))
    tr.append(mido.Message("note_off", note=69, velocity=0, time=240))            # 0.25 s, pedal down
    tr.append(mido.Message("pitchwheel", pitch=8191, time=240))                   # +2 semitones at 0.5 s
    tr.append(mido.Message("control_change", control=64, value=0, time=960))     # pedal up at 1.5 s
    path = os.path.join(tmp_path, "bend.mid")
    mid.save(path)
    eng = Engine(EngineSpec(seed=0), timbre="additive")
    x = schedule_midi(eng, read_midi_events(path), seconds=2.0)[:, 0].astype(np.float64)

    def peak_hz(a: int) -> float:
        seg = x[a:a + 16384] * np.hanning(16384)
        return float(np.argmax(np.abs(np.fft.rfft(seg))) * 48000 / 16384)

    assert abs(peak_hz(int(0.05 * 48000)) - 440.0) < 6.0                  # held by the pedal past its note-off
    assert abs(peak_hz(int(0.6 * 48000)) - 440.0 * 2 ** (2 / 12)) < 6.0   # bent
    assert np.sqrt(np.mean(x[int(1.2 * 48000):int(1.4 * 48000)] ** 2)) > 1e-3


def test_midi_render_is_the_same_at_every_block_size(tmp_path: os.PathLike) -> None:
    path = os.path.join(tmp_path, "song.mid")
    _write_song(path)
    song = read_midi_events(path)
    outs = [schedule_midi(Engine(EngineSpec(seed=0), timbre="neural"), song, seconds=3.0, block=b)
            for b in (64, 1000, 8193)]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
