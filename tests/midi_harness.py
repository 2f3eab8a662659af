"""Shared helpers for the MIDI / Continuator tests and benchmarks.

* :func:`corpus_melody` — a real melody (MIDI pitch, seconds) from the music21 corpus;
* :class:`FakeEngine` — records the commands the engine API would receive (unit tests of one
  function only; every test over a real port uses the real ``rtgen.engine.Engine``, imported
  plainly so that a broken engine fails the tests instead of skipping them);
* :class:`JackServer` — a private JACK dummy server, started and stopped by PID.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rtgen.rt import commands as cm
from rtgen.rt.layout import (
    C_NOTE_OFF,
    C_NOTE_ON,
    H_DENSITY,
    H_TENSION,
    LAYER_PLAYER,
    LF_GAIN,
    LF_INSTR,
    N_INSTR,
    P_MASTER_GAIN,
    RING_CONTROL,
)

MELODIES = {
    "bach66": ("bach/bwv66.6", None, 0),
    "bach1": ("bach/bwv1.6", None, 0),
    "bach26": ("bach/bwv26.6", None, 0),
    "oneill1": ("oneills1850/0001-0050.abc", 1, 0),
    "oneill7": ("oneills1850/0001-0050.abc", 7, 0),
    "essen_altdeu": ("essenFolksong/altdeu10.abc", 1, 0),
    "essen_ballad": ("essenFolksong/ballad10.abc", 3, 0),
}


def corpus_melody(key: str, sec_per_quarter: float = 0.35, max_notes: int = 200) -> list[tuple[int, float]]:
    """(MIDI pitch, duration in seconds) of the top line of a corpus work (ties merged, rests skipped)."""
    from music21 import corpus
    name, number, part = MELODIES[key]
    s = corpus.parse(name, number=number) if number is not None else corpus.parse(name)
    src = s.parts[part] if len(getattr(s, "parts", [])) else s
    out: list[tuple[int, float]] = []
    for n in src.stripTies().flatten().notes:
        p = max(x.midi for x in n.pitches)
        out.append((int(p), max(0.06, float(n.quarterLength) * sec_per_quarter)))
        if len(out) >= max_notes:
            break
    return out


@dataclass
class Spec:
    sample_rate: int = 48000
    block_size: int = 128


@dataclass
class FakeEngine:
    """Stands in for ``rtgen.engine.Engine`` in unit tests: a clock and a command log."""

    clock: Callable[[], float] = time.monotonic
    spec: Spec = field(default_factory=Spec)
    t0: float = 0.0
    cap: int = 1_000_000
    commands: list[tuple[int, ...]] = field(default_factory=list)
    dropped: int = 0
    full: bool = False

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        if self.t0 == 0.0:
            self.t0 = self.clock()

    def now_sample(self) -> float:
        return (self.clock() - self.t0) * self.spec.sample_rate

    def command(self, kind: int, a: float = 0.0, b: float = 0.0, c: float = 0.0, d: float = 0.0,
                e: float = 0.0, f: float = 0.0, time: float = -1, ring: int = RING_CONTROL) -> bool:
        with self.lock:
            if self.full or len(self.commands) >= self.cap:
                self.dropped += 1
                return False
            self.commands.append((kind, a, b, c, d, e, f, time, ring))
            return True

    @property
    def sample_rate(self) -> int:
        return self.spec.sample_rate

    # the engine's typed setters, encoded by the same commands module
    def send(self, cmd: cm.Command, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.command(*cmd.row(), time=time, ring=ring)

    def note_on(self, note: float, vel: float, layer: int = LAYER_PLAYER, time: float = -1,
                ring: int = RING_CONTROL) -> bool:
        return self.send(cm.NoteOn(note, vel, layer), time, ring)

    def note_off(self, note: float, layer: int = LAYER_PLAYER, time: float = -1,
                 ring: int = RING_CONTROL) -> bool:
        return self.send(cm.NoteOff(note, layer), time, ring)

    def sustain(self, down: bool, layer: int = LAYER_PLAYER, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.send(cm.Sustain(down, layer), time, ring)

    def pitch_bend(self, semitones: float, layer: int = LAYER_PLAYER, time: float = -1,
                   ring: int = RING_CONTROL) -> bool:
        return self.send(cm.PitchBend(semitones, layer), time, ring)

    def program_change(self, program: int, layer: int = LAYER_PLAYER, time: float = -1,
                       ring: int = RING_CONTROL) -> bool:
        return self.send(cm.SetLayer(layer, LF_INSTR, program % N_INSTR), time, ring)

    def all_notes_off(self, layer: int = -1, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.send(cm.AllNotesOff(layer), time, ring)

    def panic(self, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.send(cm.Panic(), time, ring)

    def set_tempo(self, bpm: float, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.send(cm.Tempo(bpm), time, ring)

    def set_master_gain(self, gain: float, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.send(cm.SetParam(P_MASTER_GAIN, max(0.0, gain)), time, ring)

    def set_layer(self, layer: int, *, gain: float | None = None, time: float = -1,
                  ring: int = RING_CONTROL) -> bool:
        return gain is None or self.send(cm.SetLayer(layer, LF_GAIN, max(0.0, gain)), time, ring)

    def set_density(self, value: float, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.send(cm.SetHarmony(H_DENSITY, value), time, ring)

    def set_tension(self, value: float, time: float = -1, ring: int = RING_CONTROL) -> bool:
        return self.send(cm.SetHarmony(H_TENSION, value), time, ring)

    def events(self) -> np.ndarray:
        return np.zeros((0, 8))

    def notes(self, layer: int | None = None) -> list[tuple[float, int, int, float]]:
        """[(time, kind, note, layer)] of note commands, sorted by time (asap = the order sent)."""
        out = []
        for k, a, _b, c, *_rest, t, _ring in self.commands:
            if k in (C_NOTE_ON, C_NOTE_OFF) and (layer is None or int(c) == layer):
                out.append((float(t), int(k), int(a), float(c)))
        return out


def stuck_notes(cmds: list[tuple[float, int, int, float]]) -> list[int]:
    """Notes left on after all commands, replayed in scheduled-time order (asap ones in send order).

    A note-off at the same time as a note-on of the same key is applied after it (the
    engine orders a chunk's events by sample, offs scheduled later stay later).
    """
    order = sorted(range(len(cmds)), key=lambda i: (cmds[i][0], i))
    on: dict[int, int] = {}
    for i in order:
        _t, k, n, _layer = cmds[i]
        if k == C_NOTE_ON:
            on[n] = on.get(n, 0) + 1
        else:
            on[n] = 0
    return sorted(n for n, v in on.items() if v > 0)


# ---------------------------------------------------------------- JACK

# a private JACK dummy server, started and stopped by PID (the project's own helper)
from rtgen.backends.jackserver import JackServer, jackd_path  # noqa: E402,F401
