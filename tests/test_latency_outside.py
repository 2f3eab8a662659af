"""Latency measured from outside the program, on JACK's own frame clock (the real Engine).

A JACK client in its own process (benchmarks/jackprobe.py) writes MIDI into rtgen's JACK MIDI port
at frames it records and records rtgen's audio on the same clock. Measured on 2026-12-03 (2
shared vCPUs, load 6-9), 128-frame period:

- note-on -> the note's first sample: min 2.2 ms, median 3.1-3.6, p99 4.8-9.6 (30-100 notes);
  constant-latency scheduling is one block + 2 ms = 4.67 ms after the event reaches rtgen's MIDI
  thread, which rtmidi hands over without its offset in the cycle (so 2.0-4.7 ms by design);
- the Continuator's first answer sample, from the moment the phrase end can be known (last
  note-off + its silence threshold): median 5.4-5.9 ms, max 6.4-21.7 (3-8 phrases).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bench_midi import measure_answer_latency, measure_midi_to_audio
from rtgen.backends.jackserver import jackd_path

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(jackd_path() is None, reason="jackd is not installed (apt-get install jackd2)")]


def test_midi_note_to_sound_from_outside() -> None:
    m = measure_midi_to_audio(128, 40)
    lat = m["lat_ms"]
    assert m["heard"] == m["sent"] == 40, m
    # never sooner than the constant latency allows (2 ms + the block, less the cycle's phase),
    # and the median within ~2x of the measured 3.1-3.6 ms
    assert lat.min() >= 2.0 - 0.1, lat
    assert np.median(lat) <= 7.0, lat
    # most notes within two blocks + 3 ms (the p99 target); a loaded machine delays a few
    assert np.mean(lat <= 2 * 128 / 48 + 3.0) >= 0.9, lat


def test_continuator_answer_from_outside() -> None:
    m = measure_answer_latency(3)
    det = m["from_detection_ms"]
    assert m["all_heard"], m["extra"]
    assert len(det) == 3
    # the answer is heard after the phrase end is known (not before: no answer over the player)
    assert det.min() >= 0.0, det
    assert np.median(det) <= 15.0 and det.max() <= 30.0, (det, m["extra"])
    # from the last note-off: the silence threshold (0.25-0.5 s) plus the above
    assert np.all(m["from_note_off_ms"] <= m["threshold_ms"] + 30.0)
