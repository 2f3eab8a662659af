"""MIDI learn: bind any CC or note to any parameter; program change switches scenes on the next bar.

A :class:`MidiMap` is a :class:`rtgen.control.midi.MidiInput` listener. Bindings drive
targets of a :class:`rtgen.game.MusicController` (``param:intensity``,
``gen:ca1d.density``, ``layer:rules``, ``tempo`` ...; see :mod:`rtgen.game`). To learn,
call :meth:`MidiMap.learn` with a target and move a control: the next CC or note binds.

The map lives in the preset file as a ``[midi_map]`` table::

    [midi_map]
    programs = { 0 = "chorale", 1 = "ensemble" }     # program change -> scene (state or preset)

    [[midi_map.binding]]
    source = "cc"          # "cc" or "note"
    number = 74
    channel = -1           # -1: any channel
    target = "param:intensity"
    curve = "linear"       # linear exp scurve stepped
    lo = 0.0               # value at controller 0 (note: at velocity 1 / "off")
    hi = 1.0               # value at controller 127
    mode = "value"         # notes: "value" (velocity), "toggle" (lo/hi), "momentary" (hi while held)

:func:`load_midi_map` / :func:`save_midi_map` read and write that table; saving keeps
every other table of the file as it was (the text outside ``[midi_map]`` is untouched).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..game import CURVE_KINDS, Curve, MusicController, RateLimitedLog, parse_target

log = logging.getLogger("rtgen.params")

SOURCES = ("cc", "note")
NOTE_MODES = ("value", "toggle", "momentary")
_BINDING_KEYS: dict[str, tuple[type, ...]] = {
    "source": (str,), "number": (int,), "channel": (int,), "target": (str,), "curve": (str,),
    "lo": (int, float), "hi": (int, float), "mode": (str,), "k": (int, float), "steps": (int,),
}
_MAP_KEYS: dict[str, tuple[type, ...]] = {"binding": (list,), "programs": (dict,)}


@dataclass
class Binding:
    source: str
    number: int
    target: str
    channel: int = -1
    curve: str = "linear"
    lo: float = 0.0
    hi: float = 1.0
    mode: str = "value"
    k: float = 4.0
    steps: int = 4
    _on: bool = field(default=False, repr=False, compare=False)

    def validate(self, where: str = "binding") -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"{where}: key 'source' must be one of {', '.join(SOURCES)}, not {self.source!r}")
        if not 0 <= self.number <= 127:
            raise ConfigError(f"{where}: key 'number' must be 0..127")
        if not -1 <= self.channel <= 15:
            raise ConfigError(f"{where}: key 'channel' must be -1 (any) or 0..15")
        if self.mode not in NOTE_MODES:
            raise ConfigError(f"{where}: key 'mode' must be one of {', '.join(NOTE_MODES)}")
        if self.curve not in CURVE_KINDS:
            raise ConfigError(f"{where}: key 'curve' must be one of {', '.join(CURVE_KINDS)}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ConfigError(f"{where}: keys 'lo'/'hi' must be finite")
        try:
            parse_target(self.target)
            Curve(self.curve, self.lo, self.hi, self.k, self.steps)
        except ConfigError as e:
            raise ConfigError(f"{where}: key 'target': {e}") from None

    def value(self, x: float) -> float:
        return Curve(self.curve, self.lo, self.hi, self.k, self.steps)(x)

    def as_table(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source": self.source, "number": self.number, "channel": self.channel,
                             "target": self.target, "curve": self.curve, "lo": float(self.lo), "hi": float(self.hi)}
        if self.source == "note":
            d["mode"] = self.mode
        if self.curve in ("exp", "scurve"):
            d["k"] = float(self.k)
        if self.curve == "stepped":
            d["steps"] = int(self.steps)
        return d


@dataclass
class MidiMapSpec:
    bindings: list[Binding] = field(default_factory=list)
    programs: dict[int, str] = field(default_factory=dict)


def parse_midi_map(doc: Any, where: str = "midi_map") -> MidiMapSpec:
    """Validate a ``[midi_map]`` table (see the module docstring)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: must be a table")
    _check(doc, _MAP_KEYS, where)
    spec = MidiMapSpec()
    for i, b in enumerate(doc.get("binding", [])):
        w = f"{where}.binding[{i}]"
        if not isinstance(b, dict):
            raise ConfigError(f"{w}: must be a table")
        _check(b, _BINDING_KEYS, w)
        for k in ("source", "number", "target"):
            if k not in b:
                raise ConfigError(f"{w}: key '{k}' is missing")
        kw = {k: v for k, v in b.items()}
        for k in ("lo", "hi", "k"):
            if k in kw:
                kw[k] = float(kw[k])
        bd = Binding(**kw)
        bd.validate(w)
        spec.bindings.append(bd)
    for k, v in doc.get("programs", {}).items():
        if not (isinstance(k, str) and k.isdigit() and 0 <= int(k) <= 127):
            raise ConfigError(f"{where}.programs: key '{k}' must be a program number 0..127")
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{where}.programs: key '{k}' must name a scene (a string)")
        spec.programs[int(k)] = v
    return spec


