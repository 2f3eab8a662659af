"""The music tables' schema: ``[params]``, ``[states]`` and ``[stingers]`` of a TOML file or dict.

Parsing and checking only (each error names the table and key): targets (``layer:``, ``gen:``,
``param:``, ``tempo`` …), parameter maps onto :class:`~rtgen.game.curves.Curve`, states built
from presets with overrides, stingers as note lists. :class:`~rtgen.game.controller.MusicController`
plays what these return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..rt.layout import (
    LAYER_NAMES,
    LAYER_STINGER,
    N_GEN,
)
from .curves import Curve

QUANTA = ("immediate", "beat", "bar")
GLOBAL_TARGETS = ("tempo", "master", "swing", "density", "tension", "morph")


# ------------------------------------------------------------------ tables
_MAP_KEYS: dict[str, tuple[type, ...]] = {"target": (str,), "curve": (str,), "lo": (int, float),
                                          "hi": (int, float), "k": (int, float), "steps": (int,)}
_PARAM_KEYS: dict[str, tuple[type, ...]] = {"default": (int, float), "map": (list,), "min": (int, float),
                                            "max": (int, float)}
_STATE_KEYS: dict[str, tuple[type, ...]] = {
    "preset": (str,), "tempo": (int, float), "key": (str,), "scale": (str,), "chord": (list,),
    "layers": (dict,), "generator": (list,), "stinger": (str,), "burst": (dict,), "beats_per_bar": (int,),
    "swing": (int, float), "quantum": (str,),
}
_STINGER_KEYS: dict[str, tuple[type, ...]] = {"notes": (list,), "layer": (str, int), "relative": (bool,),
                                              "instrument": (int,)}
_BURST_KEYS: dict[str, tuple[type, ...]] = {"generator": (dict,), "beats": (int, float)}


def _check_type(value: Any, types: tuple[type, ...], where: str, key: str) -> None:
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "an array",
                 dict: "a table"}
        want = "a number" if set(types) == {int, float} else " or ".join(dict.fromkeys(names[t] for t in types))
        raise ConfigError(f"{where}: key '{key}' must be {want}, not {type(value).__name__} ({value!r})")


def _check_table(doc: Any, allowed: Mapping[str, tuple[type, ...]], where: str) -> None:
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: must be a table, not {type(doc).__name__}")
    for k, v in doc.items():
        if k not in allowed:
            raise ConfigError(f"{where}: unknown key '{k}'; known: {', '.join(sorted(allowed))}")
        _check_type(v, allowed[k], where, k)


def parse_target(target: str, where: str = "target") -> tuple[str, str, str]:
    """``"layer:rules"`` -> ("layer", "rules", ""); ``"gen:ca1d.density"`` -> ("gen", "ca1d", "density")."""
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{where}: a target is a non-empty string")
    if target in GLOBAL_TARGETS:
        return target, "", ""
    kind, sep, rest = target.partition(":")
    if not sep or not rest:
        raise ConfigError(f"{where}: unknown target {target!r}; targets: layer:NAME, gen:NAME.PARAM, "
                          f"param:NAME, {', '.join(GLOBAL_TARGETS)}")
    if kind == "layer" and "." in rest:        # layer:NAME.CONTROL, a voice control of the layer
        from ..engine import Engine

        lname, _, ctl = rest.partition(".")
        if lname not in LAYER_NAMES or ctl not in Engine.VOICE_CONTROLS:
            raise ConfigError(f"{where}: unknown layer control {target!r}; layer:NAME.CONTROL with a layer of "
                              f"{', '.join(LAYER_NAMES)} and a control of {', '.join(Engine.VOICE_CONTROLS)}")
        return kind, lname, ctl
    if kind == "layer":
        if rest not in LAYER_NAMES:
            raise ConfigError(f"{where}: unknown layer {rest!r} in {target!r}; layers: {', '.join(LAYER_NAMES)}")
        return kind, rest, ""
    if kind == "gen":
        name, dot, prm = rest.partition(".")
        if not dot or not name or not prm:
            raise ConfigError(f"{where}: a generator target is gen:NAME.PARAM, not {target!r}")
        return kind, name, prm
    if kind == "param":
        return kind, rest, ""
    raise ConfigError(f"{where}: unknown target kind {kind!r} in {target!r}")


@dataclass(frozen=True)
class Mapping1:
    """One curve from a named parameter to a target."""

    target: str
    curve: Curve


@dataclass
class ParamSpec:
    name: str
    default: float = 0.0
    lo: float = 0.0
    hi: float = 1.0
    maps: tuple[Mapping1, ...] = ()


def parse_params(table: Mapping[str, Any], where: str = "params") -> dict[str, ParamSpec]:
    """Validate a parameter table ``{name: {default, min, max, map: [{target, curve, lo, hi, k, steps}]}}``."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table of parameters")
    out: dict[str, ParamSpec] = {}
    for name, doc in table.items():
        w = f"{where}.{name}"
        _check_table(doc, _PARAM_KEYS, w)
        lo = float(doc.get("min", 0.0))
        hi = float(doc.get("max", 1.0))
        if not hi > lo:
            raise ConfigError(f"{w}: key 'max' must be greater than 'min'")
        default = float(doc.get("default", lo))
        if not lo <= default <= hi:
            raise ConfigError(f"{w}: key 'default' must be in {lo}..{hi}")
        maps = []
        for i, m in enumerate(doc.get("map", [])):
            wm = f"{w}.map[{i}]"
            _check_table(m, _MAP_KEYS, wm)
            if "target" not in m:
                raise ConfigError(f"{wm}: key 'target' is missing")
            parse_target(m["target"], f"{wm}: key 'target'")
            try:
                c = Curve(kind=m.get("curve", "linear"), lo=float(m.get("lo", 0.0)), hi=float(m.get("hi", 1.0)),
                          k=float(m.get("k", 4.0)), steps=int(m.get("steps", 4)))
            except ConfigError as e:
                raise ConfigError(f"{wm}: {e}") from None
            maps.append(Mapping1(m["target"], c))
        out[str(name)] = ParamSpec(str(name), default, lo, hi, tuple(maps))
    return out


