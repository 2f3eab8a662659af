"""render --midi-out / --stems: a track per layer, stems that sum to the mix (through the CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def test_render_midi_out_and_stems_sum_to_mix(tmp_path: Path) -> None:
    import mido
    import soundfile as sf

    from rtgen.cli import main

    out, mid, stems = tmp_path / "mix.wav", tmp_path / "notes.mid", tmp_path / "stems"
    assert main(["render", str(out), "--preset", "groove", "--seconds", "10", "--seed", "3",
                 "--midi-out", str(mid), "--stems", str(stems)]) == 0
    mix, sr = sf.read(out)
    files = sorted(stems.glob("*.wav"))
    assert {f.stem for f in files} >= {"rules", "grammar", "aux1"}       # harmony, lead, bass
    total = sum(sf.read(f)[0] for f in files)
    err = np.sqrt(np.mean((mix - total) ** 2)) / np.sqrt(np.mean(mix ** 2))
    assert err < 1e-3, err                                # 24-bit files: about -100 dB measured
    for f in files:                                       # each stem is a real part of the mix
        x = sf.read(f)[0]
        assert np.sqrt(np.mean(x ** 2)) > 1e-3 * np.sqrt(np.mean(mix ** 2))
    m = mido.MidiFile(mid)
    names = [t.name for t in m.tracks]
    assert names[0] == "rtgen" and "grammar" in names and "aux1" in names
    notes = {t.name: [x for x in t if x.type == "note_on"] for t in m.tracks}
    assert len(notes["aux1"]) > 3 and all(x.note <= 55 for x in notes["aux1"])     # the bass register
    progs = [x for t in m.tracks for x in t if x.type == "program_change"]
    assert progs and all(x.channel != 9 for x in progs)
