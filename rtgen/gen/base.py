"""The Python side of a generator: a ``Sequencer`` fills one engine slot.

A subclass sets ``kind`` (a ``GK_*`` code dispatched in :mod:`rtgen.gen.dispatch`) and
implements :meth:`pack`, which writes its tables and initial state into the slot's
arrays. Live parameters are listed by :meth:`params` so the control path (presets,
MIDI learn, OSC, the game API) can change them with ``C_GEN_I``/``C_GEN_F`` commands
without knowing the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rt.layout import (
    GF_DENSITY,
    GF_GATE,
    GF_HUMANIZE,
    GF_VEL,
    GI_ACTIVE,
    GI_FIT_CHORD,
    GI_INSTR,
    GI_KIND,
    GI_LAYER,
    GI_RNG,
    GI_STEPS_PER_BEAT,
)
from ..rt.rng import seed_state


@dataclass(frozen=True)
class Param:
    """A live parameter of a generator: which word of the slot, its type and range."""

    name: str
    array: str            # "i" (gi, int64) or "f" (gf, float64)
    index: int
    lo: float
    hi: float
    doc: str = ""


class Sequencer:
    """Base class of every generator. Subclasses set ``kind`` and override ``pack``."""

    kind: int = 0
    name: str = "sequencer"

    def __init__(self, *, layer: int = 0, steps_per_beat: int = 4, gate: float = 0.9,
                 velocity: float = 90.0, density: float = 1.0, humanize: float = 0.0,
                 instrument: int = -1, fit_chord: bool = False) -> None:
        self.layer = int(layer)
        self.steps_per_beat = int(steps_per_beat)
        self.gate = float(gate)
        self.velocity = float(velocity)
        self.density = float(density)
        self.humanize = float(humanize)
        self.instrument = int(instrument)
        self.fit_chord = bool(fit_chord)       # semitone rubs against the chord move onto it

    # -- the slot ---------------------------------------------------------------------
    def pack_common(self, gi: np.ndarray, gf: np.ndarray, seed: int, slot: int) -> None:
        gi[:] = 0
        gf[:] = 0.0
        gi[GI_KIND] = self.kind
        gi[GI_ACTIVE] = 0
        gi[GI_LAYER] = self.layer
        gi[GI_RNG] = seed_state(int(seed), int(slot) + 1)
        gi[GI_STEPS_PER_BEAT] = max(1, self.steps_per_beat)
        gi[GI_INSTR] = self.instrument
        gf[GF_GATE] = self.gate
        gf[GF_VEL] = self.velocity
        gf[GF_DENSITY] = self.density
        gf[GF_HUMANIZE] = self.humanize
        gi[GI_FIT_CHORD] = int(self.fit_chord)

    def pack(self, gi: np.ndarray, gf: np.ndarray, gbuf: np.ndarray, seed: int, slot: int) -> None:
        """Fill the slot. Subclasses call ``pack_common`` first, then write GI_USER.., GF_USER.., gbuf."""
        self.pack_common(gi, gf, seed, slot)

    def params(self) -> list[Param]:
        """Live parameters (common ones; subclasses extend the list)."""
        return [
            Param("steps_per_beat", "i", GI_STEPS_PER_BEAT, 1, 16, "grid resolution"),
            Param("gate", "f", GF_GATE, 0.05, 4.0, "note length as a fraction of a step"),
            Param("velocity", "f", GF_VEL, 1, 127, "base velocity"),
            Param("density", "f", GF_DENSITY, 0.0, 1.0, "probability that a step plays"),
            Param("humanize", "f", GF_HUMANIZE, 0.0, 1.0, "velocity randomisation"),
        ]
