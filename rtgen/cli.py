"""The ``rtgen`` command line.

    rtgen play [--preset P] [--seconds N]     play live (sound card, or a JACK server)
    rtgen render OUT.wav --seconds N --seed S  render offline, bit-identical for a seed
    rtgen devices                              host APIs and output devices
    rtgen presets | instruments | midi-ports | jam | compile | bench

Every verb has its own ``--help``. Errors are one clear line on stderr and exit code 2
(bad input) or 3 (device/model problem), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from .config import SAMPLE_RATES
from .errors import ConfigError, DeviceError, ModelError, RtgenError
from .session import add_default_generators as _add_default_generators  # noqa: F401 (tests, compat)
from .session import apply_preset, build_from_args, load_preset_arg, timbre_line  # noqa: F401 (compat)
from .signals import StopSignals, say

# Modules that add their own verbs with ``register(subparsers)``.
_VERB_MODULES = ("rtgen.cli_jam",)

EPILOG = """examples:
  rtgen play --seconds 30                 play the default preset live, print a summary
  rtgen play --preset ensemble --ui       live with the terminal UI
  rtgen render out.wav --seconds 20 --seed 7
  rtgen play --preset my.toml             edit my.toml while it plays: it takes over at the next bar
  rtgen render song.wav --midi-file examples/song.mid --instrument flute
  rtgen jam --jack-dummy                  play into rtgen-in:in; the Continuator answers
  rtgen devices                           what PortAudio can reach
  rtgen compile                           compile the audio kernels once (make does it)