def _check(doc: dict, allowed: dict[str, tuple[type, ...]], where: str) -> None:
    for k, v in doc.items():
        if k not in allowed:
            raise ConfigError(f"{where}: unknown key '{k}'; known: {', '.join(sorted(allowed))}")
        types = allowed[k]
        if (isinstance(v, bool) and bool not in types) or not isinstance(v, types):
            raise ConfigError(f"{where}: key '{k}' has the wrong type ({type(v).__name__}: {v!r})")


# ------------------------------------------------------------------ TOML: a small writer
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(k: str) -> str:
    return k if _BARE.fullmatch(k) else toml_value(k)


def toml_value(v: Any) -> str:
    """One TOML value: strings, integers, finite floats, booleans, arrays and inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"TOML cannot hold {v}")
        r = repr(v)
        return r if any(c in r for c in ".en") else r + ".0"
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\t":
                out.append("\\t")
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04X}")
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise ConfigError(f"TOML cannot hold a {type(v).__name__}")


def dump_table(name: str, table: dict[str, Any]) -> str:
    """``[name]`` with its plain keys, then its sub-tables and arrays of tables (``[[name.x]]``)."""
    lines = [f"[{name}]"]
    subs: list[str] = []
    for k, v in table.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                subs.append(f"[[{name}.{toml_key(k)}]]")
                subs += [f"{toml_key(kk)} = {toml_value(vv)}" for kk, vv in item.items()]
                subs.append("")
        else:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    return "\n".join(lines + [""] + subs).rstrip("\n") + "\n"


def _strip_table(text: str, name: str) -> str:
    """``text`` without the table ``name`` and its sub-tables (multi-line strings are skipped over)."""
    out: list[str] = []
    skipping = False
    in_str: str | None = None
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    for line in text.splitlines(keepends=True):
        if in_str is None:
            m = header.match(line)
            if m:
                key = m.group(1).strip().strip('"')
                skipping = key == name or key.startswith(name + ".")
        if not skipping:
            out.append(line)
        # track multi-line strings so a "[x]" inside one is not a header
        i = 0
        while i < len(line):
            if in_str is None:
                if line[i] == "#":
                    break
                if line.startswith('"""', i) or line.startswith("'''", i):
                    in_str = line[i:i + 3]
                    i += 3
                    continue
                if line[i] in "\"'":
                    q = line[i]
                    j = i + 1
                    while j < len(line) and line[j] != q:
                        j += 2 if (q == '"' and line[j] == "\\") else 1
                    i = j + 1
                    continue
            else:
                if in_str == '"""' and line[i] == "\\":
                    i += 2
                    continue
                if line.startswith(in_str, i):
                    in_str = None
                    i += 3
                    continue
            i += 1
    return "".join(out)


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    import tomllib

    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text: {e}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def load_midi_map(path: str | os.PathLike[str]) -> MidiMapSpec:
    """The ``[midi_map]`` of a preset file (an empty map when it has none)."""
    p = Path(path)
    _, doc = _read_toml(p)
    if "midi_map" not in doc:
        return MidiMapSpec()
    return parse_midi_map(doc["midi_map"], f"{p}: midi_map")


