"""Write ``examples/song.mid``: the "Ode to Joy" theme (Beethoven, 9th symphony, 1824; public
domain) with a simple bass, for ``rtgen render out.wav --midi-file examples/song.mid``.

    python examples/make_song_mid.py [OUT.mid]

The notes are encoded here by hand: melody on channel 1 (GM flute), bass on channel 2
(GM acoustic bass), 4/4 at 100 bpm, 16 bars (about 38 s).
"""

from __future__ import annotations

import sys
from pathlib import Path

import mido

TPB = 480          # ticks per quarter note
BPM = 100

# (MIDI pitch, quarter notes); C major. A phrase of 4 bars, as the theme is usually written.
_A = [(64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1),
      (60, 1), (60, 1), (62, 1), (64, 1)]
PHRASE_1 = _A + [(64, 1.5), (62, 0.5), (62, 2)]
PHRASE_2 = _A + [(62, 1.5), (60, 0.5), (60, 2)]
PHRASE_3 = [(62, 1), (62, 1), (64, 1), (60, 1), (62, 1), (64, 0.5), (65, 0.5), (64, 1), (60, 1),
            (62, 1), (64, 0.5), (65, 0.5), (64, 1), (62, 1), (60, 1), (62, 1), (55, 2)]
MELODY = PHRASE_1 + PHRASE_2 + PHRASE_3 + PHRASE_2
# one bass note a bar (root of the bar's harmony), whole notes
BASS = [48, 43, 48, 43, 48, 43, 48, 48,      # phrases 1 and 2: C G C G, C G C C
        43, 48, 43, 43, 48, 43, 48, 48]      # phrase 3 (ends on the dominant) and the last phrase


def track(notes: list[tuple[int, float]], channel: int, program: int, velocity: int, name: str,
          gap: int = 24) -> mido.MidiTrack:
    """One channel's notes, each released ``gap`` ticks early (an articulated, not slurred, line)."""
    t = mido.MidiTrack()
    t.append(mido.MetaMessage("track_name", name=name, time=0))
    t.append(mido.Message("program_change", channel=channel, program=program, time=0))
    wait = 0
    for pitch, quarters in notes:
        ticks = int(round(quarters * TPB))
        t.append(mido.Message("note_on", channel=channel, note=pitch, velocity=velocity, time=wait))
        t.append(mido.Message("note_off", channel=channel, note=pitch, velocity=0, time=ticks - gap))
        wait = gap
    return t


def song() -> mido.MidiFile:
    assert abs(sum(q for _, q in MELODY) - 4 * len(BASS)) < 1e-9, "melody and bass must be the same length"
    mid = mido.MidiFile(ticks_per_beat=TPB)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    mid.tracks.append(meta)
    mid.tracks.append(track(MELODY, 0, 73, 96, "melody (flute)"))
    mid.tracks.append(track([(p, 4.0) for p in BASS], 1, 32, 80, "bass"))
    return mid


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).with_name("song.mid")
    song().save(str(out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
