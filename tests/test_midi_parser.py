"""MidiParser (byte streams) and decode_message (whole messages): running status, sysex, strays, ranges."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtgen.control.midi import (
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
    MidiInput,
    MidiParser,
    ParseStats,
    decode_message,
)
from rtgen.rt.layout import (
    C_ALL_OFF,
    C_NOTE_OFF,
    C_NOTE_ON,
    C_PANIC,
    C_PITCHBEND,
    C_SUSTAIN,
    LAYER_PLAYER,
    RING_MIDI,
)
from tests.midi_harness import FakeEngine, stuck_notes


def test_running_status_and_velocity_zero():
    p = MidiParser()
    ev = p.feed(bytes([0x90, 60, 100, 62, 90, 60, 0, 62, 0]))
    assert ev == [MidiEvent(M_NOTE_ON, 0, 60, 100), MidiEvent(M_NOTE_ON, 0, 62, 90),
                  MidiEvent(M_NOTE_OFF, 0, 60, 0), MidiEvent(M_NOTE_OFF, 0, 62, 0)]
    assert p.stats.dropped == 0


def test_realtime_bytes_inside_a_message_keep_running_status():
    p = MidiParser()
    ev = p.feed(bytes([0x93, 64, 0xF8, 80, 0xFE, 65, 81]))
    assert ev == [MidiEvent(M_NOTE_ON, 3, 64, 80), MidiEvent(M_NOTE_ON, 3, 65, 81)]
    assert p.stats.realtime == 2


def test_sysex_is_skipped_and_cancels_running_status():
    p = MidiParser()
    ev = p.feed(bytes([0x90, 60, 100, 0xF0, 0x7E, 1, 2, 3, 0xF7, 61, 100, 0x80, 60, 0]))
    # 61, 100 after the sysex have no running status: two stray data bytes
    assert ev == [MidiEvent(M_NOTE_ON, 0, 60, 100), MidiEvent(M_NOTE_OFF, 0, 60, 0)]
    assert p.stats.sysex == 1 and p.stats.dropped == 2


def test_unterminated_sysex_ends_at_next_status():
    p = MidiParser()
    ev = p.feed(bytes([0xF0, 1, 2, 3, 0x91, 50, 60]))
    assert ev == [MidiEvent(M_NOTE_ON, 1, 50, 60)]
    assert p.stats.sysex == 1


def test_stray_data_and_truncated_messages_are_counted():
    p = MidiParser()
    ev = p.feed(bytes([5, 6, 0x90, 60, 0xB0, 7, 100]))
    assert ev == [MidiEvent(M_CC, 0, 7, 100)]
    assert p.stats.dropped == 3          # two strays and the truncated note-on


def test_controllers_bend_program_panic():
    p = MidiParser()
    ev = p.feed(bytes([0xB0, 64, 127, 64, 0, 1, 33, 123, 0, 120, 0, 0xE2, 0, 64, 0x7F, 0x7F, 0xC5, 9, 0xFF]))
    assert ev == [MidiEvent(M_SUSTAIN, 0, 1, 127), MidiEvent(M_SUSTAIN, 0, 0, 0), MidiEvent(M_MOD, 0, 33, 0),
                  MidiEvent(M_ALL_NOTES_OFF, 0, 0, 0), MidiEvent(M_PANIC, 0, 0, 0),
                  MidiEvent(M_PITCHBEND, 2, 0, 0), MidiEvent(M_PITCHBEND, 2, 8191, 0),
                  MidiEvent(M_PROGRAM, 5, 9, 0), MidiEvent(M_PANIC, -1, 0, 0)]


def test_system_common_cancels_running_status():
    p = MidiParser()
    ev = p.feed(bytes([0x90, 60, 100, 0xF2, 1, 2, 61, 100]))
    assert ev == [MidiEvent(M_NOTE_ON, 0, 60, 100)]
    assert p.stats.ignored == 1 and p.stats.dropped == 2


def test_decode_message_out_of_range_is_clamped_and_counted():
    s = ParseStats()
    assert decode_message([0x90, 60, 300], s) == MidiEvent(M_NOTE_ON, 0, 60, 127)
    assert decode_message([0x90, -4, 10], s) == MidiEvent(M_NOTE_ON, 0, 0, 10)
    assert s.clamped == 2
    assert decode_message([0x90, 60], s) is None
    assert decode_message([], s) is None
    assert decode_message([12, 1, 2], s) is None
    assert s.dropped == 3
    assert decode_message([0xF0, 1, 0xF7], s) is None and s.sysex == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_never_crash_and_account_for_everything(data: bytes):
    p = MidiParser()
    half = len(data) // 2
    ev = p.feed(data[:half]) + p.feed(data[half:])        # a message may straddle two reads
    for e in ev:
        if e.kind == M_PITCHBEND:
            assert -8192 <= e.a <= 8191
        else:
            assert -1 <= e.a <= 127
        assert 0 <= e.b <= 127
        assert -1 <= e.channel <= 15
    assert p.stats.messages == len(ev)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0x80, 0xEF), st.integers(0, 127), st.integers(0, 127)), max_size=60))
def test_fuzz_running_status_equals_full_status(msgs: list[tuple[int, int, int]]):
    """A stream written with running status decodes like the same stream with every status byte."""
    from rtgen.control.midi import _DATA_LEN
    full, rs = bytearray(), bytearray()
    last = 0
    for s, a, b in msgs:
        d = [a, b][: _DATA_LEN[s & 0xF0]]
        full += bytes([s, *d])
        rs += bytes(d) if s == last else bytes([s, *d])
        last = s
    assert MidiParser().feed(full) == MidiParser().feed(rs)


@pytest.fixture()
def dispatcher():
    eng = FakeEngine()
    mi = MidiInput(eng, None, api="dummy")     # not started: exercises the dispatch path only
    return eng, mi


def test_dispatch_schedules_at_constant_latency(dispatcher):
    eng, mi = dispatcher
    t = time.monotonic()
    mi.dispatch(MidiEvent(M_NOTE_ON, 0, 60, 100), t)
    mi.dispatch(MidiEvent(M_NOTE_OFF, 0, 60, 0), t + 0.1)
    (k1, a1, b1, c1, *_r1, t1, r1), (k2, a2, *_r2, t2, r2) = eng.commands
    assert (k1, a1, b1, c1, r1) == (C_NOTE_ON, 60, 100, LAYER_PLAYER, RING_MIDI)
    assert (k2, a2, r2) == (C_NOTE_OFF, 60, RING_MIDI)
    sr = 48000
    lat = (t1 - (t - eng.t0) * sr) / sr
    assert abs(lat - (128 / sr + 0.002)) < 1e-3        # default: one block + 2 ms
    assert abs((t2 - t1) / sr - 0.1) < 1e-3


def test_dispatch_controls_and_counts_drops(dispatcher):
    eng, mi = dispatcher
    t = time.monotonic()
    for ev in (MidiEvent(M_SUSTAIN, 0, 1, 127), MidiEvent(M_PITCHBEND, 0, -8192, 0),
               MidiEvent(M_ALL_NOTES_OFF, 0, 0, 0), MidiEvent(M_PANIC, -1, 0, 0)):
        mi.dispatch(ev, t)
    kinds = [c[0] for c in eng.commands]
    assert kinds == [C_SUSTAIN, C_PITCHBEND, C_ALL_OFF, C_PANIC]
    assert eng.commands[1][1] == -2.0
    eng.full = True
    mi.dispatch(MidiEvent(M_NOTE_ON, 0, 61, 100), t)
    assert mi.stats.dropped_ring == 1 and eng.dropped == 1


def test_stray_note_off_and_release_on_stop(dispatcher):
    eng, mi = dispatcher
    t = time.monotonic()
    mi.dispatch(MidiEvent(M_NOTE_OFF, 0, 50, 0), t)       # stray: harmless
    mi.dispatch(MidiEvent(M_NOTE_ON, 0, 60, 100), t)
    mi.dispatch(MidiEvent(M_NOTE_ON, 0, 64, 100), t)
    assert stuck_notes(eng.notes()) == [60, 64]
    mi._release_held()                                    # what stop() and a disconnect do
    assert stuck_notes(eng.notes()) == []
