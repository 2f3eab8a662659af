"""Live control for performers: the UI's keys change the music, hot reload of the preset file
(a bad file keeps the old music), OSC /rtgen/key and /rtgen/reload. Offline engine, same kernel."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from rtgen import Engine, EngineSpec
from rtgen.control.osc import OscServer
from rtgen.control.perform import PresetReloader, key_name, set_key
from rtgen.game import MusicController
from rtgen.rt.layout import H_ROOT, LAYER_NAMES, LF_GAIN, P_BPM
from rtgen.ui import RtgenApp

PRESET = """
name = "stage"
tempo = {tempo}
key = "{key}"

[[generator]]
type = "euclid"
layer = "rules"
steps_per_beat = 4
tracks = [{{ pulses = 3, steps = 8, degree = 0 }}]
"""


def _controller(tmp_path: Path, tempo: int = 100, key: str = "C") -> tuple[Engine, MusicController, Path]:
    import rtgen.gen.presets as presets

    f = tmp_path / "stage.toml"
    f.write_text(PRESET.format(tempo=tempo, key=key))
    eng = Engine(EngineSpec(seed=1, bpm=tempo))
    m = MusicController(eng)
    m.add_state("stage", presets.load_preset(f))
    m.set_state("stage", "immediate")
    eng.render(frames=4800)
    m.poll()
    return eng, m, f


def _render_bars(eng: Engine, m: MusicController, bars: float) -> None:
    spb = 48000 * 60.0 / float(eng.state.p[P_BPM])
    n = int(bars * 4 * spb)
    buf = np.zeros((512, 2), np.float32)
    for _ in range(n // 512 + 1):
        eng.render(buf)
        m.poll()


def test_hot_reload_lands_at_the_next_bar_and_a_broken_file_keeps_the_music(tmp_path: Path) -> None:
    eng, m, f = _controller(tmp_path)
    msgs: list[str] = []
    r = PresetReloader(m, f, echo=msgs.append)
    f.write_text(PRESET.format(tempo=132, key="D"))
    time.sleep(0.02)
    assert r.poll() and r.error == "" and "next bar" in r.message
    tr = m.transitions[-1]
    assert tr.sample > int(eng.state.st[0]) and tr.sample % 1 == 0
    assert float(eng.state.p[P_BPM]) == 100.0                 # not yet: the change waits for the bar
    _render_bars(eng, m, 1.2)
    assert float(eng.state.p[P_BPM]) == 132.0 and int(eng.state.harm[H_ROOT]) == 2
    # an error in the file: the old music plays on, the error is shown
    notes0 = eng.stats()["notes"]
    f.write_text("name = 'stage'\ntempo = 'fast'\n[[generator]]\ntype = 'nope'\n")
    time.sleep(0.02)
    assert r.poll() and r.error and "old music plays on" in r.message and "stage.toml" in r.message
    _render_bars(eng, m, 1.0)
    assert float(eng.state.p[P_BPM]) == 132.0 and eng.stats()["notes"] > notes0 and eng.generators()
    assert r.reloads == 1 and r.errors == 1 and len(msgs) == 2


def test_osc_key_and_reload(tmp_path: Path) -> None:
    eng, m, f = _controller(tmp_path)
    osc = OscServer(m, port=0)
    assert osc.dispatch("/rtgen/key", ["a"]) and key_name(eng) == "C major"     # at the next bar
    _render_bars(eng, m, 1.1)
    assert key_name(eng) == "A minor"
    assert not osc.dispatch("/rtgen/key", ["H#"]) and osc.stats.bad_args == 1
    assert not osc.dispatch("/rtgen/reload", [])                 # no file given to this server
    osc.reloader = PresetReloader(m, f)
    f.write_text(PRESET.format(tempo=90, key="E"))
    assert osc.dispatch("/rtgen/reload", [])
    _render_bars(eng, m, 1.1)
    assert float(eng.state.p[P_BPM]) == 90.0
    assert set_key(m, "Eb major", "immediate") == "Eb major"


def test_ui_keys_play_the_music(tmp_path: Path) -> None:
    eng, m, f = _controller(tmp_path)
    m.add_state("second", "ca1d")
    r = PresetReloader(m, f)
    app = RtgenApp(eng, controller=m, scenes=["stage", "second"], reloader=r, refresh_hz=20)

    async def run() -> None:
        async with app.run_test(size=(150, 48)) as pilot:
            await pilot.pause(0.2)
            top = str(app.query_one("#clock").render())
            assert "key C major" in top and "scene stage" in top and "0:00" in top
            assert "master" in str(app.query_one("#meters").render())
            assert "euclid" in str(app.query_one("#gens").render())
            for k in ("plus", "plus", "k", "k", "j", "3", "right_square_bracket", "right_square_bracket", "i"):
                await pilot.press(k)
            await pilot.pause(0.05)
            eng.render(frames=48000 * 4)                        # past the next bar
            m.poll()
            assert float(eng.state.p[P_BPM]) == 104.0
            assert int(eng.state.harm[H_ROOT]) == 1              # a semitone up
            lay = LAYER_NAMES.index(LAYER_NAMES[2])
            assert abs(float(eng.state.lf[lay, LF_GAIN]) - 1.0) < 1e-9, eng.state.lf[lay, LF_GAIN]
            await pilot.press("n")                             # the next scene, not the same one
            assert m.pending is not None and m.pending.target == "second"
            await pilot.press("l")
            assert "reload" in app.message
            await pilot.pause(0.15)
            assert "generators" in str(app.query_one("#gens").render())
            await pilot.press("q")

    asyncio.run(run())
