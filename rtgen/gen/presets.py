"""Presets: TOML files (``rtgen/presets/*.toml``) describing tempo, key, layers and generators.

::

    description = "..."
    tempo = 96            # bpm
    key = "D"             # tonic; lower case or "D minor" = minor
    scale = "major"       # optional (default: major / natural minor from the key)
    swing = 0.0
    beats_per_bar = 4
    [layers]              # gains by layer name (rules, grammar, automata, player, ...)
    rules = 0.8
    [[generator]]
    type = "chorale"      # euclid chorale melody dice serial grammar lsystem ca1d life cyclic
    layer = "rules"       # name or index
    progression = "I vi ii7 V7"

Every key is checked: an unknown key, a wrong type or an unknown generator type raises
:class:`~rtgen.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from ..errors import ConfigError
from ..rt.layout import LAYER_NAMES, N_GEN, P_BEATS_PER_BAR, P_SWING, S_SAMPLE
from . import theory
from .base import Sequencer
from .instruments import resolve as resolve_instrument
from .registry import COMMON_KEYS, REGISTRY

_INT = (int,)
_NUM = (int, float)
_STR = (str,)
_LIST = (list,)
_TABLE = (dict,)

_COMMON = COMMON_KEYS

#: generator type -> (class, its own keys and their TOML types), derived from the registry
GENERATORS: dict[str, tuple[type[Sequencer], dict[str, tuple[type, ...]]]] = {
    n: (d.cls, d.keys) for n, d in REGISTRY.items()}

_TOP: dict[str, tuple[type, ...]] = {
    "name": _STR, "description": _STR, "tempo": _NUM, "key": _STR, "scale": _STR, "swing": _NUM,
    "beats_per_bar": _INT, "layers": _TABLE, "generator": _LIST, "fx": _TABLE, "midi_map": _TABLE,
    # the game/performance tables (rtgen.game validates them when a MusicController uses them)
    "params": _TABLE, "states": _TABLE, "stingers": _TABLE,
    # the band: roles over a form (rtgen.gen.band)
    "arrangement": _TABLE,
}

# the voices' sound: "neural" (the default) or "additive" (the fallback's own sound)
_TOP["timbre"] = _STR
TIMBRES = ("neural", "additive")


@dataclass(frozen=True)
class PresetSpec:
    """A loaded preset. ``generators`` = ((Sequencer, layer index), ...) in slot order."""

    name: str
    description: str
    tempo: float
    key: int                       # tonic pitch class
    key_name: str
    scale: tuple[int, ...]
    scale_name: str
    swing: float
    beats_per_bar: int
    layers: dict[str, float] = field(default_factory=dict)
    generators: tuple[tuple[Sequencer, int], ...] = ()
    source: str = ""
    timbre: str = "neural"            # "neural" or "additive": the voices' sound
    fx: dict | None = None            # the validated [fx] table (rtgen.fx), None: no effects
    midi_map: Any = None              # [midi_map]: parsed by rtgen.control.params.read_preset_file, else raw
    arrangement: Any = None           # the validated [arrangement] (rtgen.gen.band.ArrangementSpec), or None

    @property
    def bpm(self) -> float:
        return self.tempo


def _typename(types: tuple[type, ...]) -> str:
    names = {int: "integer", float: "number", str: "string", bool: "true/false", list: "array",
             dict: "table"}
    return " or ".join(dict.fromkeys(names[t] for t in types))


def _check(value: Any, types: tuple[type, ...], where: str, key: str) -> None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise ConfigError(f"{where}: key '{key}' must be {_typename(types)}, not {type(value).__name__} "
                          f"({value!r})")


def _layer_index(value: str | int, where: str) -> int:
    if isinstance(value, int):
        if not 0 <= value < len(LAYER_NAMES):
            raise ConfigError(f"{where}: key 'layer' must be 0..{len(LAYER_NAMES) - 1}")
        return value
    if value not in LAYER_NAMES:
        raise ConfigError(f"{where}: key 'layer': unknown layer {value!r}; known: {', '.join(LAYER_NAMES)}")
    return LAYER_NAMES.index(value)


def build_sequencer(table: dict, where: str, key: str | None = None) -> Sequencer:
    """A Sequencer from a generator table (``type`` + keys); ``where`` names it in errors.

    ``key`` is the preset's key, the default of a chorale's ``key``.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a generator must be a table")
    gtype = table.get("type")
    if gtype is None:
        raise ConfigError(f"{where}: key 'type' is missing (one of {', '.join(GENERATORS)})")
    _check(gtype, _STR, where, "type")
    if gtype not in GENERATORS:
        raise ConfigError(f"{where}: key 'type': unknown generator type {gtype!r}; known: "
                          f"{', '.join(GENERATORS)}")
    cls, own = GENERATORS[gtype]
    allowed = {**_COMMON, **own}
    kwargs: dict[str, Any] = {}
    for k, v in table.items():
        if k not in allowed:
            raise ConfigError(f"{where}: unknown key '{k}' for a {gtype} generator; known: "
                              f"{', '.join(sorted(allowed))}")
        _check(v, allowed[k], where, k)
        if k == "type":
            continue
        kwargs[k] = _layer_index(v, where) if k == "layer" else v
    if isinstance(kwargs.get("instrument"), str):
        kwargs["instrument"] = resolve_instrument(kwargs["instrument"], f"{where}: key 'instrument'")
    for k in ("gate", "velocity", "density", "humanize"):
        if k in kwargs:
            kwargs[k] = float(kwargs[k])
    lim = {"steps_per_beat": (1, 16), "gate": (0.01, 8.0), "velocity": (1, 127), "density": (0.0, 1.0),
           "humanize": (0.0, 1.0)}
    for k, (lo, hi) in lim.items():
        if k in kwargs and not lo <= kwargs[k] <= hi:
            raise ConfigError(f"{where}: key '{k}' must be in {lo}..{hi}, not {kwargs[k]}")
    if gtype == "chorale" and "key" not in kwargs and key is not None:
        kwargs["key"] = key
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _preset_dir():
    return resources.files("rtgen").joinpath("presets")


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    d = _preset_dir()
    try:
        return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".toml"))
    except FileNotFoundError:
        return []


