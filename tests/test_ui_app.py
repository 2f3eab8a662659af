"""The terminal UI, headless through textual's pilot: it shows the engine and its keys act."""

from __future__ import annotations

import asyncio
from collections import deque

from rtgen import Engine, EngineSpec
from rtgen.game import MusicController
from rtgen.ui import RtgenApp, automaton_view, continuator_status


def _engine() -> tuple[Engine, MusicController]:
    eng = Engine(EngineSpec(seed=1, bpm=120))
    m = MusicController(eng, params={"intensity": {"default": 0.3, "map": [{"target": "layer:automata"}]}},
                        states={"a": {"preset": "ensemble", "quantum": "immediate"}, "b": {"preset": "life"}})
    m.set_state("a")
    eng.render(frames=48000)
    return eng, m


def test_automaton_view_reads_the_grid() -> None:
    eng, m = _engine()
    hist: deque[str] = deque(maxlen=16)
    title, rows = automaton_view(eng, hist)
    assert title.startswith("rule 30") and rows and set("".join(rows)) <= {" ", "#"}
    m.set_state("b", "immediate")
    eng.render(frames=48000)
    title, rows = automaton_view(eng)
    assert title.startswith(("life", "cyclic")) and len(rows) >= 4
    assert continuator_status(None) == "n/a" and continuator_status(object()) == "n/a"


def test_app_headless_shows_state_and_keys_act() -> None:
    eng, m = _engine()
    calls = []

    def rec(on: bool) -> str:
        calls.append(on)
        return "recording" if on else "stopped"

    app = RtgenApp(eng, controller=m, recorder=rec, scenes=["b", "a"], refresh_hz=50)
    assert app.refresh_hz == 20.0                                   # never more than 20 Hz

    async def run() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause(0.2)
            assert "bpm" in str(app.query_one("#clock").render())
            assert "rule 30" in str(app.query_one("#grid").render())
            assert "automata" in str(app.query_one("#voices").render())
            assert "intensity" in str(app.query_one("#params").render())
            assert "n/a" in str(app.query_one("#cont").render())
            await pilot.press("n")
            assert m.pending is not None and m.pending.target == "b"
            await pilot.press("r")
            await pilot.press("r")
            await pilot.press("p")
            await pilot.pause(0.15)
            assert "panic" in app.message
            frames = app.frames
            await pilot.pause(0.3)
            assert 2 <= app.frames - frames <= 8                     # ~20 Hz refresh, no busy loop
            await pilot.press("q")

    asyncio.run(run())
    assert calls == [True, False]
    # the engine is rendered by nobody while the app runs: its first sample after the app applies
    # the panic, which silences every voice at once (ensemble holds several before it)
    assert eng.active_voices() > 0
    eng.render(frames=1)
    assert eng.active_voices() == 0


def test_scene_errors_are_shown_not_raised() -> None:
    eng, m = _engine()
    app = RtgenApp(eng, controller=m, scenes=["no-such-preset"])

    async def run() -> None:
        async with app.run_test() as pilot:
            await pilot.press("n")
            assert app.message.startswith("scene no-such-preset:") and "unknown preset" in app.message
            await pilot.press("r")
            assert "not available" in app.message
            await pilot.press("q")

    asyncio.run(run())


def test_jam_ui_shows_the_continuator(jack_server) -> None:
    from rtgen.control.jam import start_jam
    from rtgen.ui.session import run_jam_ui

    eng = Engine(EngineSpec(seed=1))
    jam = start_jam(None, None, api="jack", audio=False, engine=eng)
    try:
        app = run_jam_ui(jam, 0.6, headless=True)
    finally:
        jam.stop()
    assert app.frames >= 3
    assert app.last_cont.startswith("continuator: listening")
