"""MIDI decoding: bytes to :class:`MidiEvent` (kind, channel, a, b), no ports, no threads.

:class:`MidiParser` decodes a raw byte stream (running status, interleaved real-time bytes,
sysex skipping, stray data bytes); :func:`decode_message` decodes one complete message as
rtmidi delivers it. Both count what they drop or clamp (:class:`ParseStats`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

# ---------------------------------------------------------------- decoded message kinds
M_NOTE_ON = 1        # a=note b=velocity (1..127)
M_NOTE_OFF = 2       # a=note b=release velocity
M_CC = 3             # a=controller b=value (controllers without a dedicated kind)
M_PITCHBEND = 4      # a=-8192..8191
M_PROGRAM = 5        # a=program
M_SUSTAIN = 6        # a=0/1 (CC64 >= 64)
M_MOD = 7            # a=0..127 (CC1)
M_ALL_NOTES_OFF = 8  # CC123 (and CC124..127, which imply it)
M_PANIC = 9          # CC120 all sound off, or a system reset byte 0xFF
M_AFTERTOUCH = 10    # a=note (or -1 for channel pressure) b=pressure

KIND_NAMES = {M_NOTE_ON: "note_on", M_NOTE_OFF: "note_off", M_CC: "cc", M_PITCHBEND: "pitchbend",
              M_PROGRAM: "program", M_SUSTAIN: "sustain", M_MOD: "mod", M_ALL_NOTES_OFF: "all_notes_off",
              M_PANIC: "panic", M_AFTERTOUCH: "aftertouch"}


class MidiEvent(NamedTuple):
    kind: int
    channel: int      # 0..15 (-1 for system messages)
    a: int
    b: int


@dataclass
class ParseStats:
    messages: int = 0
    dropped: int = 0          # malformed / unusable messages and stray data bytes
    clamped: int = 0          # values forced into range
    sysex: int = 0            # sysex messages skipped
    realtime: int = 0         # real-time bytes (clock, start, ...) ignored
    ignored: int = 0          # well-formed messages rtgen does not use

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# data bytes that follow each channel status nibble
_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
# system common messages: data bytes that follow (0xF0 sysex handled apart)
_SYS_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF4: 0, 0xF5: 0, 0xF6: 0, 0xF7: 0}


def _channel_event(status: int, d: list[int], stats: ParseStats) -> MidiEvent | None:
    """Decode a channel message whose data bytes are already known to be 0..127."""
    hi = status & 0xF0
    ch = status & 0x0F
    if hi == 0x90:
        if d[1] == 0:                           # velocity 0 is a note-off
            return MidiEvent(M_NOTE_OFF, ch, d[0], 0)
        return MidiEvent(M_NOTE_ON, ch, d[0], d[1])
    if hi == 0x80:
        return MidiEvent(M_NOTE_OFF, ch, d[0], d[1])
    if hi == 0xB0:
        cc, v = d
        if cc == 64:
            return MidiEvent(M_SUSTAIN, ch, 1 if v >= 64 else 0, v)
        if cc == 1:
            return MidiEvent(M_MOD, ch, v, 0)
        if cc == 120:
            return MidiEvent(M_PANIC, ch, 0, 0)
        if cc in (123, 124, 125, 126, 127):     # omni/mono/poly mode changes imply all notes off
            return MidiEvent(M_ALL_NOTES_OFF, ch, 0, 0)
        return MidiEvent(M_CC, ch, cc, v)
    if hi == 0xE0:
        return MidiEvent(M_PITCHBEND, ch, (d[0] | (d[1] << 7)) - 8192, 0)
    if hi == 0xC0:
        return MidiEvent(M_PROGRAM, ch, d[0], 0)
    if hi == 0xA0:
        return MidiEvent(M_AFTERTOUCH, ch, d[0], d[1])
    if hi == 0xD0:
        return MidiEvent(M_AFTERTOUCH, ch, -1, d[0])
    stats.dropped += 1
    return None


def decode_message(msg: Iterable[int], stats: ParseStats | None = None) -> MidiEvent | None:
    """Decode one complete message (as delivered by rtmidi).

    Data bytes above 127 (impossible on the wire, possible from a buggy source) are
    clamped into 0..127 and counted; truncated or unknown messages are dropped and counted.
    """
    st = stats if stats is not None else ParseStats()
    m = list(msg)
    if not m:
        st.dropped += 1
        return None
    status = int(m[0])
    if status < 0x80 or status > 0xFF:
        st.dropped += 1
        return None
    if status == 0xF0:
        st.sysex += 1
        return None
    if status >= 0xF8:
        if status == 0xFF:
            st.messages += 1
            return MidiEvent(M_PANIC, -1, 0, 0)
        st.realtime += 1
        return None
    if status >= 0xF1:
        st.ignored += 1
        return None
    need = _DATA_LEN[status & 0xF0]
    if len(m) < 1 + need:
        st.dropped += 1
        return None
    d = []
    for x in m[1:1 + need]:
        x = int(x)
        if x < 0 or x > 127:
            st.clamped += 1
            x = 0 if x < 0 else 127
        d.append(x)
    ev = _channel_event(status, d, st)
    if ev is not None:
        st.messages += 1
    return ev


class MidiParser:
    """Byte-stream MIDI parser with running status.

    Rules (MIDI 1.0 Detailed Specification, section "Running Status" and "System
    Real Time Messages"): a channel status byte sets the running status; data bytes
    without a new status reuse it; real-time bytes (0xF8..0xFF) may appear anywhere,
    even inside another message, and change nothing; system common messages and sysex
    cancel running status; a sysex runs until 0xF7 or the next status byte. Data bytes
    with no running status (e.g. after a sysex) are dropped and counted.
    """

    def __init__(self) -> None:
        self.stats = ParseStats()
        self._running = 0          # running channel status, 0 = none
        self._sys = 0              # pending system common status
        self._data: list[int] = []
        self._in_sysex = False

    def reset(self) -> None:
        self._running = 0
        self._sys = 0
        self._data = []
        self._in_sysex = False

    def feed(self, data: bytes | bytearray | Iterable[int]) -> list[MidiEvent]:
        out: list[MidiEvent] = []
        st = self.stats
        for raw in data:
            b = int(raw) & 0xFF
            if b >= 0xF8:                       # real-time: transparent
                if b == 0xFF:
                    out.append(MidiEvent(M_PANIC, -1, 0, 0))
                    st.messages += 1
                else:
                    st.realtime += 1
                continue
            if self._in_sysex:
                if b == 0xF7:
                    self._in_sysex = False
                    st.sysex += 1
                    continue
                if b < 0x80:
                    continue                    # sysex payload
                self._in_sysex = False          # unterminated sysex: a status byte ends it
                st.sysex += 1
            if b >= 0x80:
                if self._data:                  # previous message was incomplete
                    st.dropped += 1
                    self._data = []
                if b == 0xF0:
                    self._in_sysex = True
                    self._running = 0
                    self._sys = 0
                elif b >= 0xF1:
                    self._running = 0
                    n = _SYS_LEN[b]
                    if b == 0xF7:               # end of exclusive without a start
                        st.dropped += 1
                        self._sys = 0
                    elif n == 0:
                        st.ignored += 1
                        self._sys = 0
                    else:
                        self._sys = b
                else:
                    self._running = b
                    self._sys = 0
                continue
            # data byte
            if self._sys:
                self._data.append(b)
                if len(self._data) >= _SYS_LEN[self._sys]:
                    st.ignored += 1
                    self._data = []
                    self._sys = 0
                continue
            if not self._running:
                st.dropped += 1                 # stray data byte
                continue
            self._data.append(b)
            if len(self._data) >= _DATA_LEN[self._running & 0xF0]:
                ev = _channel_event(self._running, self._data, st)
                self._data = []
                if ev is not None:
                    st.messages += 1
                    out.append(ev)
        return out