def _read(name_or_path: str | Path) -> tuple[str, str, bytes]:
    s = str(name_or_path)
    path = Path(s)
    if s.endswith(".toml") or path.exists() or "/" in s:
        if not path.is_file():
            raise ConfigError(f"{s}: no such preset file")
        return path.stem, str(path), path.read_bytes()
    res = _preset_dir().joinpath(s + ".toml")
    if not res.is_file():
        raise ConfigError(f"unknown preset {s!r}; shipped: {', '.join(list_presets())}")
    return s, f"presets/{s}.toml", res.read_bytes()


def load_preset_ref(ref: Any, base_dir: str | Path | None = None, where: str = "preset") -> PresetSpec:
    """A preset named *inside another file* (a state's ``preset``, a MIDI-map scene).

    Either a shipped preset name (no path), or a ``.toml`` path relative to the referencing
    file's folder (``base_dir``, default: the working folder) that stays inside it: absolute
    paths and ``..`` that climb out are refused, so a shared preset cannot make rtgen read
    files elsewhere.
    """
    s = str(ref)
    if not s or "\x00" in s:
        raise ConfigError(f"{where}: an empty or invalid preset reference")
    if "/" not in s and "\\" not in s and not s.endswith(".toml"):
        res = _preset_dir().joinpath(s + ".toml")
        if not res.is_file():
            raise ConfigError(f"{where}: no shipped preset named {s!r}; shipped: {', '.join(list_presets())}")
        return load_preset(s)
    p = Path(s)
    if p.is_absolute():
        raise ConfigError(f"{where}: preset reference {s!r} must be relative to the preset's folder")
    base = Path(base_dir if base_dir is not None else Path.cwd()).resolve()
    full = (base / p).resolve()
    if not full.is_relative_to(base):
        raise ConfigError(f"{where}: preset reference {s!r} leaves the preset's folder {base}")
    return load_preset(full)


def load_preset(name_or_path: str | Path) -> PresetSpec:
    """Load and validate a shipped preset by name, or a ``.toml`` file by path."""
    name, where, data = _read(name_or_path)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None
    return parse_preset(doc, where, name)


