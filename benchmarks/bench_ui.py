"""What the terminal UI costs: ``python -m benchmarks.bench_ui`` (one JSON line per figure).

The UI runs in the Python process beside the engine, never in the audio callback (the callback is
compiled and takes no lock). Its cost is CPU time of that process: this benchmark renders an
engine in real time in a clock thread (what ``rtgen jam --no-audio`` does; live, the callback
replaces the clock thread) and measures the process's CPU time over ``--seconds`` with the UI
(headless textual, the same widgets and refresh as ``rtgen play --ui``) and without it.

* ``ui/cpu_fraction_of_a_core``: (CPU with UI - CPU without) / wall time, at the default refresh;
  target < 0.10 (one tenth of one core).
* ``ui/cpu_fraction_20hz``: the same at the maximum refresh rate (20 Hz).
* ``ui/audio_callback_share``: 0, by construction (no UI code runs in the callback); reported so
  the figure's meaning is in the file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from benchmarks.common import emit, skipped


def _cpu_with(seconds: float, refresh_hz: float | None) -> float:
    """Process CPU seconds per wall second while the engine runs (and the UI, if refresh_hz)."""
    from rtgen import Engine, EngineSpec
    from rtgen.control.jam import ClockThread
    from rtgen.game import MusicController
    from rtgen.gen.presets import load_preset

    eng = Engine(EngineSpec(seed=1))
    m = MusicController(eng)
    m.add_state("ensemble", load_preset("ensemble"))
    m.set_state("ensemble", "immediate")
    clock = ClockThread(eng).start()
    try:
        if refresh_hz is None:
            c0, t0 = time.process_time(), time.monotonic()
            end = t0 + seconds
            while time.monotonic() < end:
                time.sleep(0.02)
                m.poll()
            return (time.process_time() - c0) / (time.monotonic() - t0)
        from rtgen.ui import RtgenApp

        app = RtgenApp(eng, controller=m, scenes=["ensemble"], refresh_hz=refresh_hz)
        out: list[float] = []

        async def run() -> None:
            async with app.run_test(size=(150, 48)) as pilot:
                await pilot.pause(0.5)                     # mounted and drawn once
                c0, t0 = time.process_time(), time.monotonic()
                end = t0 + seconds
                while time.monotonic() < end:
                    await pilot.pause(0.05)            # as run_ui polls: 20 Hz
                    m.poll()
                out.append((time.process_time() - c0) / (time.monotonic() - t0))
                await pilot.press("q")

        asyncio.run(run())
        return out[0]
    finally:
        clock.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    secs = 4.0 if a.quick else a.seconds
    try:
        import textual  # noqa: F401
    except ImportError:
        skipped("ui/cpu_fraction_of_a_core", "cores", "< 0.10", "textual is not installed (the ui extra)")
        return 0
    from rtgen.ui.app import RtgenApp

    base = _cpu_with(secs, None)
    default_hz = RtgenApp.__init__.__defaults__[4] if RtgenApp.__init__.__defaults__ else 10.0  # refresh_hz
    ui = _cpu_with(secs, float(default_hz))
    ui20 = _cpu_with(secs, 20.0)
    emit("ui/cpu_fraction_of_a_core", ui - base, "cores", "< 0.10", ui - base < 0.10,
         refresh_hz=float(default_hz), with_ui=round(ui, 4), without_ui=round(base, 4))
    emit("ui/cpu_fraction_20hz", ui20 - base, "cores", "< 0.20", ui20 - base < 0.20, with_ui=round(ui20, 4))
    emit("ui/audio_callback_share", 0.0, "cores", "0", True,
         note="no UI code runs in the compiled callback (by construction)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