@dataclass(frozen=True)
class StingerSpec:
    """Notes ``(beat offset, MIDI note, velocity, length in beats)`` played from a beat or bar."""

    name: str
    notes: tuple[tuple[float, float, float, float], ...]
    layer: int = LAYER_STINGER
    relative: bool = False        # notes are relative to C: transposed to the current key
    instrument: int = -1


def parse_stingers(table: Mapping[str, Any], where: str = "stingers") -> dict[str, StingerSpec]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table of stingers")
    out: dict[str, StingerSpec] = {}
    for name, doc in table.items():
        w = f"{where}.{name}"
        _check_table(doc, _STINGER_KEYS, w)
        notes = []
        for i, n in enumerate(doc.get("notes", [])):
            if (not isinstance(n, list) or len(n) != 4
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in n)):
                raise ConfigError(f"{w}: key 'notes' item {i} must be [beat, note, velocity, beats]")
            off, note, vel, dur = (float(x) for x in n)
            if not (0 <= off <= 64 and 0 <= note <= 127 and 1 <= vel <= 127 and 0 < dur <= 64):
                raise ConfigError(f"{w}: key 'notes' item {i} out of range (beat 0..64, note 0..127, "
                                  "velocity 1..127, beats 0..64)")
            notes.append((off, note, vel, dur))
        if not notes:
            raise ConfigError(f"{w}: key 'notes' is missing or empty")
        lay = doc.get("layer", LAYER_STINGER)
        try:
            from ..engine import Engine
            layer = Engine.layer_index(lay)
        except ConfigError as e:
            raise ConfigError(f"{w}: key 'layer': {e}") from None
        out[str(name)] = StingerSpec(str(name), tuple(notes), layer, bool(doc.get("relative", False)),
                                     int(doc.get("instrument", -1)))
    return out


@dataclass
class StateSpec:
    """A music state: the generators that play, layer gains, tempo, harmony and transition material."""

    name: str
    generators: list[Any] = field(default_factory=list)       # Sequencer objects
    layers: dict[str, float] = field(default_factory=dict)
    tempo: float | None = None
    root: int | None = None
    scale: tuple[int, ...] | None = None
    chord: tuple[int, ...] | None = None
    beats_per_bar: int | None = None
    swing: float | None = None
    stinger: str | None = None            # played on the transition sample
    burst: tuple[Any, float] | None = None    # (Sequencer, beats) played from the transition sample
    quantum: str = "bar"                  # default quantum of a transition into this state


def state_from_preset(name: str, preset: Any) -> StateSpec:
    """A state with everything a :class:`rtgen.gen.presets.PresetSpec` sets."""
    return StateSpec(name=name, generators=[s for s, _ in preset.generators], layers=dict(preset.layers),
                     tempo=float(preset.tempo), root=int(preset.key), scale=tuple(preset.scale),
                     beats_per_bar=int(preset.beats_per_bar), swing=float(preset.swing))


