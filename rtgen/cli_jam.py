"""The ``rtgen jam`` and ``rtgen midi-ports`` verbs (the jam itself is :mod:`rtgen.control.jam`).

This sits beside :mod:`rtgen.cli`, above the jam library and the terminal UI, so that neither of
those imports upward.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import Any

from .config import SAMPLE_RATES
from .errors import ConfigError
from .session import SessionSpec
from .signals import StopSignals, say


def cmd_jam(args: argparse.Namespace) -> int:
    from .backends.live import check_live_block
    from .control.jam import run_jam, start_jam
    from .gen.continuator import ContinuatorConfig
    from .precompile import compile_notice

    if args.seconds is not None and args.seconds <= 0:
        raise ConfigError("--seconds must be > 0 (leave it out to jam until Ctrl-C)")
    if args.memory and args.memory.lower().endswith((".mid", ".midi")):
        raise ConfigError(f"{args.memory}: --memory is the Continuator's memory (an .npz file it loads and "
                          "saves), not a MIDI file")
    if not args.no_audio:
        check_live_block(args.blocksize)
    spec = SessionSpec.from_args(args)
    cfg = ContinuatorConfig(mode=args.mode, rhythm=args.rhythm, on_play=args.on_play,
                            max_copy=args.max_copy, harmonic_s=args.harmonic)
    kw: dict[str, Any] = {"latency_ms": args.latency_ms, "memory": args.memory, "api": args.api,
                          "audio": not args.no_audio, "continuator_config": cfg,
                          "follow_tempo": args.follow_tempo, "session": spec,
                          "style": args.style, "style_save": args.style_save}
    with StopSignals() as sig, ExitStack() as stack:
        server = None
        if args.jack_dummy:
            from .backends.jackserver import jack_dummy

            server = stack.enter_context(jack_dummy(args.samplerate, args.blocksize))
            say(f"private JACK server '{server.name}' (dummy driver): silent; connect a recorder to hear it",
                sys.stderr)
        if getattr(args, "ui", False):
            from .ui.session import run_jam_ui

            with compile_notice(live=not args.no_audio):
                jam = start_jam(args.midi_in, args.midi_out, args.preset, **kw)
            try:
                say(f"rtgen jam: ports: {jam.ports()}", sys.stderr)
                sig.armed = True
                run_jam_ui(jam, args.seconds, signals=sig)
            finally:
                summary = jam.stop()
            say(summary.text())
            say(f"  ports: {jam.ports()}")
            return 0
        run_jam(args.midi_in, args.midi_out, args.preset, args.seconds, stop_flag=sig, **kw)
        if server is not None:
            say(f"  jack server: {server.name} (private, dummy driver: silent)")
        if sig.received:
            say(f"  ended by: {sig.received}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``rtgen jam`` and ``rtgen midi-ports`` to the CLI."""
    from .control.jam import MIDI_IN_CLIENT, MIDI_OUT_CLIENT, _cmd_ports
    from .gen.continuator import MODES, ON_PLAY, RHYTHMS

    j = subparsers.add_parser(
        "jam", help="play from a MIDI keyboard; the Continuator answers",
        description="Play from a MIDI keyboard: your notes sound at once, steer the generators (key, "
                    "density) and teach the Continuator, which answers each phrase in your style. Without "
                    "--preset the default arrangement (ensemble) plays along. Ports (JACK/ALSA): MIDI in "
                    f"{MIDI_IN_CLIENT}:in, MIDI out {MIDI_OUT_CLIENT}:out, audio rtgen:out_0 / rtgen:out_1; "
                    "the names are printed at start.")
    j.add_argument("--midi-in", default=None,
                   help=f"input port name or substring (default: a virtual port '{MIDI_IN_CLIENT}:in')")
    j.add_argument("--midi-out", default=None, nargs="?", const="virtual",
                   help=f"send the engine's notes to this port (no name: a virtual port '{MIDI_OUT_CLIENT}:out')")
    j.add_argument("--preset", "-p", default=None,
                   help="a preset name or .toml file (default: the ensemble arrangement, at its tempo)")
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
    j.add_argument("--jack-dummy", action="store_true",
                   help="start a private JACK server with the dummy driver (silent: connect a recorder)")
    j.add_argument("--samplerate", "-r", type=int, default=48000, choices=SAMPLE_RATES)
    j.add_argument("--blocksize", "-b", type=int, default=128)
    j.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    j.add_argument("--bpm", type=float, default=None, help="tempo (default: the preset's)")
    j.add_argument("--timbre", choices=("additive", "neural"), default=None,
                   help="the voices' sound (default: the preset's 'timbre', else neural)")
    j.add_argument("--ui", action="store_true",
                   help="terminal UI: beat, voices per layer, the Continuator's state, load; keys p/n/q")
    j.set_defaults(func=cmd_jam)
    p = subparsers.add_parser("midi-ports", help="list MIDI ports (ALSA or JACK)")
    p.add_argument("--api", default="auto", choices=("auto", "jack", "alsa"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_ports)
