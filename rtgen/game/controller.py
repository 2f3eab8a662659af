"""The music controller: a game's states, parameters, stingers and beat callbacks, on the engine.

:class:`MusicController` turns requests (``set_state``, ``set_param``, ``stinger``, ``note``)
into engine setter calls timed on the sample of the next beat or bar, and hands the engine's
beats, notes and landed transitions back to the game from :meth:`MusicController.poll`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..protocol import EngineLike
from ..rt.layout import (
    CHUNK,
    H_BASE_OCTAVE,
    H_ROOT,
    LAYER_NAMES,
    LF_GAIN,
    N_GEN,
    O_BEAT,
    O_NOTE_ON,
    P_BEATS_PER_BAR,
    P_BPM,
    P_SR,
    RING_CONTROL,
    S_SAMPLE,
)
from .schema import (
    QUANTA,
    ParamSpec,
    StateSpec,
    StingerSpec,
    parse_params,
    parse_states,
    parse_stingers,
    parse_target,
    state_from_preset,
)

log = logging.getLogger("rtgen.game")


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


def beat_anchor(engine: EngineLike, wait_callback: bool = False) -> tuple[float, float]:
    """(chunk start sample, beat position there): see :meth:`rtgen.engine.Engine.beat_anchor`."""
    return engine.beat_anchor(wait_callback)


def sample_at_beat(engine: EngineLike, beat: float) -> float:
    """Absolute sample of a beat position at the current tempo (:meth:`Engine.sample_at_beat`)."""
    return float(engine.sample_at_beat(beat))


def beat_at(engine: EngineLike, sample: float) -> float:
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

    def __init__(self, engine: EngineLike, params: Mapping[str, Any] | None = None,
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
        self.clamped: dict[str, int] = {}                  # parameter -> out-of-range values given
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
    def _sent(self, ok: bool) -> bool:
        """Pass an engine setter's answer on, warning (rate-limited) when the ring dropped it."""
        ok = bool(ok)
        if not ok:
            self.bad.warn("ring", "command ring full: a music command was dropped")
        return ok

    @property
    def sample_rate(self) -> float:
        return float(self.engine.sample_rate)

    def samples_per_beat(self) -> float:
        return float(self.engine.samples_per_beat())

    def boundary(self, quantum: str) -> float:
        """The sample a change quantised to ``quantum`` lands on (-1 = at once).

        A boundary too close to be prepared (the generators of a state start one chunk
        before it, see :meth:`set_state`) moves on to the next one.
        """
        if quantum not in QUANTA:
            raise ConfigError(f"quantum must be one of {', '.join(QUANTA)}, not {quantum!r}")
        if quantum == "immediate":
            return -1.0
        live = self.engine.is_live
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
        # beats per chunk with the kernel's own arithmetic (P_BEAT_INC), so the walk below lands
        # on the sample the kernel's beat clock crosses, bit for bit
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
        """Set a named parameter; ``ramp`` seconds glides to it in :meth:`poll`.

        A value outside the parameter's range is clamped to it, with a warning the first time
        that parameter is given one (``clamped`` counts them all). Returns the value set. An
        unknown name raises ConfigError.
        """
        with self._lock:
            spec = self.params.get(name)
            if spec is None:
                raise ConfigError(f"unknown parameter {name!r}; parameters: {', '.join(self.params) or 'none'}")
            v = float(value)
            if not math.isfinite(v):
                raise ConfigError(f"parameter {name}: value must be a finite number, not {value}")
            if not spec.lo <= v <= spec.hi:
                self._warn_clamped(name, v, spec)
                v = min(spec.hi, max(spec.lo, v))
            if ramp > 0.0:
                t = time.monotonic()
                self._ramps[name] = (self.values[name], v, t, t + float(ramp))
                return v
            self._ramps.pop(name, None)
            self._apply_param(name, v, time_)
            return v

    def _warn_clamped(self, name: str, v: float, spec: ParamSpec) -> None:
        n = self.clamped.get(name, 0)
        self.clamped[name] = n + 1
        if n == 0:
            log.warning("parameter %s: %g is outside its range %g..%g and is clamped to it "
                        "(warned once per parameter)", name, v, spec.lo, spec.hi)

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
                def pick(c: str) -> float | None:
                    return v if prm == c else None

                self.engine.set_voice_controls(name, vibrato=pick("vibrato"), vibrato_rate=pick("vibrato_rate"),
                                               brightness=pick("brightness"), breath=pick("breath"), time=time_)
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
                return self._sent(self.engine.set_tempo(v, time=time_, ring=self.ring))
            if kind == "master":
                if not 0.0 <= v <= 4.0:
                    raise ConfigError(f"master gain must be 0..4, not {v}")
                return self._sent(self.engine.set_master_gain(v, time=time_, ring=self.ring))
            if kind == "swing":
                if not 0.0 <= v <= 0.75:
                    raise ConfigError(f"swing must be 0..0.75, not {v}")
                return self._sent(self.engine.set_swing(v, time=time_, ring=self.ring))
            if kind in ("density", "tension"):
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"{kind} must be 0..1, not {v}")
                hint = self.engine.set_density if kind == "density" else self.engine.set_tension
                return self._sent(hint(v, time=time_, ring=self.ring))
            if kind == "morph":          # neural timbre: how far voices move towards Engine.set_morph's instrument
                if not 0.0 <= v <= 1.0:
                    raise ConfigError(f"morph must be 0..1, not {v}")
                return self._sent(self.engine.set_morph(None, v, time=time_, ring=self.ring))
        raise ConfigError(f"unknown target {target!r}")

    def _matching_slots(self, name: str) -> list[int]:
        gens = self.engine.generators()
        if name.isdigit():
            return [int(name)] if int(name) in gens else []
        return [s for s in self._slots if s in gens and getattr(gens[s], "name", "") == name]

    def _send_layer(self, name: str, time_: float) -> bool:
        gain = self._layer_base.get(name, 1.0) * self._layer_mult.get(name, 1.0)
        return self._sent(self.engine.set_layer(LAYER_NAMES.index(name), gain=min(4.0, gain), time=time_,
                                                ring=self.ring))

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
        from ..gen.presets import load_preset

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
        return [s for s in range(N_GEN) if s not in gens and s not in self._reserved and self.engine.slot_free(s)]

    def _free_slots(self, n: int, until: float) -> list[int]:
        free = self._free_list()
        if len(free) < n:
            raise ConfigError(f"not enough free generator slots for the transition ({len(free)} free, {n} needed)")
        return free[:n]

    def _start_generator(self, seq: Any, at: float) -> int:
        slot = self._free_slots(1, at)[0]
        self.engine.add_generator(seq, slot=slot, active=False)
        self._sent(self.engine.set_generator_active(slot, True, time=_prep_time(at), ring=self.ring))
        self._start_at[slot] = at
        return slot

    def _stop_generator(self, slot: int, at: float) -> None:
        # a generator whose start is still ahead (a transition overtaken by a sooner one) stops
        # on its own start sample: an earlier stop would be undone by the pending start
        start = self._start_at.pop(slot, -1.0)
        if start >= 0 and (at < 0 or at < start):
            at = start
        # stop it stepping before the chunk that holds ``at``, release its voices exactly on ``at``
        self._sent(self.engine.stop_generator_steps(slot, time=_prep_time(at), ring=self.ring))
        self.engine.remove_generator(slot, time=at)
        # the slot plays until ``at``: keep others off it until then (and two chunks after)
        until = (at if at >= 0 else self._now()) + 2 * CHUNK
        self._reserved[slot] = max(until, self._reserved.get(slot, until))
        self._outgoing[slot] = at

    def _stop_sooner(self, at: float) -> None:
        """Generators already on their way out, but later than ``at`` (an overtaken transition): out at ``at``."""
        for slot, t in list(self._outgoing.items()):
            if at < 0 <= t or 0 <= at < t:
                self._sent(self.engine.stop_generator_steps(slot, time=_prep_time(at), ring=self.ring))
                self._sent(self.engine.set_generator_active(slot, False, time=at, ring=self.ring))
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
                self._sent(self.engine.set_tempo(st.tempo, time=at, ring=self.ring))
            if st.beats_per_bar is not None:
                self._sent(self.engine.set_meter(st.beats_per_bar, time=at, ring=self.ring))
            if st.swing is not None:
                self._sent(self.engine.set_swing(st.swing, time=at, ring=self.ring))
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
        """The state's key and chord (no chord clears it), with the base octave if none was set."""
        base = 4 if self.engine.state.harm[H_BASE_OCTAVE] == 0 else None
        self._sent(self.engine.set_harmony(st.root, st.scale, st.chord if st.chord is not None else (),
                                           base_octave=base, time=at, ring=self.ring))

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


__all__ = ["Beat", "BeatCallback", "MusicController", "RateLimitedLog", "Transition", "beat_anchor", "beat_at",
           "sample_at_beat"]
