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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..rt.layout import LAYER_ANSWER, LAYER_PLAYER, O_NOTE_ON
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

    def text(self) -> str:
        lat = self.answer_latency_ms
        lat_s = (f"{lat['median']:.1f} ms median ({lat['min']:.1f}..{lat['max']:.1f}, n={lat['n']})"
                 if lat else "-")
        jit = self.midi_jitter
        jit_s = (f"{jit['jitter_ms_std']:.2f} ms std, {jit['jitter_ms_max']:.2f} ms max"
                 if jit.get("n") else "-")
        return "\n".join([
            f"jam: {self.seconds:.1f} s, audio: {self.audio}, MIDI in: {self.midi_in}, "
            f"out: {self.midi_out or '-'}",
            f"  notes in: {self.notes_in}, phrases: {self.phrases}, answers: {self.answers} "
            f"({self.answer_notes} notes), key: {self.key or '-'}",
            f"  phrase end -> first answer note: {lat_s}",
            f"  MIDI-in scheduling jitter: {jit_s}",
            "  dropped: " + ", ".join(f"{k} {v}" for k, v in self.dropped.items()),
        ])


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

    def stop(self) -> JamSummary:
        self.midi_in.stop()                     # releases held keys first
        self.continuator.stop()                 # releases the answer
        time.sleep(0.05)
        self.tap.stop()
        if self.midi_out is not None:
            self.midi_out.stop()
        if self.audio is not None:
            self.audio.stop()
        if self.memory:
            self.continuator.save(self.memory)
        c = self.continuator.stats.summary()
        eng_stats = self.engine.stats() if hasattr(self.engine, "stats") else {}
        return JamSummary(
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
            key=self.follower.key.name() if self.follower.key.known else "")


def start_jam(midi_in: str | None = None, midi_out: str | None = None, preset: str | None = None,
              *, latency_ms: float | None = None, memory: str | None = None, api: str = "auto",
              audio: bool = True, engine: Any = None, continuator_config: Any = None,
              follow_tempo: bool = False, out_layers: dict[int, int] | None = None,
              spec: Any = None, style: str | None = None, style_save: str | None = None) -> Jam:
    """Start a jam and return it running (the caller stops it)."""
    from ..gen.continuator import ContinuatorConfig
    from .continuator_live import Continuator
    from .follow import Follower

    if engine is None:
        from ..config import EngineSpec
        from ..engine import Engine
        engine = Engine(spec or EngineSpec())
        if preset:
            from ..cli import apply_preset, load_preset_arg
            apply_preset(engine, load_preset_arg(preset))
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
    accomp = continuator_config is not None and continuator_config.mode == "accompaniment"
    follower = Follower(engine, follow_tempo=follow_tempo, accompaniment=accomp)
    cont = Continuator(engine, continuator_config or ContinuatorConfig(), seed=int(engine.spec.seed),
                       harmony=follower.harmony_weights)
    try:
        if memory and os.path.exists(memory):
            cont.load(memory)
        if style:                           # the Continuator's style library (a corpus as long-term model)
            cont.load_library(style)
            if style_save:
                cont.save_library(style_save)
    except Exception:
        audio_obj.stop()                    # a bad memory or library file: leave nothing running
        raise
    cont.start()
    lat = None if latency_ms is None else latency_ms / 1e3
    mi = MidiInput(engine, midi_in, api=api, latency_s=lat, listeners=[cont.midi_listener, follower]).start()
    mo = None
    sinks: list[Callable[[np.ndarray], None]] = []
    if midi_out is not None:
        mo = MidiOutput(engine, None if midi_out in ("", "virtual") else midi_out, api=mi.api,
                        layers=out_layers, events=lambda: None)
        mo.start()
        sinks.append(mo.send_rows)
    tap = EventTap(engine, sinks).start()
    return Jam(engine, mi, cont, follower, tap, mo, audio_obj, audio_name, memory, time.monotonic())


def run_jam(midi_in: str | None = None, midi_out: str | None = None, preset: str | None = None,
            seconds: float | None = None, *, latency_ms: float | None = None, memory: str | None = None,
            api: str = "auto", audio: bool = True, quiet: bool = False, **kw: Any) -> JamSummary:
    """Jam until ``seconds`` have passed (or Ctrl-C); prints and returns the summary."""
    jam = start_jam(midi_in, midi_out, preset, latency_ms=latency_ms, memory=memory, api=api, audio=audio,
                    **kw)
    if not quiet:
        print(f"rtgen jam: play into MIDI port '{jam.midi_in.port_name}'"
              + (f", answers out on '{jam.midi_out.port_name}'" if jam.midi_out else "")
              + (f" for {seconds:g} s" if seconds else " (Ctrl-C to stop)"), flush=True)
    try:
        end = None if seconds is None else time.monotonic() + float(seconds)
        while end is None or time.monotonic() < end:
            time.sleep(0.1 if end is None else max(0.0, min(0.1, end - time.monotonic())))
    except KeyboardInterrupt:
        pass
    summary = jam.stop()
    if not quiet:
        print(summary.text(), flush=True)
    return summary