def midi_map_table(spec: MidiMapSpec) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if spec.programs:
        d["programs"] = {str(k): v for k, v in sorted(spec.programs.items())}
    d["binding"] = [b.as_table() for b in spec.bindings]
    return d


def save_midi_map(path: str | os.PathLike[str], spec: MidiMapSpec) -> None:
    """Write ``spec`` as the ``[midi_map]`` of ``path`` (created if missing), keeping everything else.

    The file is replaced atomically, and only after the result has been read back and
    every other table found unchanged.
    """
    import tomllib

    p = Path(path)
    if p.exists():
        text, before = _read_toml(p)
    else:
        text, before = "", {}
    rest = _strip_table(text, "midi_map").rstrip("\n")
    new = (rest + "\n\n" if rest else "") + dump_table("midi_map", midi_map_table(spec))
    after = tomllib.loads(new)
    before.pop("midi_map", None)
    got = dict(after)
    got.pop("midi_map", None)
    if got != before:
        raise ConfigError(f"{p}: saving the MIDI map would change other tables; not written")
    if parse_midi_map(after["midi_map"]).bindings != spec.bindings:
        raise ConfigError(f"{p}: the MIDI map did not read back the same; not written")
    tmp = p.with_name(f".{p.name}.part")
    tmp.write_text(new, "utf-8")
    os.replace(tmp, p)


@dataclass(frozen=True)
class PresetFile:
    """A preset file read once: the preset, its MIDI map and its music tables
    (``params``/``states``/``stingers`` as raw tables, for :class:`rtgen.game.MusicController`)."""

    preset: Any
    midi_map: MidiMapSpec
    music: dict[str, Any]


def read_preset_file(path: str | os.PathLike[str]) -> PresetFile:
    """The one preset loader: read ``path`` once, validate the preset and its MIDI map, and hand
    back the game/performance tables (which the game validates when a controller uses them)."""
    from ..gen.presets import parse_preset

    p = Path(path)
    _, doc = _read_toml(p)
    mm = parse_midi_map(doc.pop("midi_map"), f"{p}: midi_map") if "midi_map" in doc else MidiMapSpec()
    music: dict[str, Any] = {}
    for k in ("params", "states", "stingers"):
        if k in doc:
            v = doc.pop(k)
            if not isinstance(v, dict):
                raise ConfigError(f"{p}: key '{k}' must be a table")
            music[k] = v
    return PresetFile(parse_preset(doc, str(p), p.stem, midi_map=mm), mm, music)


def load_preset_file(path: str | os.PathLike[str]) -> tuple[Any, MidiMapSpec]:
    """(PresetSpec, MidiMapSpec) of a preset file: :func:`read_preset_file` without the music tables."""
    f = read_preset_file(path)
    return f.preset, f.midi_map


