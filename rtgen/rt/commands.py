"""Typed commands: what the control side asks of the audio thread, and each one's ring row.

A command crosses from a control thread (the API, MIDI input, the Continuator, a game) to the
audio thread as one row of a command ring: ``[kind, a, b, c, d, e, f, time]`` (see ``C_*`` in
:mod:`rtgen.rt.layout` for what the kernel reads from each column). This module is the one
place that knows those columns: every command is a small typed record (a NamedTuple, cheap
enough to build per MIDI message) whose :meth:`row` gives ``(kind, a, b, c, d, e, f)``; the
``time`` (absolute sample, or -1 for as soon as possible) and the ring are given when it is
sent (:meth:`rtgen.engine.Engine.send`).

Code outside the engine does not build rows: it calls the engine's typed setters
(``note_on``, ``set_tempo``, ``set_layer`` …), which build these commands.

>>> NoteOn(60, 100, layer=3).row()
(1, 60.0, 100.0, 3.0, -1.0, -1.0, 0.0)
>>> SetHarmony(0, 9).row()
(9, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0)
"""

from __future__ import annotations

from typing import NamedTuple

from .layout import (
    C_ALL_OFF,
    C_GEN_ACTIVE,
    C_GEN_F,
    C_GEN_I,
    C_HARM,
    C_LAYER,
    C_METER,
    C_NOTE_NOW,
    C_NOTE_OFF,
    C_NOTE_ON,
    C_PANIC,
    C_PARAM,
    C_PITCHBEND,
    C_RESET_CLOCK,
    C_SUSTAIN,
    C_SWING,
    C_TEMPO,
    C_VOICE,
    H_BASE_OCTAVE,
    H_CHORD,
    H_CHORD_LEN,
    H_CHORD_ROOT,
    H_ROOT,
    H_SCALE,
    H_SCALE_LEN,
    H_VERSION,
)

Row = tuple[int, float, float, float, float, float, float]


def _row(kind: int, a: float = 0.0, b: float = 0.0, c: float = 0.0, d: float = 0.0, e: float = 0.0,
         f: float = 0.0) -> Row:
    return (kind, float(a), float(b), float(c), float(d), float(e), float(f))


class NoteOn(NamedTuple):
    """Start a note on a layer (instrument -1: the layer's; note_id -1: the engine picks one).

    >>> NoteOn(64.5, 90, layer=0, instrument=2, pan=-0.5).row()
    (1, 64.5, 90.0, 0.0, 2.0, -1.0, -0.5)
    """

    note: float
    velocity: float
    layer: int
    instrument: int = -1
    note_id: int = -1
    pan: float = 0.0

    def row(self) -> Row:
        return _row(C_NOTE_ON, self.note, self.velocity, self.layer, self.instrument, self.note_id, self.pan)


class NoteOff(NamedTuple):
    """Release a note on a layer (note_id -1: every voice playing that note there).

    >>> NoteOff(60, layer=3).row()
    (2, 60.0, 0.0, 3.0, 0.0, -1.0, 0.0)
    """

    note: float
    layer: int
    note_id: int = -1

    def row(self) -> Row:
        return _row(C_NOTE_OFF, self.note, 0.0, self.layer, 0.0, self.note_id)


class NoteFor(NamedTuple):
    """A one-shot note that ends by itself after ``samples`` (stingers, previews).

    >>> NoteFor(72, 110, layer=7, instrument=-1, samples=24000.0).row()
    (14, 72.0, 110.0, 7.0, -1.0, 0.0, 24000.0)
    """

    note: float
    velocity: float
    layer: int
    instrument: int
    samples: float

    def row(self) -> Row:
        return _row(C_NOTE_NOW, self.note, self.velocity, self.layer, self.instrument, 0.0, self.samples)


class Sustain(NamedTuple):
    """The sustain pedal of a layer, down or up.

    >>> Sustain(True, layer=3).row()
    (3, 1.0, 0.0, 3.0, 0.0, 0.0, 0.0)
    """

    down: bool
    layer: int

    def row(self) -> Row:
        return _row(C_SUSTAIN, 1.0 if self.down else 0.0, 0.0, self.layer)


class PitchBend(NamedTuple):
    """Bend every voice of a layer by ``semitones``.

    >>> PitchBend(-2.0, layer=3).row()
    (13, -2.0, 0.0, 3.0, 0.0, 0.0, 0.0)
    """

    semitones: float
    layer: int

    def row(self) -> Row:
        return _row(C_PITCHBEND, self.semitones, 0.0, self.layer)


class SetParam(NamedTuple):
    """Set a global parameter ``p[param]`` (``P_*``).

    >>> SetParam(4, 0.5).row()
    (4, 4.0, 0.5, 0.0, 0.0, 0.0, 0.0)
    """

    param: int
    value: float

    def row(self) -> Row:
        return _row(C_PARAM, self.param, self.value)


class SetLayer(NamedTuple):
    """Set a layer's column ``lf[layer, column]`` (``LF_*``: gain, pan, mute, instrument).

    >>> SetLayer(2, 0, 0.9).row()
    (5, 2.0, 0.0, 0.9, 0.0, 0.0, 0.0)
    """

    layer: int
    column: int
    value: float

    def row(self) -> Row:
        return _row(C_LAYER, self.layer, self.column, self.value)


class SetGenWord(NamedTuple):
    """Set a generator slot's state word: ``gi[slot, word]`` (ints) or ``gf[slot, word]`` (floats).

    >>> SetGenWord(1, 17, 30, floats=False).row()
    (6, 1.0, 17.0, 30.0, 0.0, 0.0, 0.0)
    >>> SetGenWord(1, 2, 0.5, floats=True).row()
    (7, 1.0, 2.0, 0.5, 0.0, 0.0, 0.0)
    """

    slot: int
    word: int
    value: float
    floats: bool = False

    def row(self) -> Row:
        return _row(C_GEN_F if self.floats else C_GEN_I, self.slot, self.word, self.value)


