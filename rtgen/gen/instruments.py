"""Instrument names for presets and arrangements: the planned band, and a fallback per name.

Presets name instruments (``instrument = "synth_bass"``). The band every part of rtgen codes
against has 25 instruments (GM programs, a drum kit at 24); a timbre that does not have one yet
plays the nearest one it has (a bass on the piano, a pad on the strings). The drum kit has no
pitched stand-in: without it, drum parts are left out (:func:`resolve` returns -1).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..timbre.base import INSTRUMENTS

#: the planned instrument set, engine index order (name, GM program; the kit is bank 128)
BAND: tuple[str, ...] = (
    "piano", "vibraphone", "nylon_guitar", "strings", "choir", "trumpet", "clarinet", "flute",
    "electric_piano", "organ", "steel_guitar", "electric_guitar", "acoustic_bass", "finger_bass",
    "synth_bass", "violin", "cello", "pizzicato", "trombone", "horns", "sax", "marimba", "synth_lead",
    "synth_pad", "drums",
)

#: what a name plays while the timbre lacks it
FALLBACK: dict[str, str] = {
    "electric_piano": "piano", "organ": "clarinet", "steel_guitar": "nylon_guitar",
    "electric_guitar": "nylon_guitar", "acoustic_bass": "piano", "finger_bass": "piano",
    "synth_bass": "piano", "violin": "strings", "cello": "strings", "pizzicato": "nylon_guitar",
    "trombone": "trumpet", "horns": "trumpet", "sax": "clarinet", "marimba": "vibraphone",
    "synth_lead": "clarinet", "synth_pad": "strings",
}

DRUMS = "drums"


def available() -> list[str]:
    """Names the built-in timbres have now (engine index order)."""
    return [n for n, _ in INSTRUMENTS]


def resolve(name: str | int, where: str = "instrument") -> int:
    """Engine index of an instrument name (or index); -1 for the drum kit when absent.

    An unknown name raises :class:`ConfigError` with one line listing the valid names.
    """
    have = available()
    if isinstance(name, int) and not isinstance(name, bool):
        if not -1 <= name < len(have):
            raise ConfigError(f"{where}: instrument {name} out of range -1..{len(have) - 1}")
        return name
    s = str(name)
    if s in have:
        return have.index(s)
    if s not in BAND:
        raise ConfigError(f"{where}: unknown instrument {s!r}; valid: {', '.join(dict.fromkeys(have + list(BAND)))}")
    if s == DRUMS:
        return -1
    return have.index(FALLBACK[s])


def has_drums() -> bool:
    return DRUMS in available()


__all__ = ["BAND", "DRUMS", "FALLBACK", "available", "has_drums", "resolve"]
