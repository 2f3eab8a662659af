"""``rtgen jam``: play with rtgen from a MIDI keyboard; the Continuator answers.

Wiring (all control-side threads; the audio thread only sees the command rings)::

    MIDI in ─► MidiInput (RING_MIDI) ─► engine: the player's notes, at constant latency
                  ├─► Follower (RING_MIDI): key, density, intensity, tempo, chords
                  └─► Continuator thread (RING_ANSWER): answers at phrase ends
    engine.events() ─► EventTap thread ─► MidiOutput (external synth / DAW), statistics

Audio: the live backend when a sound device (or JACK server) is reachable; otherwise, or
with ``audio=False``, a *clock thread* renders blocks in real time into a discarded
buffer so the engine's sample clock, the answers and MIDI out still run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..rt.layout import LAYER_ANSWER, LAYER_PLAYER, O_NOTE_ON, P_BPM
from .midi import MidiInput, MidiOutput, list_ports

log = logging.getLogger("rtgen.jam")


class EventTap:
    """Drains ``engine.events()`` in one thread and hands the rows to every sink."""

    def __init__(self, engine: Any, sinks: list[Callable[[np.ndarray], None]] | None = None,
                 poll_s: float = 0.001) -> None:
        self.engine = engine
        self.sinks = list(sinks or [])
        self.poll_s = poll_s
        self.rows = 0
        self.answer_onsets: list[float] = []          # engine samples of answer note-ons
        self.player_onsets = 0
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def start(self) -> EventTap:
        self._t = threading.Thread(target=self._loop, name="rtgen-events", daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            ev = self.engine.events()
            if ev is None or len(ev) == 0:
                time.sleep(self.poll_s)
                continue
            self.rows += len(ev)
            on = ev[ev[:, 0] == O_NOTE_ON]
            if len(on):
                a = on[on[:, 4] == LAYER_ANSWER]
                if len(a) and len(self.answer_onsets) < 1_000_000:
                    self.answer_onsets.extend(float(x) for x in a[:, 1])
                self.player_onsets += int(np.count_nonzero(on[:, 4] == LAYER_PLAYER))
            for s in self.sinks:
                s(ev)

    def stop(self) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=2.0)
            self._t = None


class ClockThread:
    """Renders the engine in real time without a sound device (the engine's clock keeps running)."""

    def __init__(self, engine: Any, block: int | None = None) -> None:
        self.engine = engine
        self.block = int(block or engine.spec.block_size)
        self.buf = np.zeros((self.block, 2), np.float32)
        self._stop = threading.Event()
        self._t: threading.Thread | None = None
        self.late_blocks = 0

    def start(self) -> ClockThread:
        self.engine.render(self.buf)                 # compile / load the kernel before timing starts
        self._t = threading.Thread(target=self._loop, name="rtgen-clock", daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        sr = float(self.engine.spec.sample_rate)
        dt = self.block / sr
        t_next = time.monotonic()
        while not self._stop.is_set():
            self.engine.render(self.buf)
            t_next += dt
            d = t_next - time.monotonic()
            if d > 0:
                time.sleep(d)
            elif d < -0.1:                           # far behind (machine busy): resynchronise
                self.late_blocks += 1
                t_next = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=2.0)
            self._t = None


@dataclass
class JamSummary:
    seconds: float = 0.0
    audio: str = ""
    midi_in: str = ""
    midi_out: str = ""
    notes_in: int = 0
    phrases: int = 0
    answers: int = 0
    answer_notes: int = 0
    answer_latency_ms: dict[str, float] = field(default_factory=dict)
    midi_jitter: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    key: str = ""
    #: other answer latencies the Continuator reports (e.g. from the player's last note-off), by name
    latencies_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    bpm: float = 0.0
    arrangement: str = ""
    timbre: str = ""
    verdict: str = ""

    @staticmethod
    def _lat(lat: dict[str, float]) -> str:
        if not lat or not lat.get("n", 1):
            return "-"
        worst = lat.get("max", lat.get("worst", float("nan")))
        lo = lat.get("min")
        rng = f"{lo:.1f}..{worst:.1f}" if lo is not None else f"worst {worst:.1f}"
        n = lat.get("n")
        return f"{lat.get('median', float('nan')):.1f} ms median ({rng}" + (f", n={n:g})" if n is not None else ")")

    def text(self) -> str:
        lat_s = self._lat(self.answer_latency_ms)
        jit = self.midi_jitter
        jit_s = (f"{jit['jitter_ms_std']:.2f} ms std, {jit['jitter_ms_max']:.2f} ms max"
                 if jit.get("n") else "-")
        lines = [
            f"jam: {self.seconds:.1f} s, audio: {self.audio}, MIDI in: {self.midi_in}, "
            f"out: {self.midi_out or '-'}",
        ]
        if self.verdict:
            lines.append(f"  verdict: {self.verdict}")
        if self.arrangement or self.bpm:
            lines.append(f"  arrangement: {self.arrangement or '-'} at {self.bpm:g} bpm"
                         + (f", timbre {self.timbre}" if self.timbre else ""))
        lines += [
            f"  notes in: {self.notes_in}, phrases: {self.phrases}, answers: {self.answers} "
            f"({self.answer_notes} notes), key: {self.key or '-'}",
        ]
        # the time the player feels first: from their last note-off, when the Continuator reports it
        for name, lat in self.latencies_ms.items():
            label = name.removesuffix("_ms").removeprefix("answer_latency_").replace("_", " ")
            label = {"from note off": "your last note-off"}.get(label, label)
            lines.append(f"  {label} -> first answer note: {self._lat(lat)}")
        lines += [
            f"  phrase detection -> first answer note: {lat_s}",
            f"  MIDI-in scheduling jitter: {jit_s}",
            "  dropped: " + ", ".join(f"{k} {v}" for k, v in self.dropped.items()),
        ]
        return "\n".join(lines)


#: client names of the jam's MIDI ports as JACK and ALSA show them (the audio client is ``rtgen``,
#: ports ``rtgen:out_0`` / ``rtgen:out_1``); a client name is unique per server, hence three clients
MIDI_IN_CLIENT = "rtgen-in"
MIDI_OUT_CLIENT = "rtgen-out"


@dataclass
class Jam:
    """A running jam session (what :func:`run_jam` builds); ``stop()`` returns the summary."""

    engine: Any
    midi_in: MidiInput
    continuator: Any
    follower: Any
    tap: EventTap
    midi_out: MidiOutput | None
    audio: Any
    audio_name: str
    memory: str | None
    t0: float
    arrangement: str = ""
    _summary: JamSummary | None = None

    def ports(self) -> str:
        """The ports to connect, as other programs see them."""
        parts = [f"MIDI in {self.midi_in.port_name}"]
        if self.midi_out is not None:
            parts.append(f"MIDI out {self.midi_out.port_name}")
        if "JACK" in str(getattr(self.audio, "hostapi", "")):
            parts.append("audio rtgen:out_0, rtgen:out_1")
        else:
            parts.append(f"audio {self.audio_name}")
        return ", ".join(parts)

    def stop(self) -> JamSummary:
        """Stop every part (idempotent) and return the summary."""
        if self._summary is not None:
            return self._summary
        self.midi_in.stop()                     # releases held keys first
        self.continuator.stop()                 # releases the answer
        time.sleep(0.05)
        self.tap.stop()
        if self.midi_out is not None:
            self.midi_out.stop()
        live: Any = None
        if self.audio is not None:
            live = self.audio.stop()
        if self.memory:
            self.continuator.save(self.memory)
        c = self.continuator.stats.summary()
        eng_stats = self.engine.stats() if hasattr(self.engine, "stats") else {}
        same = ("answer_latency_ms", "answer_latency_from_detection_ms")     # the detection line below
        others = {k: v for k, v in c.items() if k.endswith("latency_ms") and k not in same and isinstance(v, dict)}
        for k, v in vars(self.continuator.stats).items():     # raw lists the summary left out
            if k.endswith("latency_ms") and k not in same and k not in others and isinstance(v, list) \
                    and v:
                a = np.asarray(v, dtype=np.float64)
                others[k] = {"median": float(np.median(a)), "min": float(a.min()), "max": float(a.max()),
                             "n": int(a.size)}
        verdict = live.verdict() if hasattr(live, "verdict") else ""
        from ..session import timbre_line

        self._summary = JamSummary(
            seconds=time.monotonic() - self.t0, audio=self.audio_name,
            midi_in=self.midi_in.port_name or "",
            midi_out=(self.midi_out.port_name or "") if self.midi_out else "",
            notes_in=c["notes_in"], phrases=c["phrases"], answers=c["answers"],
            answer_notes=c["answer_notes"],
            answer_latency_ms=c.get("answer_latency_ms", {}),
            midi_jitter=self.midi_in.jitter.summary(float(self.engine.spec.sample_rate)),
            dropped={"midi_ring": self.midi_in.stats.dropped_ring,
                     "midi_parse": self.midi_in.stats.parse.dropped,
                     "answer_ring": c["dropped"], "follower_ring": self.follower.dropped,
                     "engine_commands": int(eng_stats.get("commands_dropped", 0)),
                     "engine_events": int(eng_stats.get("events_dropped", 0))},
            key=self.follower.key.name() if self.follower.key.known else "",
            latencies_ms=others, bpm=float(self.engine.state.p[P_BPM]), arrangement=self.arrangement,
            timbre=timbre_line(eng_stats) if eng_stats else "", verdict=verdict)
        return self._summary


def _load_memory(cont: Any, memory: str) -> None:
    """Load a Continuator memory file, or say in one line why it is not one."""
    from ..errors import ConfigError

    try:
        cont.load(memory)
    except ConfigError:
        raise
    except Exception as e:      # numpy's own messages (pickle, zip) do not tell a player what is wrong
        raise ConfigError(f"{memory}: not a Continuator memory file (rtgen jam --memory writes one, an .npz "
                          f"archive): {type(e).__name__}") from None


def start_jam(midi_in: str | None = None, midi_out: str | None = None, preset: str | None = None,
              *, latency_ms: float | None = None, memory: str | None = None, api: str = "auto",
              audio: bool = True, engine: Any = None, continuator_config: Any = None,
              follow_tempo: bool = False, out_layers: dict[int, int] | None = None,
              spec: Any = None, session: Any = None, style: str | None = None,
              style_save: str | None = None) -> Jam:
    """Start a jam and return it running (the caller stops it).

    The engine: ``engine`` as given, else one built by :func:`rtgen.session.build_engine` from
    ``session`` (a :class:`rtgen.session.SessionSpec`), else from ``preset`` and ``spec``'s rates.
    Without a preset it plays the default arrangement, which the player's key and density steer.
    """
    from ..gen.continuator import ContinuatorConfig
    from .continuator_live import Continuator
    from .follow import Follower

    arrangement = ""
    if engine is None:
        from ..session import SessionSpec, build_engine

        if session is None:
            kw: dict[str, Any] = {"preset": preset}
            if spec is not None:
                kw.update(sample_rate=spec.sample_rate, block_size=spec.block_size, seed=spec.seed)
            session = SessionSpec(**kw)
        built = build_engine(session)
        engine = built.engine
        arrangement = getattr(built.preset, "name", "") or "pulse"
    parts: list[Any] = []               # what to stop if a later part fails to start
    try:
        audio_obj: Any = None
        audio_name = "clock thread (no audio)"
        if audio:
            try:
                from ..backends.live import LiveStream
                audio_obj = LiveStream(engine).start()
                audio_name = getattr(audio_obj, "device_name", "live")
            except Exception as e:              # no device: keep the engine clock running anyway
                log.warning("no audio output (%s); running the engine clock without sound", e)
                audio_obj = None
        if audio_obj is None:
            audio_obj = ClockThread(engine).start()
        parts.append(audio_obj)
        try:
            from ..gen.band import start_live as start_arrangement

            start_arrangement(engine)       # a preset's [arrangement] runs ahead of the stream
        except ImportError:
            pass
        accomp = continuator_config is not None and continuator_config.mode == "accompaniment"
        follower = Follower(engine, follow_tempo=follow_tempo, accompaniment=accomp)
        cont = Continuator(engine, continuator_config or ContinuatorConfig(), seed=int(engine.spec.seed),
                           harmony=follower.harmony_weights)
        if memory and os.path.exists(memory):
            _load_memory(cont, memory)
        if style:                           # the Continuator's style library (a corpus as long-term model)
            cont.load_library(style)
            if style_save:
                cont.save_library(style_save)
        cont.start()
        parts.append(cont)
        lat = None if latency_ms is None else latency_ms / 1e3
        mi = MidiInput(engine, midi_in, api=api, latency_s=lat, client_name=MIDI_IN_CLIENT,
                       listeners=[cont.midi_listener, follower]).start()
        parts.append(mi)
        mo = None
        sinks: list[Callable[[np.ndarray], None]] = []
        if midi_out is not None:
            mo = MidiOutput(engine, None if midi_out in ("", "virtual") else midi_out, api=mi.api,
                            client_name=MIDI_OUT_CLIENT, layers=out_layers, events=lambda: None)
            mo.start()
            parts.append(mo)
            sinks.append(mo.send_rows)
        tap = EventTap(engine, sinks).start()
    except BaseException:
        for part in reversed(parts):
            try:
                part.stop()
            except Exception as e:
                log.warning("stopping %s failed: %s", type(part).__name__, e)
        raise
    return Jam(engine, mi, cont, follower, tap, mo, audio_obj, audio_name, memory, time.monotonic(),
               arrangement)


def run_jam(midi_in: str | None = None, midi_out: str | None = None, preset: str | None = None,
            seconds: float | None = None, *, latency_ms: float | None = None, memory: str | None = None,
            api: str = "auto", audio: bool = True, quiet: bool = False, stop_flag: Any = None,
            **kw: Any) -> JamSummary:
    """Jam until ``seconds`` have passed, Ctrl-C, or ``stop_flag.stop`` (a
    :class:`rtgen.signals.StopSignals`) turns true; prints and returns the summary."""
    from ..precompile import compile_notice
    from ..signals import say

    with compile_notice(live=audio):
        jam = start_jam(midi_in, midi_out, preset, latency_ms=latency_ms, memory=memory, api=api, audio=audio,
                        **kw)
    try:
        if not quiet:
            say(f"rtgen jam: play into {jam.midi_in.port_name}; ports: {jam.ports()}; "
                f"{jam.arrangement or 'your engine'} at {float(jam.engine.state.p[P_BPM]):g} bpm"
                + (f" for {seconds:g} s" if seconds else " (Ctrl-C to stop)"), sys.stderr)
        if stop_flag is not None:
            stop_flag.armed = True
        end = None if seconds is None else time.monotonic() + float(seconds)
        while (end is None or time.monotonic() < end) and not (stop_flag is not None and stop_flag.stop):
            time.sleep(0.1 if end is None else max(0.0, min(0.1, end - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        summary = jam.stop()
    if not quiet:
        say(summary.text())
    return summary


# ---------------------------------------------------------------- CLI

def _cmd_ports(args: argparse.Namespace) -> int:
    ports = list_ports(args.api)
    if args.json:
        print(json.dumps(ports))
        return 0
    print(f"MIDI API: {ports['api'][0]}")
    print("inputs (play into rtgen from these):")
    for n in ports["inputs"]:
        print(f"  {n}")
    print("outputs (rtgen can send to these):")
    for n in ports["outputs"]:
        print(f"  {n}")
    return 0
