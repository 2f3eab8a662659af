"""The player steers the engine: key (Krumhansl-Schmuckler), density, intensity, tempo, chords; CLI verbs."""

from __future__ import annotations

import argparse

from rtgen.control.follow import Follower
from rtgen.control.keydetect import detect_key
from rtgen.control.midi import M_NOTE_OFF, M_NOTE_ON, MidiEvent
from rtgen.rt.layout import (
    C_HARM,
    C_TEMPO,
    H_CHORD,
    H_CHORD_LEN,
    H_DENSITY,
    H_ROOT,
    H_SCALE,
    H_SCALE_LEN,
    H_TENSION,
    RING_MIDI,
)
from tests.midi_harness import FakeEngine, corpus_melody


def _harm(eng: FakeEngine) -> dict[int, float]:
    h: dict[int, float] = {}
    for c in eng.commands:
        if c[0] == C_HARM:
            assert c[8] == RING_MIDI
            h[int(c[1])] = c[2]
    return h


def _feed(f: Follower, notes: list[tuple[int, float]], vel: int = 100, t0: float = 0.0) -> float:
    t = t0
    for p, d in notes:
        f(MidiEvent(M_NOTE_ON, 0, p, vel), t, 0.0)
        f(MidiEvent(M_NOTE_OFF, 0, p, 0), t + d * 0.9, 0.0)
        t += d
    return t


def test_key_follows_a_corpus_melody():
    mel = corpus_melody("bach1")
    eng = FakeEngine()
    f = Follower(eng)
    _feed(f, mel)
    root, mode, _ = detect_key([p for p, _ in mel], [d for _, d in mel])
    h = _harm(eng)
    assert (f.key.root, f.key.mode) == (root, mode) == (5, 0)       # BWV 1.6 is in F major
    assert h[H_ROOT] == 5 and h[H_SCALE_LEN] == 7
    assert [h[H_SCALE + i] for i in range(7)] == [0, 2, 4, 5, 7, 9, 11]


def test_density_and_intensity_follow_rate_and_velocity():
    eng = FakeEngine()
    f = Follower(eng, interval_s=0.0)
    _feed(f, [(60, 0.5)] * 8, vel=40)
    slow, soft = f.density, f.intensity
    t = _feed(f, [(60, 0.08)] * 60, vel=120, t0=10.0)
    assert f.density > slow and f.intensity > soft
    h = _harm(eng)
    assert h[H_DENSITY] == f.density and h[H_TENSION] == f.intensity
    assert t > 10.0


def test_tempo_follows_inter_onsets():
    eng = FakeEngine()
    f = Follower(eng, follow_tempo=True, interval_s=0.0)
    _feed(f, [(60, 0.25)] * 16)                                       # eighths at 120 BPM
    tempos = [c[1] for c in eng.commands if c[0] == C_TEMPO]
    assert tempos and abs(tempos[-1] - 120.0) < 2.0


def test_accompaniment_chord_from_held_notes():
    eng = FakeEngine()
    f = Follower(eng, accompaniment=True)
    for n in (57, 60, 64):
        f(MidiEvent(M_NOTE_ON, 0, n, 90), 0.0, 0.0)
    h = _harm(eng)
    assert h[H_CHORD_LEN] == 3 and [h[H_CHORD + i] for i in range(3)] == [9, 0, 4]


def test_register_adds_jam_and_midi_ports():
    from rtgen.cli_jam import register
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="verb")
    register(sub)
    a = p.parse_args(["jam", "--midi-in", "keyb", "--midi-out", "--seconds", "3", "--latency-ms", "5",
                      "--memory", "m.npz", "--preset", "ensemble", "--rhythm", "metrical"])
    assert (a.midi_in, a.midi_out, a.seconds, a.latency_ms, a.memory, a.preset, a.rhythm) == (
        "keyb", "virtual", 3.0, 5.0, "m.npz", "ensemble", "metrical")
    a = p.parse_args(["midi-ports", "--json"])
    assert a.json and callable(a.func)