class SetGenActive(NamedTuple):
    """Switch a generator slot on or off (off releases the notes it started).

    >>> SetGenActive(3, False).row()
    (8, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """

    slot: int
    on: bool

    def row(self) -> Row:
        return _row(C_GEN_ACTIVE, self.slot, 1.0 if self.on else 0.0)


class SetHarmony(NamedTuple):
    """Set one word of the shared harmonic context ``harm[word]`` (``H_*``).

    >>> SetHarmony(23, 0.25).row()
    (9, 23.0, 0.25, 0.0, 0.0, 0.0, 0.0)
    """

    word: int
    value: float

    def row(self) -> Row:
        return _row(C_HARM, self.word, self.value)


class AllNotesOff(NamedTuple):
    """Release every voice of a layer (-1: of every layer) and lift its sustain pedal.

    >>> AllNotesOff().row()
    (10, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """

    layer: int = -1

    def row(self) -> Row:
        return _row(C_ALL_OFF, self.layer)


class Panic(NamedTuple):
    """Silence at once: every voice killed, pending notes forgotten.

    >>> Panic().row()
    (11, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """

    def row(self) -> Row:
        return _row(C_PANIC)


class Tempo(NamedTuple):
    """The tempo in bpm (from the next chunk; the beat phase continues).

    >>> Tempo(128).row()
    (12, 128.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """

    bpm: float

    def row(self) -> Row:
        return _row(C_TEMPO, self.bpm)


class ResetClock(NamedTuple):
    """Move the beat clock to ``beat`` (a transport start).

    >>> ResetClock(0).row()
    (15, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """

    beat: float

    def row(self) -> Row:
        return _row(C_RESET_CLOCK, self.beat)


class Meter(NamedTuple):
    """Beats per bar.

    >>> Meter(3).row()
    (16, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """

    beats_per_bar: int

    def row(self) -> Row:
        return _row(C_METER, self.beats_per_bar)


class Swing(NamedTuple):
    """Swing, 0 (straight) .. 0.75.

    >>> Swing(0.33).row()
    (17, 0.33, 0.0, 0.0, 0.0, 0.0, 0.0)
    """

    swing: float

    def row(self) -> Row:
        return _row(C_SWING, self.swing)


class VoiceControl(NamedTuple):
    """A live control of sounding voices: by note id (``note_id`` >= 0), or every voice playing
    ``note`` on ``layer`` (``note_id`` -1). ``column``: ``VF_VIB_DEPTH`` (cents), ``VF_VIB_RATE``
    (Hz), ``VF_BRIGHT`` (-1..1) or ``VF_BREATH`` (dB). A layer's default is a ``SetLayer`` of
    ``LF_VIB_DEPTH`` ... (it moves the layer's sounding voices too).

    >>> VoiceControl(-1, 34, 40.0, note=60, layer=3).row()
    (18, -1.0, 34.0, 40.0, 60.0, 3.0, 0.0)
    """

    note_id: float
    column: int
    value: float
    note: float = 0.0
    layer: int = 0

    def row(self) -> Row:
        return _row(C_VOICE, self.note_id, self.column, self.value, self.note, self.layer)


Command = (NoteOn | NoteOff | NoteFor | Sustain | PitchBend | SetParam | SetLayer | SetGenWord | SetGenActive
           | SetHarmony | AllNotesOff | Panic | Tempo | ResetClock | Meter | Swing | VoiceControl)


def harmony_commands(version: float, root: float | None = None, scale: tuple[int, ...] | list[int] | None = None,
                     chord: tuple[int, ...] | list[int] | None = None,
                     base_octave: float | None = None) -> list[SetHarmony]:
    """The rows of one harmonic change, in the order the kernel expects, ending with its version.

    Parts left ``None`` keep their value; ``chord=()`` clears the chord. Values are taken as
    given (validated by the caller). The version goes last: a generator that sees it changed
    sees the whole change.

    >>> [(c.word, c.value) for c in harmony_commands(5.0, root=2, chord=(2, 6, 9))]
    [(0, 2.0), (14, 2.0), (15, 3.0), (16, 2.0), (17, 6.0), (18, 9.0), (25, 5.0)]
    """
    out: list[SetHarmony] = []
    if root is not None:
        out.append(SetHarmony(H_ROOT, float(root)))
    if scale is not None:
        out.append(SetHarmony(H_SCALE_LEN, float(len(scale))))
        out += [SetHarmony(H_SCALE + i, float(x)) for i, x in enumerate(scale)]
    if chord is not None:
        out.append(SetHarmony(H_CHORD_ROOT, float(chord[0]) if len(chord) else -1.0))
        out.append(SetHarmony(H_CHORD_LEN, float(len(chord))))
        out += [SetHarmony(H_CHORD + i, float(x)) for i, x in enumerate(chord)]
    if base_octave is not None:
        out.append(SetHarmony(H_BASE_OCTAVE, float(base_octave)))
    out.append(SetHarmony(H_VERSION, float(version)))
    return out


__all__ = ["AllNotesOff", "Command", "Meter", "NoteFor", "NoteOff", "NoteOn", "Panic", "PitchBend", "ResetClock",
           "Row", "SetGenActive", "SetGenWord", "SetHarmony", "SetLayer", "SetParam", "Sustain", "Swing", "Tempo",
           "harmony_commands"]
