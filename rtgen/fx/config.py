"""Validation of the ``[fx]`` table (see :mod:`rtgen.fx` for the format).

:func:`validate` turns a plain dict (parsed TOML, JSON, or built in code) into a
normalised dict with every default filled in; a wrong key, type or range raises
:class:`rtgen.errors.ConfigError` naming the key, e.g. ``fx.master[1].mix``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..rt.layout import FX_CAP, LAYER_NAMES


@dataclass(frozen=True)
class Param:
    kind: str                     # "float" or "choice"
    default: float | str
    lo: float = 0.0
    hi: float = 1.0
    choices: tuple[str, ...] = ()
    live: bool = True             # may change while playing


# effect type -> parameter name -> spec. Times in seconds, levels in dB, mixes 0..1.
EFFECTS: dict[str, dict[str, Param]] = {
    "reverb": {"size": Param("float", 0.6), "damp": Param("float", 0.5), "mix": Param("float", 0.25)},
    "delay": {"time": Param("float", 0.25, 0.00001, 4.0), "feedback": Param("float", 0.3, 0.0, 0.99),
              "mix": Param("float", 0.3)},
    "chorus": {"depth": Param("float", 1.0, 0.0, 5.0), "feedback": Param("float", 0.25),
               "mix": Param("float", 0.5)},
    "eq": {"freq": Param("float", 1000.0, 20.0, 20000.0), "q": Param("float", 1.0, 0.1, 20.0),
           "boost": Param("float", 0.0, -40.0, 24.0),
           "shape": Param("choice", "peak", choices=("peak", "lowshelf", "highshelf"))},
    "filter": {"freq": Param("float", 1000.0, 20.0, 20000.0), "q": Param("float", 0.7071, 0.1, 20.0),
               "shape": Param("choice", "lowpass",
                              choices=("lowpass", "highpass", "bandpass", "bandstop", "allpass"))},
    "compressor": {"thresh": Param("float", -20.0, -60.0, 0.0), "ratio": Param("float", 4.0, 1.0, 100.0),
                   "attack": Param("float", 0.01, 0.001, 1.0), "release": Param("float", 0.1, 0.001, 5.0),
                   "knee": Param("float", 0.0, 0.0, 1.0), "makeup": Param("float", 0.0, -24.0, 24.0),
                   "lookahead": Param("float", 5.0, 0.0, 25.0, live=False)},
}

WORKERS = ("process", "thread")
MAX_BUSES = 4
_TOP = ("enabled", "block", "latency", "worker", "master", "buses")
_BUS = ("chain", "sends")


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _num(v: Any, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{key} must be a number, not {type(v).__name__} {v!r}")
    x = float(v)
    if x != x or x in (float("inf"), float("-inf")):
        raise ConfigError(f"{key} must be finite, not {v!r}")
    return x


def check_param(kind: str, name: str, value: Any, key: str) -> float | str:
    """Validate one effect parameter; returns the normalised value."""
    spec = EFFECTS[kind].get(name)
    if spec is None:
        raise ConfigError(f"{key}: {kind} has no parameter {name!r}; it has: "
                          + ", ".join(["type", "name", *EFFECTS[kind]]))
    if spec.kind == "choice":
        if not isinstance(value, str) or value not in spec.choices:
            raise ConfigError(f"{key} must be one of {', '.join(spec.choices)}, not {value!r}")
        return value
    x = _num(value, key)
    if not spec.lo <= x <= spec.hi:
        raise ConfigError(f"{key} must be in {spec.lo:g}..{spec.hi:g}, not {value!r}")
    return x


def _effect(d: Any, key: str, names: set[str]) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ConfigError(f"{key} must be a table like {{type = \"reverb\", mix = 0.3}}, not {d!r}")
    kind = d.get("type")
    if not isinstance(kind, str) or kind not in EFFECTS:
        raise ConfigError(f"{key}.type must be one of {', '.join(EFFECTS)}, not {kind!r}")
    name = d.get("name", kind)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{key}.name must be a non-empty string, not {name!r}")
    if name in names:
        i = 2
        while f"{name}{i}" in names:
            i += 1
        if "name" in d:
            raise ConfigError(f"{key}.name {name!r} is used twice")
        name = f"{name}{i}"
    names.add(name)
    out: dict[str, Any] = {"type": kind, "name": name}
    for p, spec in EFFECTS[kind].items():
        out[p] = spec.default
    for k, v in d.items():
        if k in ("type", "name"):
            continue
        out[k] = check_param(kind, k, v, _where(key, k))
    return out


def _chain(v: Any, key: str, names: set[str]) -> list[dict[str, Any]]:
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise ConfigError(f"{key} must be a list of effect tables, not {type(v).__name__}")
    return [_effect(e, f"{key}[{i}]", names) for i, e in enumerate(v)]


def validate(cfg: Any, path: str = "fx") -> dict[str, Any]:
    """A normalised copy of an ``[fx]`` table (a dict), or ConfigError naming the bad key."""
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path} must be a table, not {type(cfg).__name__}")
    for k in cfg:
        if k not in _TOP:
            raise ConfigError(f"{_where(path, str(k))}: unknown key; [fx] keys are: {', '.join(_TOP)}")
    enabled = cfg.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{path}.enabled must be true or false, not {enabled!r}")
    block = cfg.get("block", 64)
    if isinstance(block, bool) or not isinstance(block, int) or block < 16 or block > 4096 \
            or block & (block - 1) or FX_CAP % block:
        raise ConfigError(f"{path}.block must be a power of two 16..4096, not {block!r}")
    latency = cfg.get("latency", 0)
    if isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency <= FX_CAP // 2:
        raise ConfigError(f"{path}.latency must be an integer 0..{FX_CAP // 2} frames (0 = automatic), "
                          f"not {latency!r}")
    worker = cfg.get("worker", "process")
    if worker not in WORKERS:
        raise ConfigError(f"{path}.worker must be one of {', '.join(WORKERS)}, not {worker!r}")
    names: set[str] = set()
    master = _chain(cfg.get("master", []), f"{path}.master", names)
    buses_in = cfg.get("buses", {})
    if not isinstance(buses_in, dict):
        raise ConfigError(f"{path}.buses must be a table of named buses, not {type(buses_in).__name__}")
    if len(buses_in) > MAX_BUSES:
        raise ConfigError(f"{path}.buses: at most {MAX_BUSES} buses, not {len(buses_in)}")
    buses: dict[str, Any] = {}
    for bname, b in buses_in.items():
        bkey = f"{path}.buses.{bname}"
        if not isinstance(b, dict):
            raise ConfigError(f"{bkey} must be a table with chain and sends")
        for k in b:
            if k not in _BUS:
                raise ConfigError(f"{_where(bkey, str(k))}: unknown key; a bus has: {', '.join(_BUS)}")
        chain = _chain(b.get("chain", []), f"{bkey}.chain", names)
        sends_in = b.get("sends", {})
        if not isinstance(sends_in, dict):
            raise ConfigError(f"{bkey}.sends must be a table like {{rules = 0.3}}")
        sends: dict[str, float] = {}
        for lay, amt in sends_in.items():
            if lay not in LAYER_NAMES:
                raise ConfigError(f"{bkey}.sends.{lay}: unknown layer; layers: {', '.join(LAYER_NAMES)}")
            x = _num(amt, f"{bkey}.sends.{lay}")
            if not 0.0 <= x <= 4.0:
                raise ConfigError(f"{bkey}.sends.{lay} must be in 0..4, not {amt!r}")
            sends[lay] = x
        buses[str(bname)] = {"chain": chain, "sends": sends}
    return {"enabled": enabled, "block": block, "latency": latency, "worker": worker,
            "master": master, "buses": buses}


# ready-made racks for ``rtgen play --fx NAME`` (a name or a comma list of names)
PRESETS: dict[str, dict[str, Any]] = {
    "reverb": {"master": [{"type": "reverb", "size": 0.7, "damp": 0.5, "mix": 0.25}]},
    "delay": {"master": [{"type": "delay", "time": 0.3, "feedback": 0.35, "mix": 0.25}]},
    "chorus": {"master": [{"type": "chorus", "depth": 1.2, "feedback": 0.2, "mix": 0.4}]},
    "warm": {"master": [{"type": "filter", "shape": "lowpass", "freq": 6000.0},
                        {"type": "eq", "shape": "lowshelf", "freq": 200.0, "boost": 3.0}]},
    "glue": {"master": [{"type": "compressor", "thresh": -18.0, "ratio": 3.0, "makeup": 3.0}]},
    "hall": {"master": [{"type": "chorus", "depth": 0.8, "mix": 0.3},
                        {"type": "delay", "time": 0.375, "feedback": 0.25, "mix": 0.15},
                        {"type": "reverb", "size": 0.85, "damp": 0.4, "mix": 0.35},
                        {"type": "compressor", "thresh": -16.0, "ratio": 2.5}]},
}


def preset(spec: str) -> dict[str, Any]:
    """The ``[fx]`` table for ``--fx reverb`` or ``--fx chorus,delay,reverb`` (chains, in order)."""
    master: list[dict[str, Any]] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        if part not in PRESETS:
            raise ConfigError(f"--fx {part!r}: unknown effects preset; presets: {', '.join(PRESETS)}")
        master += [dict(e) for e in PRESETS[part]["master"]]
    return validate({"master": master})