"""


# ------------------------------------------------------------------ shared options
def _engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine")
    g.add_argument("--samplerate", "-r", type=int, default=48000, choices=SAMPLE_RATES,
                   help="sample rate in Hz (default 48000)")
    g.add_argument("--blocksize", "-b", type=int, default=128,
                   help="frames per audio callback, 1..8192 (default 128; 64 for lower latency)")
    g.add_argument("--voices", type=int, default=64, help="polyphony, 1..256 (default 64)")
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    g.add_argument("--bpm", type=float, default=None, help="tempo (default: the preset's, else 110)")
    g.add_argument("--preset", "-p", default=None,
                   help="a shipped preset name (see 'rtgen presets') or a .toml file")
    g.add_argument("--timbre", choices=("additive", "neural"), default=None,
                   help="the voices' sound: the neural model or the additive fallback (default: the "
                   "preset's 'timbre', else neural)")


def _make_engine(args: argparse.Namespace) -> Any:
    """The engine of a parsed command line (see :func:`rtgen.session.build_engine`)."""
    return build_from_args(args).engine


# ------------------------------------------------------------------ verbs
def cmd_render(args: argparse.Namespace) -> int:
    from .backends.offline import render_array, text_progress, write_wav

    out = Path(args.out)
    if out.suffix.lower() not in (".wav", ".flac"):
        raise ConfigError(f"{out}: the output file must end in .wav or .flac")
    if args.seconds is not None and args.seconds <= 0:
        raise ConfigError("--seconds must be > 0")
    if args.midi_file:
        return _render_midi_file(args, out)
    if args.seconds is None:
        args.seconds = 20.0
    from .precompile import compile_notice, load_kernel

    with compile_notice(live=False):
        session = build_from_args(args)
        eng = session.engine
        load_kernel(eng)
    fx = session.fx
    t = time.perf_counter()
    if fx is not None:
        from .fx import render_with_fx

        audio = render_with_fx(eng, args.seconds, fx)
    else:
        audio = render_array(eng, args.seconds, block=args.blocksize, progress=text_progress("rendering"))
    dt = time.perf_counter() - t
    write_wav(out, audio, eng.spec.sample_rate)
    ev = eng.events()
    _write_extras(args, eng, ev)
    st = eng.stats()
    peak = float(abs(audio).max()) if audio.size else 0.0
    print(f"wrote {out}: {args.seconds:g} s at {eng.spec.sample_rate} Hz, seed {args.seed}, "
          f"{st['notes']} notes, peak {peak:.3f}, rendered in {dt:.2f} s ({args.seconds / max(dt, 1e-9):.0f}x "
          "real time)")
    print(f"  timbre: {eng.timbre_summary()}")
    from .session import generator_warnings

    for w in generator_warnings(eng):
        say(f"rtgen: warning: {w}", sys.stderr)
    if args.plot:
        _plot(eng, ev, args, audio)
    return 0


def _write_extras(args: argparse.Namespace, eng: Any, ev: Any) -> None:
    """``--midi-out`` (the notes played, a track per layer, drums on channel 10) and ``--stems``."""
    from .record import render_stems, write_midi

    if getattr(args, "midi_out", None):
        p = write_midi(args.midi_out, ev, eng.spec.sample_rate, float(eng.spec.bpm))
        print(f"wrote {p}")
    if getattr(args, "stems", None):
        from .backends.offline import write_wav

        _, stems = render_stems(lambda: _make_engine(args), args.seconds, block=args.blocksize)
        d = Path(args.stems)
        for name, x in stems.items():
            write_wav(d / f"{name}.wav", x, eng.spec.sample_rate)
        print(f"wrote {len(stems)} stems to {d}/ (they sum to the mix: each layer before the master stage, "
              "times the master's gain)")


def _render_midi_file(args: argparse.Namespace, out: Path) -> int:
    """``render --midi-file``: the file's notes scheduled into an Engine (the kernel and voices of
    every other verb), the whole file plus its release tail, or exactly ``--seconds``. A missing or
    unreadable file is bad input (exit 2)."""
    import numpy as np

    from .backends.offline import text_progress, write_wav
    from .config import EngineSpec
    from .engine import Engine
    from .timbre.midifile import read_midi_events, schedule_midi

    try:
        song = read_midi_events(args.midi_file)
    except (ConfigError, ModelError):
        raise
    except RtgenError as e:
        raise ConfigError(str(e)) from None
    if song.notes == 0:
        raise ConfigError(f"{args.midi_file}: the file holds no notes")
    spec = EngineSpec(sample_rate=args.samplerate, block_size=args.blocksize, voices=args.voices,
                      seed=args.seed, bpm=float(args.bpm or 120.0))
    eng = Engine(spec, timbre=args.timbre or "neural")
    t = time.perf_counter()
    audio = schedule_midi(eng, song, seconds=args.seconds, block=max(64, args.blocksize), instrument=args.instrument,
                          say=lambda m: print(f"rtgen: {m}", file=sys.stderr), progress=text_progress("rendering"))
    dt = time.perf_counter() - t
    if args.seconds is not None and len(audio):      # cut at --seconds: a 10 ms fade, not a click
        fade = min(len(audio), int(0.01 * eng.spec.sample_rate))
        audio[len(audio) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    write_wav(out, audio, eng.spec.sample_rate)
    secs = len(audio) / eng.spec.sample_rate
    st = eng.stats()
    print(f"wrote {out}: {args.midi_file}, {secs:.2f} s at {eng.spec.sample_rate} Hz, {st['notes']} notes, "
          f"peak {float(abs(audio).max()) if audio.size else 0.0:.3f}, rendered in {dt:.2f} s")
    print(f"  timbre: {eng.timbre_summary()}")
    return 0


def _plot(eng: Any, ev: Any, args: argparse.Namespace, audio: Any = None) -> None:
    from .rt.layout import O_NOTE_OFF, O_NOTE_ON

    try:
        from .gen.plot import plot_render
    except ImportError as e:
        raise ConfigError(f"--plot needs matplotlib ({e})") from e
    import numpy as np

    sr = eng.spec.sample_rate
    ons = {}
    rows = []
    for r in ev:
        if r[0] == O_NOTE_ON:
            ons[int(r[7])] = r
        elif r[0] == O_NOTE_OFF and int(r[7]) in ons:
            o = ons.pop(int(r[7]))
            rows.append((o[1] / sr, o[2], o[3], (r[1] - o[1]) / sr, o[4]))
    end = eng.state.st[0]
    for o in ons.values():
        rows.append((o[1] / sr, o[2], o[3], (end - o[1]) / sr, o[4]))
    arr = np.array(rows, np.float64).reshape(-1, 5)
    title = f"rtgen render, seed {args.seed}" + (f", preset {args.preset}" if args.preset else "")
    plot_render(arr, args.plot, automaton_rows=_automaton_rows(eng, args), title=title, audio=audio,
                sample_rate=sr)
    print(f"wrote {args.plot}")


def _automaton_rows(eng: Any, args: argparse.Namespace) -> Any:
    preset = getattr(args, "loaded_preset", None)
    if preset is None:
        return None
    from .gen.plot import automaton_rows

    return automaton_rows(preset, args.seconds, seed=args.seed, sample_rate=eng.spec.sample_rate)


def _summary(stats: Any, eng: Any, extra: dict[str, Any] | None = None, server: Any = None) -> str:
    st = eng.stats()
    lines = [
        "session summary",
        f"  verdict          {stats.verdict()}",
        f"  played           {stats.seconds:.1f} s at {stats.sample_rate} Hz, {stats.block_size} frames/block",
        f"  callbacks        {stats.callbacks}",
        f"  underflows       {stats.underflows}",
        f"  worst block      {stats.worst_block_us:.0f} us of a {stats.deadline_us:.0f} us deadline "
        f"({100 * stats.worst_block_us / stats.deadline_us:.1f} %); mean {stats.mean_block_us:.0f} us",
        f"  worst CPU time   {stats.worst_cpu_us:.0f} us (the audio thread's own: time other threads "
        f"took is not in it)",
        f"  over deadline    {stats.over_deadline} (CPU time: {stats.over_deadline_cpu})",
        f"  notes played     {st['notes']} (voices stolen {st['steals']})",
        "  timbre           " + (eng.timbre_summary() if hasattr(eng, "timbre_summary") else timbre_line(st)),
        f"  dropped          commands {st['commands_dropped']}, events {st['events_dropped']}, "
        f"out-events {st['out_events_dropped']}",
    ]
    if server is not None:
        lines.append(f"  jack server      {server.name} (private, dummy driver: silent; connect a recorder "
                     f"to hear it, e.g. jack_rec -s {server.name} -f take.wav rtgen:out_0 rtgen:out_1)")
    for k, v in (extra or {}).items():
        lines.append(f"  {k:<16} {v}")
    return "\n".join(lines)


def _start_fx(session: Any, block: int) -> Any:
    """The effects worker for a live session (None: no effects). Started before the stream."""
    if session.fx is None:
        return None
    from .fx import FxWorker

    w = FxWorker(session.engine, session.fx, host_block=block).start()
    if w.bypass_reason:
        say(f"rtgen: effects not applied: {w.bypass_reason}", sys.stderr)
    return w


def _stop_fx(w: Any) -> str:
    if w is None:
        return ""
    try:
        info = w.stop()
    finally:
        release = getattr(w, "release_shared_memory", None)
        if release is not None:
            release()
    if w.bypass_reason:
        return f"bypassed ({w.bypass_reason})"
    if isinstance(info, dict):
        return f"{info.get('rack_blocks', 0)} blocks, {info.get('late_blocks', 0)} late (played dry)"
    return "on"


def cmd_play(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from .backends.live import LiveStream, callback_address, check_live_block
    from .precompile import compile_notice
    from .ui.session import PlaySession

    if args.seconds is not None and args.seconds <= 0:
        raise ConfigError("--seconds must be > 0 (leave it out to play until Ctrl-C)")
    check_live_block(args.blocksize)
    with StopSignals() as sig, ExitStack() as stack:
        with compile_notice(live=True):
            session = build_from_args(args)   # the preset, its [midi_map], [params], [states], [fx]
            eng = session.engine
            callback_address()                # loads the cached callback (and the kernel it calls)
        if args.midi_in and session.midi_map is None:
            raise ConfigError("--midi-in is for a preset with a [midi_map] table (this preset has none); "
                              "to play notes into rtgen use: rtgen jam --midi-in NAME")
        if args.record and session.fx is not None:
            raise ConfigError("--record cannot record live while effects run (they share the send ring): "
                              "add --fx none to record dry, or record the JACK output (jack_rec)")
        server = None
        if args.jack_dummy:
            from .backends.jackserver import jack_dummy

            server = stack.enter_context(jack_dummy(args.samplerate, args.blocksize))
        extras = PlaySession(eng, args)
        fxw = _start_fx(session, args.blocksize)
        stack.callback(lambda: _stop_fx(fxw) if fxw is not None else None)
        try:
            stream = LiveStream(eng, device=args.device, block_size=args.blocksize,
                                sample_rate=args.samplerate).start()
        except DeviceError as e:
            if args.or_render:
                say(f"rtgen: no live audio ({e}); rendering {args.seconds or 30:g} s to "
                    f"{args.or_render} instead", sys.stderr)
                stack.close()
                args.out, args.seconds, args.midi_file, args.plot = args.or_render, args.seconds or 30, None, None
                return cmd_render(args)
            raise
        stack.callback(stream.stop)
        extras.start(live=True)           # OSC, recording, MIDI, hot reload: ready before we say so
        from .gen.band import start_live as start_arrangement

        start_arrangement(eng)              # a preset's [arrangement] runs ahead of the stream
        say(f"playing on {stream.device_name} at {args.samplerate} Hz, {args.blocksize} frames/block"
            + (", JACK client rtgen (ports rtgen:out_0, rtgen:out_1)" if server is not None else "")
            + (f" for {args.seconds:g} s" if args.seconds else "; Ctrl-C stops"), sys.stderr)
        if server is not None:
            say(f"private JACK server '{server.name}' (dummy driver): silent; connect a recorder to hear it",
                sys.stderr)
        try:
            sig.armed = True
            if args.ui:
                extras.run_ui(args.seconds, stream, signals=sig)
            else:
                t_end = time.monotonic() + args.seconds if args.seconds else float("inf")
                while not sig.stop and time.monotonic() < t_end:
                    time.sleep(0.02)
                    extras.poll()       # drain the event ring: callbacks, OSC beats, recording
                    if not stream.active():
                        break
        finally:
            extra = extras.stop()
        stats = stream.stop()
        fx_line = _stop_fx(fxw)
        fxw = None
        if fx_line:
            extra["effects"] = fx_line
        if sig.received:
            extra["ended by"] = sig.received
        from .session import generator_warnings

        for i, w in enumerate(generator_warnings(eng)):
            extra["warning" + (f" {i + 1}" if i else "")] = w
        say(_summary(stats, eng, extra, server))
        if stream.lost:
            say("rtgen: the audio stream stopped: the sound server went away", sys.stderr)
            return 3
        return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from .backends.live import list_devices, list_hostapis

    apis = list_hostapis()
    devs = list_devices()
    if args.json:
        print(json.dumps({"hostapis": apis, "devices": devs}, indent=2))
        return 0
    print("host APIs:")
    for h in apis:
        print(f"  [{h['index']}] {h['name']}: {len(h['devices'])} device(s)")
    print("output devices:")
    outs = [d for d in devs if d["outputs"] > 0]
    for d in outs:
        print(f"  [{d['index']}] {d['name']} ({d['hostapi']}), {d['outputs']} out, "
              f"{d['default_samplerate']:.0f} Hz, low latency {1000 * d['low_output_latency']:.1f} ms")
    if not outs:
        print("  none. Start a sound server (e.g. jackd), use 'rtgen play --jack-dummy', "
              "or render to a file: rtgen render out.wav --seconds 30")
    return 0


def cmd_instruments(args: argparse.Namespace) -> int:
    from .timbre import instruments_listing

    print(instruments_listing())
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    try:
        from .gen.presets import describe_preset, list_presets
    except ImportError as e:
        raise ConfigError(f"presets are not available in this build: {e}") from e
    for name in list_presets():
        print(f"{name:<16} {describe_preset(name)}")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from .precompile import compile_all, is_warm

    was_warm = is_warm(live=True)
    if was_warm and not args.force:
        print("rtgen: the audio kernels are compiled already (rtgen compile --force loads everything)")
        return 0
    dt = compile_all(neural=not args.no_neural)
    print(f"rtgen: {'loaded every compiled function from the cache' if was_warm else 'compiled and cached'} "
          f"in {dt:.1f} s; rtgen starts quickly now")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """A developer command: the benchmarks live in the repository, not in the installed package."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / "benchmarks" / "__main__.py").is_file():
        raise ConfigError("rtgen bench is a developer command: the benchmarks ship with the source, not the "
                          "package. In a clone of the repository run: make bench (or python -m benchmarks)")
    cmd = [sys.executable, "-m", "benchmarks"] + (["--only", args.only] if args.only else [])
    return subprocess.call(cmd, cwd=str(root))


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rtgen", description="rtgen: a real-time generative music engine (rules, grammars, cellular "
        "automata, a neural timbre, and a Continuator that answers your playing).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="rtgen 0.1.0")
    sub = p.add_subparsers(dest="verb", metavar="VERB")

    pl = sub.add_parser("play", help="play live", description="Play live through PortAudio (JACK client "
                        "'rtgen'). Prints a summary when it ends: callbacks, underflows, worst block time.")
    _engine_options(pl)
    pl.add_argument("--seconds", "-s", type=float, default=None, help="stop after N seconds (default: Ctrl-C)")
    pl.add_argument("--device", "-d", default=None, help="output device index or name substring")
    pl.add_argument("--jack-dummy", action="store_true",
                    help="start a private JACK server with the dummy driver and play into it (silent: "
                    "connect a recorder to its ports to hear it)")
    pl.add_argument("--or-render", metavar="OUT.wav", default=None,
                    help="when no audio device can be opened, render to this file instead")
    lv = pl.add_argument_group("live performance and games")
    lv.add_argument("--osc", metavar="PORT", type=int, default=None,
                    help="OSC server on 127.0.0.1:PORT (address space: docs/osc.md)")
    lv.add_argument("--record", metavar="DIR", default=None,
                    help="record DIR/session.wav and DIR/session.mid (one track per layer)")
    lv.add_argument("--ui", action="store_true", help="terminal UI (keys: p panic, n next scene, r record, q quit)")
    lv.add_argument("--midi-clock-in", metavar="NAME", default=None,
                    help="follow MIDI clock from this port ('virtual': a port rtgen-clock:clock)")
    lv.add_argument("--midi-clock-out", metavar="NAME", default=None,
                    help="send MIDI clock to this port ('virtual': a port rtgen-clock:out)")
    lv.add_argument("--link", action="store_true", help="join an Ableton Link session (needs LinkPython-extern)")
    lv.add_argument("--midi-in", metavar="NAME", default=None,
                    help="MIDI input for the preset's [midi_map] (default: a virtual port rtgen-in:in)")
    lv.add_argument("--fx", default=None, metavar="NAME[,NAME]",
                    help="effects on the master (pyo, optional): reverb, delay, chorus, warm, glue, hall, "
                    "or 'none' (default: the preset's [fx] table, if any)")
    pl.set_defaults(func=cmd_play)

    r = sub.add_parser("render", help="render to a WAV file", description="Render offline to a WAV/FLAC "
                       "file; the same seed gives the same file, bit for bit.")
    r.add_argument("out", help="output file (.wav or .flac)")
    r.add_argument("--seconds", "-s", type=float, default=None,
                   help="length in seconds (default 20; with --midi-file the file's length and its release tail)")
    r.add_argument("--plot", metavar="OUT.png", default=None,
                   help="also draw a piano roll (and the automaton's space-time picture)")
    r.add_argument("--midi-file", default=None, help="render this Standard MIDI File instead of generating")
    r.add_argument("--midi-out", metavar="OUT.mid", default=None,
                   help="also write the notes played (a track per layer, drums on channel 10)")
    r.add_argument("--stems", metavar="DIR", default=None, help="also write one WAV per layer (they sum to the mix)")
    r.add_argument("--instrument", default=None, help="one instrument for every --midi-file note but the drums "
                   "(default: each channel's GM program; see 'rtgen instruments')")
    r.add_argument("--fx", default=None, metavar="NAME[,NAME]",
                   help="effects on the master (pyo, optional): reverb, delay, chorus, warm, glue, hall, "
                   "or 'none' (default: the preset's [fx] table, if any)")
    _engine_options(r)
    r.set_defaults(func=cmd_render)

    d = sub.add_parser("devices", help="list host APIs and audio devices")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.set_defaults(func=cmd_devices)

    i = sub.add_parser("instruments", help="list the timbre's instruments")
    i.set_defaults(func=cmd_instruments)

    pr = sub.add_parser("presets", help="list the shipped presets")
    pr.set_defaults(func=cmd_presets)

    c = sub.add_parser("compile", help="compile the audio kernels now (once; 'make' does it)",
                       description="Compile every compiled function rtgen plays with and cache it on disk, "
                       "so that no later start compiles (a cold start otherwise compiles for about a minute).")
    c.add_argument("--no-neural", action="store_true", help="skip the neural timbre's helpers")
    c.add_argument("--force", action="store_true", help="load or compile everything even when the "
                   "kernel and callback are cached already")
    c.set_defaults(func=cmd_compile)

    b = sub.add_parser("bench", help="developer: run the benchmarks of a source checkout (one JSON line per "
                       "figure; the same as 'make bench')")
    b.add_argument("--only", default=None, help="run one benchmark module, e.g. engine")
    b.set_defaults(func=cmd_bench)

    for mod in _VERB_MODULES:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        reg = getattr(m, "register", None)
        if reg is not None:
            reg(sub)
    return p


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """Warnings (e.g. the neural model's stated fallback) as one line on stderr."""
    print(f"rtgen: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError) as e:
        print(f"rtgen: {e}", file=sys.stderr)
        return 2
    except (DeviceError, ModelError, RtgenError, OSError) as e:
        print(f"rtgen: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("rtgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