# ---------------------------------------------------------------- CLI

def _cmd_jam(args: argparse.Namespace) -> int:
    from ..config import EngineSpec
    from ..gen.continuator import ContinuatorConfig

    spec = EngineSpec(sample_rate=args.samplerate, block_size=args.blocksize)   # bad values: ConfigError
    cfg = ContinuatorConfig(mode=args.mode, rhythm=args.rhythm, on_play=args.on_play,
                            max_copy=args.max_copy, harmonic_s=args.harmonic)
    kw: dict[str, Any] = {"latency_ms": args.latency_ms, "memory": args.memory, "api": args.api,
                          "audio": not args.no_audio, "continuator_config": cfg,
                          "follow_tempo": args.follow_tempo, "spec": spec,
                          "style": args.style, "style_save": args.style_save}
    if getattr(args, "ui", False):
        from ..ui.session import run_jam_ui

        jam = start_jam(args.midi_in, args.midi_out, args.preset, **kw)
        try:
            run_jam_ui(jam, args.seconds)
        finally:
            print(jam.stop().text(), flush=True)
        return 0
    run_jam(args.midi_in, args.midi_out, args.preset, args.seconds, **kw)
    return 0


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


def register(subparsers: Any) -> None:
    """Add ``rtgen jam`` and ``rtgen midi-ports`` to the CLI."""
    from ..gen.continuator import MODES, ON_PLAY, RHYTHMS

    j = subparsers.add_parser("jam", help="play from a MIDI keyboard; the Continuator answers",
                              description="Play from a MIDI keyboard: your notes sound at once, steer the "
                                          "generators (key, density) and teach the Continuator, which "
                                          "answers each phrase in your style.")
    j.add_argument("--midi-in", default=None,
                   help="input port name or substring (default: a virtual port 'rtgen:in')")
    j.add_argument("--midi-out", default=None, nargs="?", const="virtual",
                   help="send the engine's notes to this port (no name: a virtual port 'rtgen:out')")
    j.add_argument("--preset", "-p", default=None, help="a preset name or .toml file")
    j.add_argument("--seconds", type=float, default=None, help="stop after N seconds (default: Ctrl-C)")
    j.add_argument("--latency-ms", type=float, default=None,
                   help="constant MIDI-in latency (default: one block + 2 ms)")
    j.add_argument("--memory", default=None, help="Continuator memory file (.npz): loaded, then saved")
    j.add_argument("--api", default="auto", choices=("auto", "jack", "alsa"), help="MIDI API")
    j.add_argument("--mode", default="continuation", choices=MODES)
    j.add_argument("--rhythm", default="natural", choices=RHYTHMS)
    j.add_argument("--on-play", default="stop", choices=ON_PLAY,
                   help="what the answer does when you play again")
    j.add_argument("--max-copy", type=int, default=6, help="longest verbatim copy of your playing allowed")
    j.add_argument("--harmonic", type=float, default=0.6,
                   help="S: 1 = pure Markov, 0 = pure harmonic fitness (default 0.6)")
    j.add_argument("--follow-tempo", action="store_true", help="the engine tempo follows your playing")
    j.add_argument("--style", default=None,
                   help="style library for the Continuator: a saved .npz, a MIDI file or folder, or a music21 "
                        "corpus name (bach/chorales, essen/kinder, oneills1850)")
    j.add_argument("--style-save", default=None, help="save the loaded style library to this .npz (fast to reload)")
    j.add_argument("--no-audio", action="store_true", help="no sound device: MIDI out only")
    j.add_argument("--samplerate", "-r", type=int, default=48000)
    j.add_argument("--blocksize", "-b", type=int, default=128)
    j.add_argument("--ui", action="store_true",
                   help="terminal UI: beat, voices per layer, the Continuator's state, load; keys p/n/q")
    j.set_defaults(func=_cmd_jam)
    p = subparsers.add_parser("midi-ports", help="list MIDI ports (ALSA or JACK)")
    p.add_argument("--api", default="auto", choices=("auto", "jack", "alsa"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_ports)
