"""The chord Markov chain the arrangements progress by, learnt from Bach's chorales.

``python -m rtgen.gen.chordtable`` reads music21's corpus of Bach chorales, labels each
beat's chord with a Roman numeral in the chorale's key (music21's analysis), counts the
transitions between successive different chords (majors and minors apart) and writes
``rtgen/gen/data/chords_bach.json``; rtgen ships that small file and needs no music21 at run
time. :func:`load_table` reads it; :class:`ChordChain` samples phrases that end on a cadence.
"""

from __future__ import annotations

import json
import random
import sys
from importlib import resources
from pathlib import Path

#: the chords the chain knows (numerals in the key; the case gives the quality)
VOCAB_MAJOR = ("I", "ii", "iii", "IV", "V", "vi", "viio", "V7", "ii7", "IV7", "vi7", "I7")
VOCAB_MINOR = ("i", "iio", "III", "iv", "v", "V", "VI", "VII", "viio", "V7", "iv7", "iio7", "i7")
DATA = "chords_bach.json"


def _label(rn, minor: bool) -> str | None:
    fig = rn.romanNumeral
    if rn.quality == "diminished":
        fig += "o"
    if rn.isSeventh():
        fig += "7"
    if fig.endswith("o7") and fig not in VOCAB_MINOR + VOCAB_MAJOR:
        fig = fig[:-1]
    vocab = VOCAB_MINOR if minor else VOCAB_MAJOR
    return fig if fig in vocab else None


def build(limit: int = 200, out: Path | None = None) -> dict:
    """Count chord transitions in up to ``limit`` chorales; write and return the table."""
    from music21 import corpus, roman

    tables: dict[str, dict[str, dict[str, int]]] = {"major": {}, "minor": {}}
    starts: dict[str, dict[str, int]] = {"major": {}, "minor": {}}
    n = 0
    for path in corpus.getComposer("bach"):
        if n >= limit:
            break
        if not str(path).endswith((".mxl", ".xml", ".krn")):
            continue
        try:
            s = corpus.parse(path)
            k = s.analyze("key")
            minor = k.mode == "minor"
            chords = s.chordify().flatten().getElementsByClass("Chord")
        except Exception:                     # a file music21 cannot read or analyse
            continue
        n += 1
        mode = "minor" if minor else "major"
        prev: str | None = None
        for c in chords:
            if float(c.offset) % 1.0 != 0.0 or len(c.pitchClasses) < 3:
                continue
            try:
                lab = _label(roman.romanNumeralFromChord(c, k), minor)
            except Exception:
                lab = None
            if lab is None:
                prev = None
                continue
            if prev is None:
                starts[mode][lab] = starts[mode].get(lab, 0) + 1
            elif lab != prev:
                row = tables[mode].setdefault(prev, {})
                row[lab] = row.get(lab, 0) + 1
            prev = lab
    doc = {"source": f"music21 corpus, {n} Bach chorales; beat chords, Roman numerals in the analysed key",
           "transitions": tables, "starts": starts}
    p = out or Path(__file__).with_name("data") / DATA
    p.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return doc


def load_table() -> dict:
    return json.loads(resources.files("rtgen.gen").joinpath("data", DATA).read_text())


class ChordChain:
    """Samples chord numerals from the learnt table; phrases end on cadences."""

    def __init__(self, minor: bool, rng: random.Random, table: dict | None = None) -> None:
        t = table or load_table()
        self.mode = "minor" if minor else "major"
        self.trans = t["transitions"][self.mode]
        self.rng = rng
        self.tonic = "i" if minor else "I"
        self.dominant = "V"
        self.pre = ("iv", "iio", "VI") if minor else ("IV", "ii", "ii7", "vi")

    def step(self, cur: str) -> str:
        row = self.trans.get(cur)
        if not row:
            return self.tonic
        items = sorted(row.items())
        tot = sum(v for _, v in items)
        x = self.rng.random() * tot
        for lab, v in items:
            x -= v
            if x < 0:
                return lab
        return items[-1][0]

    def phrase(self, n: int, start: str | None, cadence: str) -> list[str]:
        """``n`` chords starting from ``start`` (the tonic when None) ending on ``cadence``:
        ``"authentic"`` (pre-dominant, V, I), ``"half"`` (.., V), ``"plagal"`` (IV, I) or ``"none"``."""
        out = [start or self.tonic]
        while len(out) < n:
            out.append(self.step(out[-1]))
        if cadence == "authentic" and n >= 3:
            out[-3] = out[-3] if out[-3] in self.pre else self.rng.choice(self.pre)
            out[-2] = self.rng.choice(("V", "V7"))
            out[-1] = self.tonic
        elif cadence == "half" and n >= 2:
            out[-2] = out[-2] if out[-2] in self.pre + (self.tonic,) else self.rng.choice(self.pre)
            out[-1] = "V"
        elif cadence == "plagal" and n >= 2:
            out[-2] = "iv" if self.mode == "minor" else "IV"
            out[-1] = self.tonic
        return out


if __name__ == "__main__":
    doc = build(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print(doc["source"])