def has_extra_tables(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a preset file with tables the plain preset loader would reject."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        _, doc = _read_toml(p)
    except ConfigError:
        return False
    return any(k in doc for k in ("midi_map", "params", "states", "stingers"))


# ------------------------------------------------------------------ the live map
class MidiMap:
    """Applies bindings to a controller; a MidiInput listener (``midi_input.listeners.append(map)``)."""

    def __init__(self, controller: MusicController, spec: MidiMapSpec | None = None,
                 scene: Callable[[str], Any] | None = None) -> None:
        self.controller = controller
        self.spec = spec or MidiMapSpec()
        self.scene = scene or self._default_scene
        self.bad = RateLimitedLog(log)
        self.applied = 0
        self.learned: list[Binding] = []
        self._learn: tuple[str, dict[str, Any]] | None = None
        self._learn_done = threading.Event()
        self._lock = threading.Lock()

    # -- learning --------------------------------------------------------------------------
    def learn(self, target: str, **opts: Any) -> None:
        """Arm learning: the next CC or note received is bound to ``target`` (replacing older bindings of
        the same control). ``opts``: curve, lo, hi, mode, k, steps."""
        parse_target(target)
        Binding("cc", 0, target, **opts).validate("learn")
        with self._lock:
            self._learn = (target, opts)
            self._learn_done.clear()

    def wait_learned(self, timeout: float | None = None) -> Binding | None:
        if not self._learn_done.wait(timeout):
            return None
        return self.learned[-1] if self.learned else None

    def cancel_learn(self) -> None:
        with self._lock:
            self._learn = None

    # -- input -----------------------------------------------------------------------------
    def __call__(self, ev: Any, t: float = 0.0, sample: float = 0.0) -> None:
        self.handle(ev)

    def handle(self, ev: Any) -> None:
        """One decoded MIDI event (``rtgen.control.midi.MidiEvent``)."""
        from .midi import M_CC, M_MOD, M_NOTE_OFF, M_NOTE_ON, M_PROGRAM, M_SUSTAIN

        kind = ev.kind
        if kind == M_PROGRAM:
            name = self.spec.programs.get(int(ev.a))
            if name is not None:
                try:
                    self.scene(name)
                except Exception as e:
                    self.bad.warn("scene", "program %d: scene %r failed: %s", ev.a, name, e)
            return
        if kind in (M_CC, M_MOD, M_SUSTAIN):
            src = "cc"
            num, val = (int(ev.a), int(ev.b)) if kind == M_CC else ((1, int(ev.a)) if kind == M_MOD else
                                                                      (64, int(ev.b)))
        elif kind in (M_NOTE_ON, M_NOTE_OFF):
            src, num, val = "note", int(ev.a), int(ev.b) if kind == M_NOTE_ON else 0
        else:
            return
        with self._lock:
            if self._learn is not None and (src == "cc" or val > 0):
                target, opts = self._learn
                self._learn = None
                b = Binding(src, num, target, channel=int(ev.channel), **opts)
                self.spec.bindings = [x for x in self.spec.bindings
                                      if not (x.source == src and x.number == num and x.channel in (-1, b.channel))]
                self.spec.bindings.append(b)
                self.learned.append(b)
                self._learn_done.set()
                log.info("learned %s %d (channel %d) -> %s", src, num, b.channel, target)
            matches = [b for b in self.spec.bindings if b.source == src and b.number == num
                       and b.channel in (-1, int(ev.channel))]
        for b in matches:
            self._apply(b, val)

    def _apply(self, b: Binding, val: int) -> None:
        if b.source == "cc":
            x = val / 127.0
        elif b.mode == "value":
            if val == 0:
                return                          # a note-off changes nothing
            x = val / 127.0
        elif b.mode == "toggle":
            if val == 0:
                return
            b._on = not b._on
            x = 1.0 if b._on else 0.0
        else:                                   # momentary
            x = 1.0 if val > 0 else 0.0
        try:
            kind, name, _ = parse_target(b.target)
            if kind == "param":
                spec = self.controller.params.get(name)
                if spec is None:
                    raise ConfigError(f"unknown parameter {name!r}")
                # the binding's curve gives 0..1 of the parameter's range unless lo/hi say otherwise
                self.controller.set_param(name, b.value(x))
            else:
                self.controller.set_target(b.target, b.value(x))
            self.applied += 1
        except ConfigError as e:
            self.bad.warn("apply:" + b.target, "MIDI %s %d -> %s ignored: %s", b.source, b.number, b.target, e)

    def _default_scene(self, name: str) -> None:
        c = self.controller
        if name not in c.states:
            from ..gen.presets import load_preset_ref

            # a scene named in a map file: a shipped preset or a path inside the working folder
            c.add_state(name, load_preset_ref(name, None, f"midi_map scene {name!r}"))
        c.set_state(name, "bar")

    def save(self, path: str | os.PathLike[str]) -> None:
        save_midi_map(path, self.spec)


__all__ = ["Binding", "MidiMap", "MidiMapSpec", "dump_table", "has_extra_tables", "load_midi_map",
           "load_preset_file", "read_preset_file", "PresetFile", "parse_midi_map", "save_midi_map", "toml_value"]
