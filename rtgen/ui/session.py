"""What ``rtgen play`` runs around its live loop: the music controller, OSC, recording,
MIDI clock in/out, Ableton Link, MIDI learn from the preset, and the terminal UI.

The engine itself is built by :func:`rtgen.session.build_engine` (this module does not import
the CLI).

Every part is optional and started only when its option is given; :meth:`PlaySession.stop`
stops them in reverse order and returns lines for the session summary.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DeviceError
from ..rt.layout import P_BPM

log = logging.getLogger("rtgen.play")

#: the JACK/ALSA client of rtgen's MIDI input (its port: ``rtgen-in:in``); the audio client is ``rtgen``
MIDI_IN_CLIENT = "rtgen-in"


class PlaySession:
    """The optional parts of a live session (see the module docstring)."""

    def __init__(self, engine: Any, args: argparse.Namespace) -> None:
        from ..game import MusicController, StateSpec

        self.engine = engine
        self.args = args
        tables = getattr(args, "music_tables", None) or {}
        src = getattr(args, "preset", None)
        base = Path(src).resolve().parent if src and Path(src).is_file() else None
        self.controller = MusicController(engine, params=tables.get("params"), states=tables.get("states"),
                                          stingers=tables.get("stingers"), base_dir=base)
        preset = getattr(args, "loaded_preset", None)
        if preset is not None:
            # the preset the CLI already started becomes the current state
            name = getattr(preset, "name", "main") or "main"
            gens = engine.generators()
            st = StateSpec(name, generators=[g for _, g in sorted(gens.items())], layers=dict(preset.layers),
                           tempo=float(engine.state.p[P_BPM]))
            self.controller.states.setdefault(name, st)
            self.controller.state = name
            self.controller._slots = sorted(gens)
        self.parts: list[tuple[str, Any]] = []
        self.recorder: Any = None
        self.osc: Any = None
        self.midi_map: Any = None
        self.reloader: Any = None
        self.live = False
        self.ui = False

    # -------------------------------------------------------------- start
    def start(self, live: bool) -> PlaySession:
        a = self.args
        self.live = live
        try:
            src = getattr(a, "preset", None)
            if live and src and Path(src).is_file():     # hot reload: edit the file while it plays
                from ..control.perform import PresetReloader

                self.reloader = PresetReloader(self.controller, src, echo=self._echo).start()
                self.parts.append(("reload", self.reloader))
            if getattr(a, "osc", None) is not None:
                from ..control.osc import OscServer

                self.osc = OscServer(self.controller, port=int(a.osc)).start()
                self.osc.reloader = self.reloader
                self.parts.append(("osc", self.osc))
            if getattr(a, "record", None):
                self.start_recording()
            if getattr(a, "midi_clock_in", None):
                from ..control.clock_sync import ClockFollower, MidiClockIn

                port = None if a.midi_clock_in in ("", "virtual") else a.midi_clock_in
                self.parts.append(("clock-in", MidiClockIn(ClockFollower(self.engine), port).start()))
            if getattr(a, "midi_clock_out", None):
                from ..control.clock_sync import MidiClockOut

                port = None if a.midi_clock_out in ("", "virtual") else a.midi_clock_out
                self.parts.append(("clock-out", MidiClockOut(self.engine, port).start()))
            if getattr(a, "link", False):
                from ..control.clock_sync import LinkSync

                self.parts.append(("link", LinkSync(self.engine).start()))
            mm = getattr(a, "midi_map", None)
            if mm is not None and (mm.bindings or mm.programs):
                self.start_midi_map(mm)
        except LookupError as e:
            self.stop()
            raise ConfigError(str(e)) from None
        except Exception:
            self.stop()
            raise
        return self

    def _echo(self, text: str) -> None:
        """Reload messages: on stderr, unless the terminal UI shows them."""
        if not self.ui:
            import sys

            from ..signals import say

            say(f"rtgen: {text}", sys.stderr)

    def start_midi_map(self, spec: Any) -> None:
        from ..control.midi import MidiInput
        from ..control.params import MidiMap

        self.midi_map = MidiMap(self.controller, spec)
        want = getattr(self.args, "midi_in", None)
        try:
            mi = MidiInput(self.engine, want, client_name=MIDI_IN_CLIENT, listeners=[self.midi_map]).start()
        except (RuntimeError, LookupError, OSError, DeviceError) as e:   # no MIDI system, or no such port
            if want:                          # the user named a port: that it is missing is an error
                raise DeviceError(str(e)) from None
            log.warning("the preset's MIDI map is not active: %s", e)
            return
        self.parts.append(("midi-map", mi))

    def start_recording(self) -> str:
        from ..record import SessionRecorder

        if self.recorder is not None:
            return f"recording to {self.recorder.wav_path}"
        rec = SessionRecorder.for_engine(self.engine, Path(self.args.record or "recordings"))
        if self.live:
            rec.start_live()
        self.controller.add_event_sink(rec.feed_events)
        self.recorder = rec
        return f"recording to {rec.wav_path}"

    def stop_recording(self) -> str:
        rec, self.recorder = self.recorder, None
        if rec is None:
            return "not recording"
        if rec.feed_events in self.controller._event_sinks:
            self.controller._event_sinks.remove(rec.feed_events)
        info = rec.stop()
        self._last_recording = info
        return f"wrote {info['wav']} ({info['seconds']:.1f} s) and {info['midi']}"

    def toggle_recording(self, on: bool) -> str:
        return self.start_recording() if on else self.stop_recording()

    # -------------------------------------------------------------- the loop
    def poll(self) -> None:
        """Drain the engine's events into the controller's callbacks and sinks (call it often)."""
        self.controller.poll()

    def run_ui(self, seconds: float | None, stream: Any = None, continuator: Any = None,
               headless: bool = False, signals: Any = None) -> Any:
        from .app import RtgenApp

        presets: list[str] = []
        try:
            from ..gen.presets import list_presets
            presets = list_presets()
        except ImportError:
            pass
        scenes = list(dict.fromkeys(list(self.controller.states) + presets))
        self.ui = True
        app = RtgenApp(self.engine, controller=self.controller, continuator=continuator,
                       recorder=self.toggle_recording if self.args.record else None, scenes=scenes,
                       reloader=self.reloader)

        def tick() -> None:
            self.poll()
            if stream is not None and not stream.active():
                app.message = "the audio stream stopped (the sound server went away)"

        def mount() -> None:
            app.set_interval(0.05, tick)      # 20 Hz: the event ring holds far more than 50 ms
            if seconds:
                app.set_timer(float(seconds), app.exit)

        app.call_later(mount)
        if signals is not None:              # SIGTERM / SIGHUP end the UI as 'q' does
            signals.on_stop = lambda: app.call_later(app.exit)
        try:
            app.run(headless=headless)
        finally:
            if signals is not None:
                signals.on_stop = None
        return app

    # -------------------------------------------------------------- stop
    def stop(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, part in reversed(self.parts):
            try:
                part.stop()
            except Exception as e:
                log.warning("stopping %s failed: %s", name, e)
            if name == "osc":
                s = part.stats
                out["osc"] = (f"port {part.port}: {s.handled} handled, {s.malformed} malformed, "
                              f"{s.unknown} unknown, {s.bad_args} bad arguments")
            elif name == "clock-in":
                out["midi clock in"] = f"{part.port_name}: {part.follower.stats['clock']} ticks, " \
                                       f"tempo {part.follower.bpm or 0:.2f}"
            elif name == "clock-out":
                out["midi clock out"] = f"{part.port_name}: {part.sent} messages, {part.late} late"
            elif name == "link":
                out["link"] = f"{part.peers()} peers, {part.updates} tempo updates"
            elif name == "reload":
                out["hot reload"] = part.summary()
        self.parts.clear()
        if self.recorder is not None:
            self.poll()
            out["recorded"] = self.stop_recording()
        elif getattr(self, "_last_recording", None):
            info = self._last_recording
            out["recorded"] = f"{info['wav']} ({info['seconds']:.1f} s) and {info['midi']}"
        return out





def run_jam_ui(jam: Any, seconds: float | None = None, headless: bool = False, signals: Any = None) -> Any:
    """The terminal UI over a running :class:`rtgen.control.jam.Jam` (for ``rtgen jam --ui``).

    The jam's own event tap keeps draining the engine's events; the UI only reads the
    engine's arrays and the Continuator's state, and sends panic / scene commands.
    """
    from ..game import MusicController
    from .app import RtgenApp

    music = MusicController(jam.engine, drain_events=False)
    music._slots = sorted(jam.engine.generators())
    scenes: list[str] = []
    try:
        from ..gen.presets import list_presets
        scenes = list_presets()
    except ImportError:
        pass
    app = RtgenApp(jam.engine, controller=music, continuator=jam.continuator, scenes=scenes)
    ports = getattr(jam, "ports", None)
    if callable(ports):
        app.sub_title = ports()            # the ports to connect, on screen the whole time

    def mount() -> None:
        app.set_interval(0.05, lambda: music.poll(rows=_EMPTY))
        if seconds:
            app.set_timer(float(seconds), app.exit)

    app.call_later(mount)
    if signals is not None:              # SIGTERM / SIGHUP end the UI as 'q' does
        signals.on_stop = lambda: app.call_later(app.exit)
    try:
        app.run(headless=headless)
    finally:
        if signals is not None:
            signals.on_stop = None
    return app


def _empty_rows() -> Any:
    import numpy as np

    return np.zeros((0, 8))


_EMPTY = _empty_rows()
__all__ = ["PlaySession", "run_jam_ui"]