def parse_preset(doc: dict, where: str = "<preset>", name: str = "preset", midi_map: Any = None) -> PresetSpec:
    """Validate a preset already read as a dict (see the module docstring).

    ``midi_map``: the parsed ``[midi_map]`` (the one loader, ``rtgen.control.params.read_preset_file``,
    parses it, since its targets belong to the control layer); without it the raw table is kept.
    """
    for k, v in doc.items():
        if k not in _TOP:
            raise ConfigError(f"{where}: unknown key '{k}'; known: {', '.join(sorted(_TOP))}")
        _check(v, _TOP[k], where, k)
    tempo = float(doc.get("tempo", 110.0))
    if not 20.0 <= tempo <= 400.0:
        raise ConfigError(f"{where}: key 'tempo' must be 20..400 bpm, not {tempo}")
    swing = float(doc.get("swing", 0.0))
    if not 0.0 <= swing <= 0.75:
        raise ConfigError(f"{where}: key 'swing' must be 0..0.75, not {swing}")
    timbre = str(doc.get("timbre", "neural")).strip().lower()
    if timbre not in TIMBRES:
        raise ConfigError(f"{where}: key 'timbre' must be one of {', '.join(TIMBRES)}, not {doc['timbre']!r}")
    bpb = int(doc.get("beats_per_bar", 4))
    if not 1 <= bpb <= 16:
        raise ConfigError(f"{where}: key 'beats_per_bar' must be 1..16")
    key_name = doc.get("key", "C")
    try:
        tonic, minor = theory.parse_key(key_name)
        scale_name = doc.get("scale", "minor" if minor else "major")
        scale = theory.scale_by_name(scale_name)
    except ConfigError as e:
        bad = "scale" if "scale" in str(e) else "key"
        raise ConfigError(f"{where}: key '{bad}': {e}") from None
    layers: dict[str, float] = {}
    for lname, gain in doc.get("layers", {}).items():
        if lname not in LAYER_NAMES:
            raise ConfigError(f"{where}: key 'layers.{lname}': unknown layer; known: "
                              f"{', '.join(LAYER_NAMES)}")
        _check(gain, _NUM, where, f"layers.{lname}")
        if not 0.0 <= gain <= 4.0:
            raise ConfigError(f"{where}: key 'layers.{lname}' must be 0..4")
        layers[lname] = float(gain)
    gens = doc.get("generator", [])
    arrangement = None
    if "arrangement" in doc:
        from .band import parse_arrangement

        arrangement = parse_arrangement(doc["arrangement"], where, swing)
    if not gens and arrangement is None:
        raise ConfigError(f"{where}: key 'generator': a preset needs at least one [[generator]] or an "
                          "[arrangement]")
    if len(gens) > N_GEN:
        raise ConfigError(f"{where}: key 'generator': at most {N_GEN} generators")
    out = []
    for i, g in enumerate(gens):
        seq = build_sequencer(g, f"{where}: generator {i + 1}", key=key_name)
        out.append((seq, seq.layer))
    fx = None
    if "fx" in doc:
        from ..fx.config import validate as validate_fx

        try:
            fx = validate_fx(doc["fx"])
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    if midi_map is None and "midi_map" in doc:
        midi_map = doc["midi_map"]        # the raw table; rtgen.control.params.read_preset_file parses it
    return PresetSpec(timbre=timbre, name=str(doc.get("name", name)), description=str(doc.get("description", "")),
                      tempo=tempo, key=tonic, key_name=key_name, scale=scale, scale_name=scale_name,
                      swing=swing, beats_per_bar=bpb, layers=layers, generators=tuple(out), source=where,
                      fx=fx, midi_map=midi_map, arrangement=arrangement)


def describe_preset(name_or_path: str | Path) -> str:
    """One line: description, tempo, key and the generator types."""
    p = load_preset(name_or_path)
    kinds = ", ".join([s.name for s, _ in p.generators]
                      + ([f"arrangement ({'/'.join(p.arrangement.roles)})"] if p.arrangement is not None else []))
    return f"{p.description} [{p.tempo:g} bpm, {p.key_name} {p.scale_name}; {kinds}]"


def apply_to_engine(preset: PresetSpec, engine: Any, *, tempo: bool = False) -> list[int]:
    """Set harmony, swing, meter, layer gains and add the generators; returns their slots.

    The tempo is normally given to the engine at construction (``EngineSpec(bpm=preset.tempo)``);
    pass ``tempo=True`` to set it here as well.
    """
    if tempo:
        engine.set_tempo(preset.tempo)
    fresh = not engine.is_live and int(engine.state.st[S_SAMPLE]) == 0
    # Before the first chunk, write the key straight into the harmony, swing and meter: queued
    # commands act at their sample *after* the generators' first step, which made the first
    # downbeat sound in the engine's default key (C major) instead of the preset's.
    engine.set_harmony(preset.key, preset.scale, chord=_tonic_triad(preset), now=fresh)
    if fresh:
        engine.state.p[P_SWING] = preset.swing
        engine.state.p[P_BEATS_PER_BAR] = preset.beats_per_bar
    else:
        engine.set_swing(preset.swing)
        engine.set_meter(preset.beats_per_bar)
    for lname, gain in preset.layers.items():
        engine.set_layer(lname, gain=gain)
    from ..rt.master import enable_master

    enable_master(engine, now=fresh)      # a measured loudness stage: -16 LUFS, -1 dBTP
    slots = [engine.add_generator(seq) for seq, _ in preset.generators]
    if preset.arrangement is not None:
        from .band import attach_arrangement

        attach_arrangement(engine, preset)
    return slots


def _tonic_triad(preset: PresetSpec) -> tuple[int, ...]:
    """The tonic chord of the preset's scale (root, third, fifth), as pitch classes."""
    sc = preset.scale
    if len(sc) < 5:
        return (preset.key,)
    return tuple((preset.key + sc[i]) % 12 for i in (0, 2, 4))
