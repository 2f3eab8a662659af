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
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .rt.layout import (
    C_GEN_ACTIVE,
    C_GEN_I,
    C_HARM,
    C_LAYER,
    C_METER,
    C_PARAM,
    C_SWING,
    C_TEMPO,
    CHUNK,
    GI_ACTIVE,
    H_BASE_OCTAVE,
    H_CHORD,
    H_CHORD_LEN,
    H_CHORD_ROOT,
    H_DENSITY,
    H_ROOT,
    H_SCALE,
    H_SCALE_LEN,
    H_TENSION,
    H_VERSION,
    LAYER_NAMES,
    LAYER_STINGER,
    LF_GAIN,
    N_GEN,
    O_BEAT,
    O_NOTE_ON,
    P_BEATS_PER_BAR,
    P_BPM,
    P_MASTER_GAIN,
    P_MORPH,
    P_SR,
    RING_CONTROL,
    S_SAMPLE,
)

log = logging.getLogger("rtgen.game")

QUANTA = ("immediate", "beat", "bar")
CURVE_KINDS = ("linear", "exp", "scurve", "stepped")
GLOBAL_TARGETS = ("tempo", "master", "swing", "density", "tension", "morph")


# ------------------------------------------------------------------ curves
@dataclass(frozen=True)
class Curve:
    """Maps a parameter value 0..1 onto ``lo..hi``.

    ``linear``: straight; ``exp``: slow start, fast end (``k`` > 0 sets how much);
    ``scurve``: slow at both ends (a logistic of steepness ``k``, rescaled to pass through
    the end points); ``stepped``: ``steps`` equal levels from ``lo`` to ``hi``.
    """

    kind: str = "linear"
    lo: float = 0.0
    hi: float = 1.0
    k: float = 4.0
    steps: int = 4

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise ConfigError(f"unknown curve {self.kind!r}; curves: {', '.join(CURVE_KINDS)}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ConfigError("curve end points must be finite numbers")
        if not (math.isfinite(self.k) and 0.01 <= self.k <= 50.0):
            raise ConfigError(f"curve steepness k must be 0.01..50, not {self.k}")
        if self.kind == "stepped" and not 2 <= int(self.steps) <= 128:
            raise ConfigError(f"a stepped curve needs 2..128 steps, not {self.steps}")

    def shape(self, x: float) -> float:
        """The normalised shape 0..1 of ``x`` (clamped to 0..1)."""
        x = min(1.0, max(0.0, float(x)))
        if self.kind == "linear":
            return x
        if self.kind == "exp":
            return math.expm1(self.k * x) / math.expm1(self.k)
        if self.kind == "scurve":
            def sig(v: float) -> float:
                return 1.0 / (1.0 + math.exp(-self.k * (v - 0.5)))
            a, b = sig(0.0), sig(1.0)
            return (sig(x) - a) / (b - a)
        n = int(self.steps)
        return min(n - 1, math.floor(x * n)) / (n - 1)

    def __call__(self, x: float) -> float:
        return self.lo + (self.hi - self.lo) * self.shape(x)


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
        from .engine import Engine

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
            from .engine import Engine
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
    from .gen import theory
    from .gen.presets import build_sequencer, load_preset_ref

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


# ------------------------------------------------------------------ events handed to the game
@dataclass(frozen=True)
class Beat:
    """A beat as the engine played it: absolute sample, beat index, bar index, beat within the bar."""

    sample: int
    beat: int
    bar: int
    beat_in_bar: int

    @property
    def downbeat(self) -> bool:
        return self.beat_in_bar == 0


@dataclass(frozen=True)
class Transition:
    """A requested state change: from, to, the quantum and the sample it lands on (-1: immediate)."""

    source: str | None
    target: str
    quantum: str
    sample: int
    queued: bool = False    # requested while another transition was pending: starts once that one lands


def _prep_time(at: float) -> float:
    """The last sample of the chunk before the one holding ``at``.

    Generators run at chunk starts, before the timed rows of the chunk apply: a generator
    must be switched on (and an old one off) within the previous chunk so its first step
    can fall exactly on ``at``.
    """
    if at < 0:
        return -1.0
    return float((int(at) // CHUNK) * CHUNK - 1)


def beat_anchor(engine: Any, wait_callback: bool = False) -> tuple[float, float]:
    """(chunk start sample, beat position there): see :meth:`rtgen.engine.Engine.beat_anchor`."""
    return engine.beat_anchor(wait_callback)


def sample_at_beat(engine: Any, beat: float) -> float:
    """Absolute sample of a beat position at the current tempo (:meth:`Engine.sample_at_beat`)."""
    return float(engine.sample_at_beat(beat))


def beat_at(engine: Any, sample: float) -> float:
    """Beat position at an absolute sample (:meth:`Engine.beat_at`)."""
    return float(engine.beat_at(sample))


class RateLimitedLog:
    """Logs at most one message per key per ``interval`` seconds; counts what it suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self.logger = logger
        self.interval = interval
        self.counts: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, key: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if now - self._last.get(key, -1e9) < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            n = self._suppressed.pop(key, 0)
        if n:
            msg += f" (and {n} more since the last report)"
        self.logger.warning(msg, *args)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


BeatCallback = Callable[[Beat], None]


class MusicController:
    """Drives an :class:`rtgen.engine.Engine` from game state (see the module docstring).

    Thread-safety: every public method may be called from any thread; a lock serialises
    them. Commands go to ``ring`` (the control ring by default: its producer end is
    lock-protected, so the OSC thread and the game thread may share it).
    """

    def __init__(self, engine: Any, params: Mapping[str, Any] | None = None,
                 states: Mapping[str, Any] | None = None, stingers: Mapping[str, Any] | None = None,
                 *, ring: int = RING_CONTROL, drain_events: bool = True,
                 base_dir: str | Path | None = None) -> None:
        self.engine = engine
        self.ring = ring
        self.drain_events = drain_events
        self.stingers: dict[str, StingerSpec] = parse_stingers(stingers or {})
        self.params: dict[str, ParamSpec] = parse_params(params or {})
        self.states: dict[str, StateSpec] = {}
        for name, st in (states or {}).items():
            if isinstance(st, StateSpec):
                self.states[name] = st
        raw = {k: v for k, v in (states or {}).items() if not isinstance(v, StateSpec)}
        # presets that states name must stay inside the folder of the file they came from
        self.states.update(parse_states(raw, stingers=self.stingers, base_dir=base_dir))
        for p in self.params.values():
            for m in p.maps:
                kind, name, _ = parse_target(m.target)
                if kind == "param" and name not in self.params:
                    raise ConfigError(f"params.{p.name}: target {m.target!r} names no parameter")
        self.values: dict[str, float] = {n: p.default for n, p in self.params.items()}
        self.state: str | None = None
        self.pending: Transition | None = None
        self.queued: Transition | None = None             # the latest request made while one was pending
        self.transitions: list[Transition] = []
        self.bad = RateLimitedLog(log)
        self._lock = threading.RLock()
        self._slots: list[int] = []                       # slots of the current state's generators
        self._reserved: dict[int, float] = {}             # slot -> sample until which it is in use
        self._start_at: dict[int, float] = {}             # slot -> sample it starts on (-1: at once)
        self._outgoing: dict[int, float] = {}             # slot -> sample it stops on (-1: at once)
        self._layer_base = {name: float(engine.state.lf[i, LF_GAIN]) for i, name in enumerate(LAYER_NAMES)}
        self._layer_mult: dict[str, float] = {}
        self._beat_cbs: list[BeatCallback] = []
        self._bar_cbs: list[BeatCallback] = []
        self._note_cbs: list[Callable[[np.ndarray], None]] = []
        self._state_cbs: list[Callable[[Transition], None]] = []
        self._event_sinks: list[Callable[[np.ndarray], None]] = []
        self._ramps: dict[str, tuple[float, float, float, float]] = {}   # name -> (v0, v1, t0, t1) monotonic
        self._landed_until = -1
        self._dispatcher: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_beat: Beat | None = None
        self._push_all_params(-1.0)

    # -------------------------------------------------------------- small helpers
    def _cmd(self, kind: int, a: float = 0.0, b: float = 0.0, c: float = 0.0, time_: float = -1.0) -> bool:
        ok = bool(self.engine.command(kind, float(a), float(b), float(c), time=float(time_), ring=self.ring))
        if not ok:
            self.bad.warn("ring", "command ring full: a music command was dropped")
        return ok

    @property
    def sample_rate(self) -> float:
        return float(self.engine.state.p[P_SR])

    def samples_per_beat(self) -> float:
        p = self.engine.state.p
        return float(p[P_SR] * 60.0 / p[P_BPM])

    def boundary(self, quantum: str) -> float:
        """The sample a change quantised to ``quantum`` lands on (-1 = at once).

        A boundary too close to be prepared (the generators of a state start one chunk
        before it, see :meth:`set_state`) moves on to the next one.
        """
        if quantum not in QUANTA:
            raise ConfigError(f"quantum must be one of {', '.join(QUANTA)}, not {quantum!r}")
        if quantum == "immediate":
            return -1.0
        live = bool(getattr(self.engine, "_live", False))
        t0, beat0 = self._beat_anchor(live)
        rendered = float(self.engine.state.st[S_SAMPLE]) + (float(self.engine.spec.block_size) if live else 0.0)
        after = max(float(self.engine.now_sample()), t0)
        t = after
        for _ in range(4):
            t = self._next_beat_sample(quantum, after, t0, beat0)
            if _prep_time(t) - CHUNK >= rendered:
                break
            after = t + 1.0
        return t

    def _beat_anchor(self, live: bool) -> tuple[float, float]:
        return beat_anchor(self.engine, wait_callback=live)

    def _next_beat_sample(self, quantum: str, after: float, t0: float, beat0: float) -> float:
        """The sample of the first beat (or bar) after ``after``, chunk by chunk as the engine computes it."""
        p = self.engine.state.p
        inc = CHUNK * float(p[P_BPM]) / (60.0 * float(p[P_SR]))
        spb = CHUNK / inc
        b_after = beat0 + (after - t0) / spb
        if quantum == "beat":
            nb = math.floor(b_after + 1e-9) + 1.0
        else:
            bpb = max(1, int(p[P_BEATS_PER_BAR]))
            nb = (math.floor(b_after / bpb + 1e-9) + 1.0) * bpb
        b, t = beat0, t0
        while not nb < b + inc:
            b += inc
            t += CHUNK
        return float(t + math.floor(max(0.0, nb - b) / inc * CHUNK + 0.5))

    def _now(self) -> float:
        return float(self.engine.now_sample())

    # -------------------------------------------------------------- parameters
    def set_param(self, name: str, value: float, ramp: float = 0.0, time_: float = -1.0) -> float:
        """Set a named parameter (clamped to its range); ``ramp`` seconds glides to it in :meth:`poll`.

        Returns the value set. An unknown name raises ConfigError.
        """
        with self._lock:
            spec = self.params.get(name)
            if spec is None:
                raise ConfigError(f"unknown parameter {name!r}; parameters: {', '.join(self.params) or 'none'}")
            v = float(value)
            if not math.isfinite(v):
                raise ConfigError(f"parameter {name}: value must be a finite number, not {value}")
            v = min(spec.hi, max(spec.lo, v))
            if ramp > 0.0:
                t = time.monotonic()
                self._ramps[name] = (self.values[name], v, t, t + float(ramp))
                return v
            self._ramps.pop(name, None)
            self._apply_param(name, v, time_)
            return v

    def _apply_param(self, name: str, v: float, time_: float, depth: int = 0) -> None:
        spec = self.params[name]
        self.values[name] = v
        x = (v - spec.lo) / (spec.hi - spec.lo)
        for m in spec.maps:
            self.set_target(m.target, m.curve(x), time_, depth=depth + 1)

    def _push_all_params(self, time_: float) -> None:
        for name in self.params:
            self._apply_param(name, self.values[name], time_)

    def set_target(self, target: str, value: float, time_: float = -1.0, depth: int = 0) -> bool:
        """Set any target (see the module docstring) to ``value`` (in the target's own units).

        Values out of a target's range raise ConfigError; a generator the current state
        does not have is skipped (False).
        """
        if depth > 8:
            raise ConfigError(f"parameter mappings loop through {target!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ConfigError(f"{target}: value must be a finite number")
        kind, name, prm = parse_target(target)
        with self._lock:
            if kind == "layer" and prm:       # a voice control: vibrato, vibrato_rate, brightness, breath
                self.engine.set_voice_controls(name, **{prm: v}, time=time_)
                return True
            if kind == "layer":
                if not 0.0 <= v <= 4.0:
                    raise ConfigError(f"{target}: gain must be 0..4, not {v}")
                self._layer_mult[name] = v
                return self._send_layer(name, time_)
            if kind == "gen":
                done = False
                for slot in self._matching_slots(name):
                    self.engine.set_generator_param(slot, prm, v, time=time_)
                    done = True
                return done
            if kind == "param":
                if name not in self.params:
                    raise ConfigError(f"unknown parameter {name!r}")
                spec = self.params[name]
                self._apply_param(name, min(spec.hi, max(spec.lo, v)), time_, depth)
                return True
            if kind == "tempo":
                if not 20.0 <= v <= 400.0:
                    raise ConfigError(f"tempo must be 20..400 bpm, not {v}")
                return self._cmd(C_TEMPO, v, time_=time_)
            if kind == "master":
                if not 0.0 <= v <= 4.0:
                    raise ConfigError(f"master gain must be 0..4, not {v}")
                return self._cmd(C_PARAM, P_MASTER_GAIN, v, time_=time_)
            if kind == "swing":
                if not 0.0 <= v <= 0.75:
                    raise ConfigError(f"swing must be 0..0.75, not {v}")
                return self._cmd(C_SWING, v, time_=time_)
            if kind in ("density", "tension"):
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"{kind} must be 0..1, not {v}")
                return self._cmd(C_HARM, H_DENSITY if kind == "density" else H_TENSION, v, time_=time_)
            if kind == "morph":          # neural timbre: how far voices move towards Engine.set_morph's instrument
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"morph must be 0..1, not {v}")
                return self._cmd(C_PARAM, P_MORPH, v, time_=time_)
        raise ConfigError(f"unknown target {target!r}")

    def _matching_slots(self, name: str) -> list[int]:
        gens = self.engine.generators()
        if name.isdigit():
            return [int(name)] if int(name) in gens else []
        return [s for s in self._slots if s in gens and getattr(gens[s], "name", "") == name]

    def _send_layer(self, name: str, time_: float) -> bool:
        gain = self._layer_base.get(name, 1.0) * self._layer_mult.get(name, 1.0)
        return self._cmd(C_LAYER, LAYER_NAMES.index(name), LF_GAIN, min(4.0, gain), time_=time_)

    def set_layer_gain(self, name: str, gain: float, time_: float = -1.0) -> bool:
        """Set a layer's base gain (the parameter curves on it still multiply it)."""
        if name not in LAYER_NAMES:
            raise ConfigError(f"unknown layer {name!r}; layers: {', '.join(LAYER_NAMES)}")
        g = float(gain)
        if not (math.isfinite(g) and 0.0 <= g <= 4.0):
            raise ConfigError(f"layer gain must be 0..4, not {gain}")
        with self._lock:
            self._layer_base[name] = g
            return self._send_layer(name, time_)

    # -------------------------------------------------------------- states
    def add_state(self, name: str, preset: str | Path | Any | None = None, **overrides: Any) -> StateSpec:
        """Add a state from a preset (name, path or PresetSpec), or an empty one; overrides as in a state table."""
        from .gen.presets import load_preset

        if isinstance(preset, (str, Path)):
            preset = load_preset(preset)          # the caller's own name or path
        with self._lock:
            if preset is not None:
                st = state_from_preset(name, preset)
                if overrides:
                    extra = parse_states({name: overrides}, stingers=self.stingers)[name]
                    for f in ("tempo", "root", "scale", "chord", "beats_per_bar", "swing", "stinger", "burst"):
                        if getattr(extra, f) is not None:
                            setattr(st, f, getattr(extra, f))
                    st.layers.update(extra.layers)
                    st.generators += extra.generators
            else:
                st = parse_states({name: dict(overrides)}, stingers=self.stingers)[name]
            self.states[name] = st
            return st

    def _free_list(self) -> list[int]:
        now = self._now()
        for s, t in list(self._reserved.items()):
            if 0 <= t < now:
                del self._reserved[s]
                self._outgoing.pop(s, None)
        gens = self.engine.generators()
        return [s for s in range(N_GEN) if s not in gens and s not in self._reserved and self.engine._slot_free(s)]

    def _free_slots(self, n: int, until: float) -> list[int]:
        free = self._free_list()
        if len(free) < n:
            raise ConfigError(f"not enough free generator slots for the transition ({len(free)} free, {n} needed)")
        return free[:n]

    def _start_generator(self, seq: Any, at: float) -> int:
        slot = self._free_slots(1, at)[0]
        self.engine.add_generator(seq, slot=slot, active=False)
        self._cmd(C_GEN_ACTIVE, slot, 1.0, time_=_prep_time(at))
        self._start_at[slot] = at
        return slot

    def _stop_generator(self, slot: int, at: float) -> None:
        # a generator whose start is still ahead (a transition overtaken by a sooner one) stops
        # on its own start sample: an earlier stop would be undone by the pending start
        start = self._start_at.pop(slot, -1.0)
        if start >= 0 and (at < 0 or at < start):
            at = start
        # stop it stepping before the chunk that holds ``at``, release its voices exactly on ``at``
        self._cmd(C_GEN_I, slot, GI_ACTIVE, 0.0, time_=_prep_time(at))
        self.engine.remove_generator(slot, time=at)
        # the slot plays until ``at``: keep others off it until then (and two chunks after)
        until = (at if at >= 0 else self._now()) + 2 * CHUNK
        self._reserved[slot] = max(until, self._reserved.get(slot, until))
        self._outgoing[slot] = at

    def _stop_sooner(self, at: float) -> None:
        """Generators already on their way out, but later than ``at`` (an overtaken transition): out at ``at``."""
        for slot, t in list(self._outgoing.items()):
            if at < 0 <= t or 0 <= at < t:
                self._cmd(C_GEN_I, slot, GI_ACTIVE, 0.0, time_=_prep_time(at))
                self._cmd(C_GEN_ACTIVE, slot, 0.0, time_=at)
                self._outgoing[slot] = at

    def set_state(self, name: str, quantum: str | None = None) -> Transition:
        """Change to state ``name`` at the next ``quantum`` ("immediate", "beat", "bar"; default: the
        state's own). Every part of the change lands on the same sample."""
        with self._lock:
            st = self.states.get(name)
            if st is None:
                raise ConfigError(f"unknown state {name!r}; states: {', '.join(self.states) or 'none'}")
            q = quantum or st.quantum
            if q not in QUANTA:
                raise ConfigError(f"quantum must be one of {', '.join(QUANTA)}, not {q!r}")
            if self.pending is not None and q != "immediate":
                # one transition at a time: this one follows when the pending one has landed
                # (the latest request wins); poll() starts it
                self.queued = Transition(self.pending.target, name, q, -1, queued=True)
                return self.queued
            need = len(st.generators) + (1 if st.burst is not None else 0)
            if len(self._free_list()) < need:
                # the slots of an overtaken transition are still booked: start once they are free
                self.queued = Transition(self.state, name, q, -1, queued=True)
                return self.queued
            self.queued = None
            at = self.boundary(q)
            tr = Transition(self.state, name, q, int(at))
            self._stop_sooner(at)
            for slot in self._slots:
                self._stop_generator(slot, at)
            self._slots = []
            if st.tempo is not None:
                self._cmd(C_TEMPO, st.tempo, time_=at)
            if st.beats_per_bar is not None:
                self._cmd(C_METER, st.beats_per_bar, time_=at)
            if st.swing is not None:
                self._cmd(C_SWING, st.swing, time_=at)
            if st.root is not None or st.scale is not None or st.chord is not None:
                self._send_harmony(st, _prep_time(at))   # the new generators' first notes read it
            for lname in LAYER_NAMES:
                self._layer_base[lname] = st.layers.get(lname, 0.8)      # 0.8: the engine's default
                self._send_layer(lname, at)
            for seq in st.generators:
                self._slots.append(self._start_generator(seq, at))
            if st.burst is not None:
                seq, beats = st.burst
                slot = self._start_generator(seq, at)
                t0 = at if at >= 0 else self._now()
                end = t0 + beats * self.samples_per_beat()
                self._stop_generator(slot, end)
            if st.stinger is not None:
                self._play_stinger_at(self.stingers[st.stinger], at)
            self.state = name
            self.pending = tr if at >= 0 else None
            self.transitions.append(tr)
            # parameters that drive generators apply to the new ones from the same sample
            for pname in self.params:
                for m in self.params[pname].maps:
                    if m.target.startswith("gen:"):
                        x = (self.values[pname] - self.params[pname].lo) / (self.params[pname].hi
                                                                            - self.params[pname].lo)
                        self.set_target(m.target, m.curve(x), _prep_time(at))
            log.info("state %s -> %s at %s (sample %d)", tr.source, name, q, tr.sample)
        if at < 0:
            self._fire_state(tr)
        return tr

    def _send_harmony(self, st: StateSpec, at: float) -> None:
        h = self.engine.state.harm
        vals: list[tuple[int, float]] = []
        if st.root is not None:
            vals.append((H_ROOT, float(st.root % 12)))
        if st.scale is not None:
            vals.append((H_SCALE_LEN, float(len(st.scale))))
            vals += [(H_SCALE + i, float(x)) for i, x in enumerate(st.scale)]
        chord = st.chord if st.chord is not None else ()
        vals.append((H_CHORD_ROOT, float(chord[0]) if chord else -1.0))
        vals.append((H_CHORD_LEN, float(len(chord))))
        vals += [(H_CHORD + i, float(x)) for i, x in enumerate(chord)]
        if h[H_BASE_OCTAVE] == 0:
            vals.append((H_BASE_OCTAVE, 4.0))
        vals.append((H_VERSION, float(h[H_VERSION] + 1)))
        for i, v in vals:
            self._cmd(C_HARM, i, v, time_=at)

    # -------------------------------------------------------------- stingers
    def stinger(self, name: str, quantum: str = "beat") -> int:
        """Play a stinger from the next beat or bar (or at once); returns the sample it starts on."""
        with self._lock:
            sp = self.stingers.get(name)
            if sp is None:
                raise ConfigError(f"unknown stinger {name!r}; stingers: {', '.join(self.stingers) or 'none'}")
            at = self.boundary(quantum)
            return self._play_stinger_at(sp, at)

    def _play_stinger_at(self, sp: StingerSpec, at: float) -> int:
        t0 = at if at >= 0 else math.ceil(self._now())
        spb = self.samples_per_beat()
        shift = int(self.engine.state.harm[H_ROOT]) if sp.relative else 0
        for off, note, vel, beats in sp.notes:
            n = min(127.0, note + shift)
            t = float(round(t0 + off * spb)) if (at >= 0 or off > 0) else -1.0
            self.engine.play_note(n, vel, beats * spb / self.sample_rate, layer=sp.layer, instrument=sp.instrument,
                                  time=t, ring=self.ring)
        return int(t0)

    def note(self, note: float, velocity: float = 100, layer: int | str = "stinger", seconds: float = 0.5,
             quantum: str = "immediate") -> bool:
        """A one-shot note (a UI sound, a hit), optionally quantised."""
        lay = self.engine.layer_index(layer)
        if not (0 <= note <= 127 and 1 <= velocity <= 127 and 0 < seconds <= 60):
            raise ConfigError("note: note 0..127, velocity 1..127, seconds 0..60")
        at = self.boundary(quantum)
        return bool(self.engine.play_note(float(note), float(velocity), float(seconds), layer=lay, time=at,
                                          ring=self.ring))

    def panic(self) -> None:
        self.engine.panic(ring=self.ring)

    # -------------------------------------------------------------- callbacks
    def on_beat(self, fn: BeatCallback) -> BeatCallback:
        self._beat_cbs.append(fn)
        return fn

    def on_bar(self, fn: BeatCallback) -> BeatCallback:
        self._bar_cbs.append(fn)
        return fn

    def on_notes(self, fn: Callable[[np.ndarray], None]) -> Callable[[np.ndarray], None]:
        """``fn(rows)`` with the O_NOTE_ON rows of each poll (a rhythm game can flash on them)."""
        self._note_cbs.append(fn)
        return fn

    def on_state(self, fn: Callable[[Transition], None]) -> Callable[[Transition], None]:
        """``fn(transition)`` when a state change has landed (its sample has been played)."""
        self._state_cbs.append(fn)
        return fn

    def add_event_sink(self, fn: Callable[[np.ndarray], None]) -> None:
        """Also hand every drained event batch to ``fn`` (a recorder, MIDI clock out, a UI)."""
        self._event_sinks.append(fn)

    def _fire_state(self, tr: Transition) -> None:
        for fn in list(self._state_cbs):
            self._safe(fn, tr)

    def _safe(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            self.bad.warn("callback", "a music callback raised; it is skipped")
            log.debug("callback failed", exc_info=True)

    def poll(self, rows: np.ndarray | None = None) -> int:
        """Drain ``engine.events()`` (or take ``rows``), run the callbacks and the ramps; returns rows seen.

        Call it from the game loop (any rate), or run :meth:`start_dispatcher`.
        """
        with self._lock:
            self._advance_ramps()
        if rows is None:
            rows = self.engine.events() if self.drain_events else np.zeros((0, 8))
        if len(rows) == 0:
            self._check_pending(self._now())
            return 0
        for sink in list(self._event_sinks):
            self._safe(sink, rows)
        beats = rows[rows[:, 0] == O_BEAT]
        for r in beats:
            b = Beat(int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            self._check_pending(b.sample + 1)
            self.last_beat = b
            for cb in list(self._beat_cbs):
                self._safe(cb, b)
            if b.downbeat:
                for cb in list(self._bar_cbs):
                    self._safe(cb, b)
        if self._note_cbs:
            ons = rows[rows[:, 0] == O_NOTE_ON]
            if len(ons):
                for fn in list(self._note_cbs):
                    self._safe(fn, ons)
        self._check_pending(float(rows[-1, 1]) + 1)
        return int(len(rows))

    def _check_pending(self, played_until: float) -> None:
        tr = self.pending
        if tr is not None and played_until > tr.sample:
            self.pending = None
            self._fire_state(tr)
        q = self.queued
        if q is not None and self.pending is None:
            self.queued = None
            try:
                self.set_state(q.target, q.quantum)        # queues itself again while slots are booked
            except ConfigError as e:
                self.bad.warn("queued", "queued transition to %s failed: %s", q.target, e)

    def _advance_ramps(self) -> None:
        if not self._ramps:
            return
        now = time.monotonic()
        for name, (v0, v1, t0, t1) in list(self._ramps.items()):
            f = 1.0 if now >= t1 else (now - t0) / (t1 - t0)
            self._apply_param(name, v0 + (v1 - v0) * f, -1.0)
            if f >= 1.0:
                del self._ramps[name]

    def start_dispatcher(self, interval: float = 0.005) -> MusicController:
        """Poll from a background thread (callbacks then run in that thread)."""
        if self._dispatcher is not None:
            return self
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                if self.poll() == 0:
                    self._stop.wait(interval)

        self._dispatcher = threading.Thread(target=loop, name="rtgen-music-dispatch", daemon=True)
        self._dispatcher.start()
        return self

    def stop_dispatcher(self) -> None:
        self._stop.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=2.0)
            self._dispatcher = None

    # -------------------------------------------------------------- reading back
    def snapshot(self) -> dict[str, Any]:
        """Parameter values, current state, tempo, beat position (for a UI or an OSC query)."""
        p = self.engine.state.p
        return {"state": self.state, "params": dict(self.values), "tempo": float(p[P_BPM]),
                "beats_per_bar": int(p[P_BEATS_PER_BAR]), "beat": self.last_beat,
                "pending": self.pending}


__all__ = ["Beat", "Curve", "MusicController", "ParamSpec", "RateLimitedLog", "StateSpec", "StingerSpec",
           "Transition", "load_music", "parse_params", "parse_states", "parse_stingers", "parse_target",
           "state_from_preset"]
