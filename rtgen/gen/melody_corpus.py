"""Melodies from a corpus: music21's corpora by name, MIDI/ABC/MusicXML/kern files or folders.

The Continuator's style library and its benchmarks read melodies here: the top line of a
work (ties merged, rests and grace notes skipped, the highest note of a chord), durations in
quarter notes, and the key *referent* (the tonic of the major key with the work's key
signature; from the notes, Krumhansl-Schmuckler, when there is none).

Named sets (music21 ships them; needs the ``style`` extra, ``pip install rtgen[style]``):

* ``bach/chorales``: the soprano lines of the 371 chorales (Riemenschneider numbering);
* ``bach/chorales185``: the first 185 chorales of BWV 253-438 in that numbering (the size of
  the set in M. Pearce's 2005 evaluation);
* ``essen/kinder``: Essen folk songs, the 213 children's songs (``essenFolksong/kinder0.abc``);
* ``essen/<file>`` (e.g. ``essen/altdeu10``), ``oneills1850``: O'Neill's 1850 Irish tunes;
* any other music21 corpus path (``bach/bwv66.6``, ``essenFolksong/ballad10.abc``).

Parsing is slow (the 213 Essen songs take about 15 s), so extracted melodies are cached as
JSON under ``$XDG_CACHE_HOME/rtgen-corpus`` (``~/.cache`` by default), keyed by music21's version.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .keydetect import detect_key

MUSIC_EXT = (".mid", ".midi", ".abc", ".xml", ".musicxml", ".mxl", ".krn")


@dataclass
class Melody:
    name: str
    pitches: list[int]
    durations: list[float]          # quarter notes
    key_ref: int                    # pitch class scale degrees count from
    beats_per_bar: int = 4


def _music21() -> Any:
    try:
        import music21
    except ImportError as e:
        raise ConfigError(f"corpora need music21 (pip install 'rtgen[style]'): {e}") from None
    return music21


def melody_of(score: Any, name: str) -> Melody | None:
    """The top line of a parsed music21 score (or part) as a :class:`Melody`; None if it has no notes."""
    parts = getattr(score, "parts", None)
    src = parts[0] if parts is not None and len(parts) else score
    pitches: list[int] = []
    durs: list[float] = []
    for n in src.stripTies().flatten().notes:
        ql = float(n.quarterLength)
        if ql <= 0:                                   # grace note
            continue
        pitches.append(int(max(p.midi for p in n.pitches)))
        durs.append(ql)
    if not pitches:
        return None
    ks = list(src.recurse().getElementsByClass("KeySignature"))
    if ks:
        ref = (7 * int(ks[0].sharps)) % 12
    else:
        r, m, _ = detect_key(pitches, durs)
        ref = r if m == 0 else (r + 3) % 12
    ts = list(src.recurse().getElementsByClass("TimeSignature"))
    bpb = int(ts[0].numerator) if ts else 4
    return Melody(name, pitches, durs, ref, bpb)


def _cache_path(key: str) -> Path:
    m21 = _music21()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rtgen-corpus"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
    return base / f"{safe}-m21-{m21.__version__}.json"


def _corpus_works(name: str) -> list[str]:
    """music21 corpus paths of a named set (a single path for a plain corpus name)."""
    m21 = _music21()
    if name in ("bach/chorales", "bach/chorales185"):
        files = list(m21.corpus.chorales.Iterator(numberingSystem="riemenschneider", returnType="filename"))
        uniq = list(dict.fromkeys(files))
        if name == "bach/chorales185":
            sel = [f for f in uniq if (mm := re.match(r"bach/bwv(\d+)", f)) and 253 <= int(mm.group(1)) <= 438]
            return sel[:185]
        return uniq
    if name == "essen/kinder":
        return ["essenFolksong/kinder0.abc"]
    if name.startswith("essen/"):
        stem = name.split("/", 1)[1]
        return [f"essenFolksong/{stem}" + ("" if stem.endswith(".abc") else ".abc")]
    if name == "oneills1850":
        root = Path(m21.__file__).parent / "corpus" / "oneills1850"
        return sorted(f"oneills1850/{p.name}" for p in root.glob("*.abc"))
    return [name]


def _parse_corpus(name: str) -> list[Melody]:
    m21 = _music21()
    out: list[Melody] = []
    for work in _corpus_works(name):
        try:
            s = m21.corpus.parse(work)
        except Exception as e:                        # music21 raises many kinds for a missing work
            raise ConfigError(f"unknown music21 corpus work {work!r} ({type(e).__name__})") from None
        scores = list(s.scores) if hasattr(s, "scores") and len(getattr(s, "scores", [])) else [s]
        for i, sc in enumerate(scores):
            mel = melody_of(sc, f"{work}#{i}" if len(scores) > 1 else work)
            if mel is not None:
                out.append(mel)
    return out


def _parse_file(path: Path) -> list[Melody]:
    m21 = _music21()
    try:
        s = m21.converter.parse(str(path))
    except Exception as e:
        raise ConfigError(f"{path}: cannot read it as music ({type(e).__name__})") from None
    scores = list(s.scores) if hasattr(s, "scores") and len(getattr(s, "scores", [])) else [s]
    return [m for i, sc in enumerate(scores) if (m := melody_of(sc, f"{path.name}#{i}")) is not None]


def load_melodies(source: str, max_melodies: int | None = None, cache: bool = True) -> list[Melody]:
    """Melodies of a file, a folder of files, or a music21 corpus name (see the module docstring)."""
    p = Path(source)
    local = p.exists() or p.is_absolute() or source.startswith(".")
    if local or (p.suffix.lower() in MUSIC_EXT and p.parent == Path(".")):
        if not p.exists():
            raise ConfigError(f"{source}: no such file or folder")
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in MUSIC_EXT) if p.is_dir() else [p]
        if not files:
            raise ConfigError(f"{source}: no MIDI, ABC, MusicXML or kern files in it")
        mels = [m for f in files for m in _parse_file(f)]
    else:
        cp = _cache_path(source) if cache else None
        mels = []
        if cp is not None and cp.exists():
            try:
                mels = [Melody(**d) for d in json.loads(cp.read_text())]
            except (OSError, ValueError, TypeError):
                mels = []
        if not mels:
            try:
                mels = _parse_corpus(source)
            except ConfigError:
                if p.suffix.lower() in MUSIC_EXT:
                    raise ConfigError(f"{source}: no such file or folder, nor music21 corpus work") from None
                raise
            if cp is not None and mels:
                try:
                    cp.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cp.with_suffix(".tmp")
                    tmp.write_text(json.dumps([asdict(m) for m in mels]))
                    tmp.replace(cp)
                except OSError:
                    pass
    if not mels:
        raise ConfigError(f"{source}: no melodies found")
    return mels[:max_melodies] if max_melodies else mels


__all__ = ["Melody", "load_melodies", "melody_of"]
