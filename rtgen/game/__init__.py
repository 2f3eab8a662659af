"""Game integration: named parameters, states, quantised transitions, stingers, beat callbacks.

What a game developer used to FMOD or Wwise expects of interactive music::

    from rtgen import Engine, EngineSpec
    from rtgen.game import MusicController

    eng = Engine(EngineSpec(bpm=100))
    music = MusicController(eng, params={
        "intensity": {"default": 0.2, "map": [
            {"target": "layer:automata", "curve": "scurve", "lo": 0.0, "hi": 1.0},
            {"target": "gen:ca1d.density", "curve": "linear", "lo": 0.2, "hi": 1.0}]},
    }, states={
        "explore": {"preset": "chorale"},
        "combat": {"preset": "ca1d", "tempo": 140, "stinger": "hit"},
    }, stingers={"hit": {"notes": [[0, 72, 120, 1.0], [0, 79, 120, 1.0]]}})
    music.set_state("explore", "immediate")
    music.on_bar(lambda b: print("bar", b.bar))
    ...
    music.set_param("intensity", 0.9)
    music.set_state("combat", "bar")          # lands on the first sample of the next bar
    music.poll()                              # from the game loop: drains events, runs callbacks

Timing: a quantised request computes the sample of the next beat or bar with
:meth:`rtgen.engine.Engine.next_boundary` and sends every command of the change with that
``time``, so the engine applies them on exactly that sample whatever thread sends them
or when the audio thread picks them up.

Targets (what a parameter curve, a MIDI binding or an OSC message can drive):

``layer:NAME``      layer gain (multiplied with the state's gain for that layer)
``layer:NAME.CONTROL``  a live voice control of the layer (``Engine.set_voice_controls``):
                    ``vibrato`` (cents), ``vibrato_rate`` (Hz), ``brightness`` (-1..1), ``breath`` (dB)
``gen:NAME.PARAM``  a live generator parameter (``NAME`` is the generator type, e.g. ``ca1d``,
                    or the slot number; every generator of the current state that matches)
``param:NAME``      another named controller parameter (a MIDI fader can drive ``intensity``)
``tempo``           bpm, 20..400
``master``          master gain
``swing``           0..0.75
``density``, ``tension``  the harmonic context hints (``H_DENSITY``, ``H_TENSION``) generators read
``morph``           neural timbre: how far voices move towards ``Engine.set_morph``'s instrument

The package: :mod:`~rtgen.game.curves` (parameter curves), :mod:`~rtgen.game.schema` (the
TOML tables: targets, params, states, stingers) and :mod:`~rtgen.game.controller` (the
:class:`MusicController` and what it hands back: :class:`Beat`, :class:`Transition`).
"""

from __future__ import annotations

from .controller import (
    Beat,
    BeatCallback,
    MusicController,
    RateLimitedLog,
    Transition,
    beat_anchor,
    beat_at,
    sample_at_beat,
)
from .curves import CURVE_KINDS, Curve
from .schema import (
    GLOBAL_TARGETS,
    QUANTA,
    Mapping1,
    ParamSpec,
    StateSpec,
    StingerSpec,
    load_music,
    parse_params,
    parse_states,
    parse_stingers,
    parse_target,
    state_from_preset,
)

__all__ = ["CURVE_KINDS", "GLOBAL_TARGETS", "QUANTA", "Beat", "BeatCallback", "Curve", "Mapping1", "MusicController",
           "ParamSpec", "RateLimitedLog", "StateSpec", "StingerSpec", "Transition", "beat_anchor", "beat_at",
           "load_music", "parse_params", "parse_states", "parse_stingers", "parse_target", "sample_at_beat",
           "state_from_preset"]
