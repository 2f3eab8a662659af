"""MIDI for rtgen (python-rtmidi on ALSA or JACK): where a played note enters, and where played
notes leave.

- :mod:`.decode`: bytes to :class:`MidiEvent` (no ports, no threads);
- :mod:`.ports`: the rtmidi API and opening ports;
- :mod:`.input`: :class:`MidiInput`, the thread that turns each event into an engine setter
  call at constant latency (the note then travels as a typed command, :mod:`rtgen.rt.commands`,
  to the kernel that renders it);
- :mod:`.output`: :class:`MidiOutput`, the engine's notes to an external synth.
"""

from __future__ import annotations

from .decode import (
    _DATA_LEN,
    _SYS_LEN,
    KIND_NAMES,
    M_AFTERTOUCH,
    M_ALL_NOTES_OFF,
    M_CC,
    M_MOD,
    M_NOTE_OFF,
    M_NOTE_ON,
    M_PANIC,
    M_PITCHBEND,
    M_PROGRAM,
    M_SUSTAIN,
    MidiEvent,
    MidiParser,
    ParseStats,
    decode_message,
)
from .input import MOD_VIBRATO_CENTS, JitterMeter, Listener, MidiInput, MidiInStats
from .output import MidiOutput, MidiOutStats
from .ports import _api_id, find_port, jack_running, list_ports, open_port, resolve_api

__all__ = ["KIND_NAMES", "M_AFTERTOUCH", "M_ALL_NOTES_OFF", "M_CC", "M_MOD", "M_NOTE_OFF", "M_NOTE_ON", "M_PANIC",
           "M_PITCHBEND", "M_PROGRAM", "M_SUSTAIN", "MOD_VIBRATO_CENTS", "JitterMeter", "Listener", "MidiEvent",
           "MidiInStats", "MidiInput", "MidiOutStats", "MidiOutput", "MidiParser", "ParseStats", "_DATA_LEN",
           "_SYS_LEN", "_api_id", "decode_message", "find_port", "jack_running", "list_ports", "open_port",
           "resolve_api"]