def parse_states(table: Mapping[str, Any], where: str = "states",
                 stingers: Mapping[str, StingerSpec] | None = None,
                 base_dir: str | Path | None = None) -> dict[str, StateSpec]:
    """Validate a state table. Each state may name a ``preset`` (a shipped name, or a path
    relative to ``base_dir`` that stays inside it) and override parts of it."""
    from ..gen import theory
    from ..gen.presets import build_sequencer, load_preset_ref

    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table of states")
    out: dict[str, StateSpec] = {}
    for name, doc in table.items():
        w = f"{where}.{name}"
        _check_table(doc, _STATE_KEYS, w)
        if "preset" in doc:
            try:
                st = state_from_preset(str(name), load_preset_ref(doc["preset"], base_dir, f"{w}.preset"))
            except ConfigError as e:
                raise ConfigError(f"{w}: key 'preset': {e}") from None
        else:
            st = StateSpec(str(name))
        for i, g in enumerate(doc.get("generator", [])):
            st.generators.append(build_sequencer(g, f"{w}: generator {i + 1}"))
        if len(st.generators) > N_GEN // 2:
            # two states coexist in the slots until the transition sample
            raise ConfigError(f"{w}: at most {N_GEN // 2} generators per state (transitions need room)")
        if "tempo" in doc:
            st.tempo = float(doc["tempo"])
            if not 20.0 <= st.tempo <= 400.0:
                raise ConfigError(f"{w}: key 'tempo' must be 20..400 bpm")
        if "key" in doc:
            try:
                tonic, minor = theory.parse_key(doc["key"])
                st.root = tonic
                st.scale = tuple(theory.scale_by_name(doc.get("scale", "minor" if minor else "major")))
            except ConfigError as e:
                raise ConfigError(f"{w}: key 'key': {e}") from None
        elif "scale" in doc:
            try:
                st.scale = tuple(theory.scale_by_name(doc["scale"]))
            except ConfigError as e:
                raise ConfigError(f"{w}: key 'scale': {e}") from None
        if "chord" in doc:
            ch = doc["chord"]
            if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 12 for x in ch) or len(ch) > 6:
                raise ConfigError(f"{w}: key 'chord' must be up to 6 pitch classes 0..11")
            st.chord = tuple(ch)
        for lname, gain in doc.get("layers", {}).items():
            if lname not in LAYER_NAMES:
                raise ConfigError(f"{w}: key 'layers.{lname}': unknown layer; layers: {', '.join(LAYER_NAMES)}")
            _check_type(gain, (int, float), w, f"layers.{lname}")
            if not 0.0 <= gain <= 4.0:
                raise ConfigError(f"{w}: key 'layers.{lname}' must be 0..4")
            st.layers[lname] = float(gain)
        if "beats_per_bar" in doc:
            if not 1 <= doc["beats_per_bar"] <= 32:
                raise ConfigError(f"{w}: key 'beats_per_bar' must be 1..32")
            st.beats_per_bar = int(doc["beats_per_bar"])
        if "swing" in doc:
            if not 0.0 <= doc["swing"] <= 0.75:
                raise ConfigError(f"{w}: key 'swing' must be 0..0.75")
            st.swing = float(doc["swing"])
        if "stinger" in doc:
            if stingers is not None and doc["stinger"] not in stingers:
                raise ConfigError(f"{w}: key 'stinger': no stinger named {doc['stinger']!r}")
            st.stinger = doc["stinger"]
        if "burst" in doc:
            b = doc["burst"]
            _check_table(b, _BURST_KEYS, f"{w}.burst")
            if "generator" not in b:
                raise ConfigError(f"{w}.burst: key 'generator' is missing")
            beats = float(b.get("beats", 4))
            if not 0 < beats <= 64:
                raise ConfigError(f"{w}.burst: key 'beats' must be 0..64")
            st.burst = (build_sequencer(b["generator"], f"{w}.burst: generator"), beats)
        if "quantum" in doc:
            if doc["quantum"] not in QUANTA:
                raise ConfigError(f"{w}: key 'quantum' must be one of {', '.join(QUANTA)}")
            st.quantum = doc["quantum"]
        out[str(name)] = st
    return out


def load_music(path: str | Path) -> dict[str, Any]:
    """Read ``[params]``, ``[states]`` and ``[stingers]`` tables of a TOML file (other tables are ignored)."""
    import tomllib

    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    out: dict[str, Any] = {}
    for k in ("params", "states", "stingers"):
        if k in doc:
            if not isinstance(doc[k], dict):
                raise ConfigError(f"{p}: key '{k}' must be a table")
            out[k] = doc[k]
    return out
