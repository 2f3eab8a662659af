"""One way to build an engine from settings: a frozen :class:`SessionSpec` and :func:`build_engine`.

``rtgen play``, ``rtgen render``, ``rtgen jam`` and the terminal UI all build their engine here
(they used to do it twice, in the CLI and in the UI's session code, which imported each other).
The spec holds what a user chooses (rates, seed, tempo, preset, timbre, effects); the builder
reads the preset file once, gives the engine the preset's tempo unless ``bpm`` overrides it, sets
harmony, layers and generators, and returns a :class:`Session` with everything the preset file
carried for the live side (MIDI map, ``[params]``/``[states]``/``[stingers]``, ``[fx]``).

This module sits below the CLI and the UI and above the engine: it imports neither of the former.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace
from typing import Any

from .config import EngineSpec
from .errors import ConfigError

#: the tempo when neither ``--bpm`` nor the preset gives one
DEFAULT_BPM = 110.0
#: what plays when no preset is named (``rtgen play``, ``render``, ``jam``): the first shipped one of
DEFAULT_PRESETS = ("folk", "ensemble")
DEFAULT_PRESET = DEFAULT_PRESETS[0]


@dataclass(frozen=True)
class SessionSpec:
    """What a session is built from (every field has the CLI's default)."""

    sample_rate: int = 48000
    block_size: int = 128
    voices: int = 64
    seed: int = 0
    bpm: float | None = None             # None: the preset's tempo, else DEFAULT_BPM
    preset: str | None = None            # shipped name or .toml path; None: the default arrangement
    timbre: str | None = None            # "additive" or "neural"; None: the preset's 'timbre', else neural
    fx: str | None = None                # effect names ("hall", "reverb,delay"), "none", or None: the preset's [fx]
    default_preset: str | None = DEFAULT_PRESET   # what plays without a preset (None: a plain pulse)

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> SessionSpec:
        """The spec of a parsed command line (missing options keep their defaults)."""
        kw: dict[str, Any] = {}
        for name, attr in (("sample_rate", "samplerate"), ("block_size", "blocksize"), ("voices", "voices"),
                           ("seed", "seed"), ("bpm", "bpm"), ("preset", "preset"), ("timbre", "timbre"),
                           ("fx", "fx")):
            v = getattr(args, attr, None)
            if v is not None:
                kw[name] = v
        kw.update(overrides)
        return cls(**kw)

    def with_(self, **kw: Any) -> SessionSpec:
        return replace(self, **kw)


@dataclass
class Session:
    """A built engine and what its preset file carried."""

    spec: SessionSpec
    engine: Any
    preset: Any = None                   # the PresetSpec that plays (None: the plain pulse)
    midi_map: Any = None                 # MidiMapSpec of the file's [midi_map], if any
    music: dict[str, Any] = field(default_factory=dict)   # [params]/[states]/[stingers]
    fx: dict[str, Any] | None = None     # the effects to run (validated config), None: dry

    @property
    def bpm(self) -> float:
        from .rt.layout import P_BPM

        return float(self.engine.state.p[P_BPM])


# ------------------------------------------------------------------ presets
def load_preset_arg(name: str) -> Any:
    """A preset by shipped name or .toml path (the verbs' ``--preset``)."""
    try:
        from .gen.presets import load_preset
    except ImportError as e:
        raise ConfigError(f"presets are not available in this build: {e}") from e
    return load_preset(name)


def apply_preset(engine: Any, preset: Any) -> None:
    """Set harmony, swing, meter, layers and generators of ``engine`` from a loaded preset."""
    from .gen.presets import apply_to_engine

    apply_to_engine(preset, engine)


def add_default_generators(engine: Any) -> None:
    """Without presets: a metronome-like pulse so the engine is audibly alive."""
    from .gen.base import Sequencer
    from .rt.layout import GI_USER, GK_TEST, LAYER_RULES

    class _Pulse(Sequencer):
        kind = GK_TEST
        name = "pulse"

        def pack(self, gi, gf, gbuf, seed, slot):  # type: ignore[no-untyped-def]
            self.pack_common(gi, gf, seed, slot)
            gi[GI_USER] = 67
            gi[GI_USER + 1] = 72
            gi[GI_USER + 2] = 4

    engine.add_generator(_Pulse(layer=LAYER_RULES, steps_per_beat=1, gate=0.5))


def _read_preset(spec: SessionSpec) -> tuple[Any, Any, dict[str, Any]]:
    """(preset, MIDI map, music tables) of the spec's preset, the file read once per table kind."""
    name = spec.preset
    if not name:
        if spec.default_preset is None:
            return None, None, {}
        try:
            from .gen.presets import list_presets, load_preset
        except ImportError:
            return None, None, {}
        shipped = list_presets()
        wanted = (spec.default_preset,) + (DEFAULT_PRESETS if spec.default_preset == DEFAULT_PRESET else ())
        best = next((n for n in wanted if n in shipped), None)
        return (load_preset(best) if best else None), None, {}
    from .control.params import has_extra_tables

    if has_extra_tables(name):
        from .control.params import read_preset_file

        f = read_preset_file(name)                 # the one loader: preset, MIDI map, music tables
        return f.preset, f.midi_map, dict(f.music)
    preset = load_preset_arg(name)
    return preset, getattr(preset, "midi_map", None), {}


def fx_config(spec: SessionSpec, preset: Any) -> dict[str, Any] | None:
    """The effects to use: ``spec.fx`` names (or 'none'), else the preset's [fx] table, else none."""
    if spec.fx:
        if spec.fx == "none":
            return None
        from .fx import preset as fx_preset

        return dict(fx_preset(spec.fx))
    return getattr(preset, "fx", None)


def _table_cache_path(sr: float, itab: Any, iparam: Any) -> Any:
    """Where the additive timbre's tables for this sample rate and these shapes are kept on disk."""
    import hashlib
    from pathlib import Path

    from ._jitcache import cache_root

    h = hashlib.sha1()
    for f in sorted((Path(__file__).parent / "timbre").glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(repr((float(sr), itab.shape, str(itab.dtype), iparam.shape, str(iparam.dtype))).encode())
    return cache_root() / "tables" / f"additive-{h.hexdigest()[:16]}.npz"


def cached_additive_timbre() -> Any:
    """The additive timbre, its wavetables kept on disk after the first build: they are a pure
    function of the timbre's sources, the sample rate and the table shapes, and building them
    is a good part of a warm start. A cache that cannot be read or written is rebuilt silently."""
    import numpy as np

    from .timbre.additive import AdditiveTimbre

    t = AdditiveTimbre()
    build = t.fill_tables

    def fill_tables(itab: Any, iparam: Any, sr: float) -> None:
        path = _table_cache_path(sr, itab, iparam)
        try:
            with np.load(path, allow_pickle=False) as z:
                a, b = z["itab"], z["iparam"]
            if a.shape == itab.shape and b.shape == iparam.shape:
                itab[...] = a
                iparam[...] = b
                return
        except (OSError, KeyError, ValueError):
            pass
        build(itab, iparam, sr)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, itab=itab, iparam=iparam)
            os.replace(tmp, path)
        except OSError:
            pass

    t.fill_tables = fill_tables  # type: ignore[method-assign]
    return t


def build_engine(spec: SessionSpec) -> Session:
    """Build the engine a session plays: the tempo is ``spec.bpm``, else the preset's, else 110."""
    from .engine import Engine

    preset, mm, music = _read_preset(spec)
    bpm = spec.bpm if spec.bpm is not None else (getattr(preset, "tempo", None) or DEFAULT_BPM)
    espec = EngineSpec(sample_rate=spec.sample_rate, block_size=spec.block_size, voices=spec.voices,
                       seed=spec.seed, bpm=float(bpm))
    kind = str(spec.timbre or getattr(preset, "timbre", None) or "neural").lower()
    timbre: Any = cached_additive_timbre() if kind == "additive" else kind
    eng = Engine(espec, timbre=timbre)
    if preset is not None:
        apply_preset(eng, preset)
    else:
        add_default_generators(eng)
    return Session(spec, eng, preset, mm, music, fx_config(spec, preset))


def build_from_args(args: argparse.Namespace, **overrides: Any) -> Session:
    """:func:`build_engine` for a parsed command line; also leaves what it loaded on ``args``
    (``loaded_preset``, ``midi_map``, ``music_tables``) for code that reads them there."""
    s = build_engine(SessionSpec.from_args(args, **overrides))
    args.loaded_preset = s.preset
    args.midi_map = s.midi_map
    args.music_tables = s.music or None
    return s


def timbre_line(st: dict[str, Any]) -> str:
    """The timbre that played and how often it fell back (whatever counts the engine exposes)."""
    name = str(st.get("timbre", "additive"))
    counts = {k: v for k, v in st.items()
              if ("fallback" in k or k == "late_frames") and isinstance(v, (int, float))}
    if name == "additive" and not any(counts.values()):
        return "additive"
    parts = []
    for k, v in counts.items():
        label = "late neural frames (played additive)" if k == "late_frames" else k.replace("_", " ")
        parts.append(f"{label} {v:g}")
    return name + (" (" + ", ".join(parts) + ")" if parts else "")


def generator_warnings(engine: Any) -> list[str]:
    """What a generator reports that a user should hear about: a grammar whose derivations hit
    their limit (``max_length`` / ``max_depth``) and were abandoned, or that never finished one."""
    from .gen.grammar import GR_DERIVS, GR_TRUNC
    from .rt.layout import GI_ACTIVE, GI_KIND, GK_GRAMMAR

    out = []
    gi = engine.state.gi
    for slot in range(gi.shape[0]):
        if gi[slot, GI_ACTIVE] == 0 or int(gi[slot, GI_KIND]) != GK_GRAMMAR:
            continue
        trunc, done = int(gi[slot, GR_TRUNC]), int(gi[slot, GR_DERIVS])
        if trunc == 0:
            continue
        msg = (f"grammar in slot {slot}: {trunc} derivation{'s' if trunc != 1 else ''} abandoned at the "
               f"max_length/max_depth limit, {done} complete")
        if done == 0:
            msg += ("; it never finished one, so it probably never terminates (every alternative of a "
                    "rule recurses): give a rule a terminal alternative, or raise max_length")
        out.append(msg)
    return out
