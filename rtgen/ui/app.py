"""The terminal UI, an instrument as well as a monitor.

It shows: tempo, bar and beat, the scene (section), key and chord, elapsed time, the recording
state, level meters (master and per layer) with a limiter/clip light, the automaton as it
evolves, what each generator is doing, voices per layer, the Continuator, audio load and
underflows, parameter values, and the last message (a scene change, a reload, an error).

Keys (also in the footer): ``+``/``-`` tempo by 2 bpm, ``k``/``j`` key up/down a semitone (at
the next bar), ``1``..``5`` choose a layer and ``]``/``[`` raise/lower its gain, ``i``/``u``
intensity up/down, ``n`` the next scene (at the next bar), ``l`` reload the preset file, ``r``
record, ``p`` panic, ``q`` quit.

It never disturbs the audio thread: it reads the engine's arrays (a torn read shows one odd
frame, nothing more), resets the meters' peak-since-last-read words after reading them (a
race with the audio thread can lose one block's peak, nothing else) and sends every change
through the controller's command ring. It redraws at most ``refresh_hz`` times a second (10 by
default, never more than 20); ``benchmarks/bench_ui.py`` measures what it costs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from ..rt.layout import (
    GI_ACTIVE,
    GI_KIND,
    GK_CA1D,
    GK_CYCLIC,
    GK_LIFE,
    LAYER_NAMES,
    LF_ACTIVE_VOICES,
    LF_GAIN,
    LF_PEAK_L,
    LF_PEAK_R,
    N_GEN,
    P_BEAT,
    P_BEATS_PER_BAR,
    P_BPM,
    P_LIMIT_GAIN,
    P_PEAK_L,
    P_PEAK_R,
    S_CLIPS,
    S_LAST_NS,
    S_SAMPLE,
)

MAX_REFRESH_HZ = 20.0
METER_WIDTH = 24
METER_FLOOR_DB = -48.0
GRID_ROWS = 16
GRID_COLS = 64


def automaton_view(engine: Any, history: deque[str] | None = None) -> tuple[str, list[str]]:
    """(title, text rows) of the first active automaton: a 2-D grid, or a 1-D rule's recent rows."""
    from ..gen import automata as A

    st = engine.state
    for slot in range(N_GEN):
        gi = st.gi[slot]
        if gi[GI_ACTIVE] == 0:
            continue
        kind = int(gi[GI_KIND])
        if kind in (GK_LIFE, GK_CYCLIC):
            h, w = int(gi[A.LIFE_H]), int(gi[A.LIFE_W])
            if not (0 < h * w <= A.MAX_CELLS):
                continue
            cyclic = kind == GK_CYCLIC
            base = A.CY_A if cyclic else A.LIFE_A
            cells = np.array(st.gbuf[slot, base:base + h * w]).reshape(h, w)[:GRID_ROWS, :GRID_COLS]
            chars = " .:-=+*#%@" if cyclic else " #"
            rows = ["".join(chars[min(len(chars) - 1, max(0, int(c)))] for c in r) for r in cells]
            return f"{'cyclic' if cyclic else 'life'} (slot {slot}, generation {int(gi[A.LIFE_GEN])})", rows
        if kind == GK_CA1D:
            w = int(gi[A.C1_W])
            if not 0 < w <= A.C1_MAXW:
                continue
            row = "".join("#" if c else " " for c in st.gbuf[slot, A.C1_ROW:A.C1_ROW + min(w, GRID_COLS)])
            if history is not None:
                gen = int(gi[A.C1_GEN])
                if not history or history[-1] != f"{gen}:{row}":
                    history.append(f"{gen}:{row}")
                rows = [r.split(":", 1)[1] for r in history]
            else:
                rows = [row]
            return f"rule {int(gi[A.C1_RULE])} (slot {slot})", rows[-GRID_ROWS:]
    return "no automaton playing", []


def continuator_status(cont: Any) -> str:
    """'listening', 'answering' or 'n/a' (no Continuator, or one without the expected API)."""
    if cont is None:
        return "n/a"
    try:
        answering = cont.gen is not None or bool(cont.pending)
        stats = cont.stats
        return (f"{'answering' if answering else 'listening'}  phrases {stats.phrases}  answers {stats.answers}"
                f"  notes in {stats.notes_in}")
    except AttributeError:
        return "n/a"


def meter(peak: float, width: int = METER_WIDTH) -> str:
    """A peak meter from METER_FLOOR_DB to 0 dBFS: ``"▮▮▮▮▮····  -12 dB"``."""
    db = 20.0 * np.log10(max(float(peak), 1e-9))
    n = int(round(width * min(1.0, max(0.0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB))))
    label = f"{db:5.0f} dB" if db > METER_FLOOR_DB else "  -inf  "
    return "▮" * n + "·" * (width - n) + " " + label


def generator_lines(engine: Any, limit: int = 8) -> list[str]:
    """One line per active generator: slot, name, layer and what it is doing now."""
    gens = engine.generators() if hasattr(engine, "generators") else {}
    lf = engine.state.lf
    lines = []
    for slot in sorted(gens)[:limit]:
        g = gens[slot]
        gi = engine.state.gi[slot]
        layer = int(getattr(g, "layer", 0))
        lname = LAYER_NAMES[layer] if 0 <= layer < len(LAYER_NAMES) else str(layer)
        active = gi[GI_ACTIVE] != 0
        voices = int(lf[layer, LF_ACTIVE_VOICES]) if 0 <= layer < len(LAYER_NAMES) else 0
        doing = ("playing" if voices else "resting") if active else "stopped"
        lines.append(f"{slot} {getattr(g, 'name', type(g).__name__)[:12]:<12} {lname:<9} {doing}")
    return lines or ["no generators"]


class RtgenApp(App[None]):
    """``RtgenApp(engine, controller=..., continuator=..., recorder=..., scenes=[...]).run()``."""

    TITLE = "rtgen"
    CSS = """
    #top { height: 3; }
    #clock { width: 1fr; } #load { width: 1fr; }
    #grid { height: 18; border: round $accent; width: 1fr; }
    #side { width: 50; }
    #meters { height: 10; border: round $accent; }
    #voices { height: 11; border: round $accent; }
    #gens { height: 10; border: round $accent; width: 1fr; }
    #params { border: round $accent; }
    #cont { height: 3; border: round $accent; }
    #status { height: 2; }
    """
    BINDINGS = [("plus,equals_sign", "tempo(2)", "Tempo +"), ("minus", "tempo(-2)", "Tempo -"),
                ("k", "key(1)", "Key +"), ("j", "key(-1)", "Key -"),
                ("1", "layer(0)", "Layer"), ("2", "layer(1)", ""), ("3", "layer(2)", ""),
                ("4", "layer(3)", ""), ("5", "layer(4)", ""),
                ("right_square_bracket", "gain(0.1)", "Gain +"), ("left_square_bracket", "gain(-0.1)", "Gain -"),
                ("i", "intensity(0.1)", "Intensity +"), ("u", "intensity(-0.1)", "Intensity -"),
                ("n", "next_scene", "Next scene"), ("l", "reload", "Reload"), ("r", "record", "Record"),
                ("p", "panic", "Panic"), ("q", "quit", "Quit")]

    def __init__(self, engine: Any, controller: Any = None, continuator: Any = None,
                 recorder: Callable[[bool], str] | None = None, scenes: list[str] | None = None,
                 refresh_hz: float = 10.0, stats: Callable[[], dict[str, Any]] | None = None,
                 reloader: Any = None) -> None:
        super().__init__()
        self.engine = engine
        self.controller = controller
        self.continuator = continuator
        self.recorder = recorder          # recorder(on) -> status text; None: recording not available
        self.recording = False
        self.scenes = list(scenes or (list(controller.states) if controller is not None else []))
        current = getattr(controller, "state", None)
        # ``n`` moves on from the scene playing now (it used to restart at the first: often the same)
        self.scene_index = self.scenes.index(current) if current in self.scenes else -1
        self.reloader = reloader
        self.layer = 0                    # the layer ``[`` / ``]`` act on
        self.rec_since = 0.0
        self._clips = int(engine.state.st[S_CLIPS])
        self._clip_until = 0.0
        self.refresh_hz = min(MAX_REFRESH_HZ, max(1.0, float(refresh_hz)))
        self.stats_fn = stats or engine.stats
        self.history: deque[str] = deque(maxlen=GRID_ROWS)
        self.message = ""
        self.last_cont = ""
        self.frames = 0
        self._last = (time.monotonic(), int(engine.state.st[S_SAMPLE]))
        self._last_reload = ""
        self._asked: dict[str, tuple[float, float]] = {}
        self._shown: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="top"):
            yield Static(id="clock")
            yield Static(id="load")
        with Horizontal():
            with Vertical():
                yield Static(id="grid")
                yield Static(id="gens")
            with Vertical(id="side"):
                yield Static(id="meters")
                yield Static(id="voices")
                yield Static(id="cont")
                yield Static(id="params")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.refresh_hz, self.refresh_view)
        self.refresh_view()

    # -------------------------------------------------------------- drawing (reads only)
    def clock_text(self) -> str:
        from ..control.perform import chord_name, key_name

        p = self.engine.state.p
        bpb = max(1, int(p[P_BEATS_PER_BAR]))
        beat = float(p[P_BEAT])
        b = int(np.floor(beat))
        dots = "".join("●" if i == b % bpb else "○" for i in range(bpb))
        state = getattr(self.controller, "state", None) if self.controller is not None else None
        secs = int(self.engine.state.st[S_SAMPLE] / float(self.engine.spec.sample_rate))
        rec = ""
        if self.recording:
            rs = int(time.monotonic() - self.rec_since)
            rec = f"  ● REC {rs // 60}:{rs % 60:02d}"
        return (f"{float(p[P_BPM]):6.1f} bpm  bar {b // bpb + 1:4d}  beat {b % bpb + 1}  {dots}  "
                f"{secs // 60}:{secs % 60:02d}{rec}\n"
                f"scene {state or '-'}   key {key_name(self.engine)}   chord {chord_name(self.engine)}")

    def meters_text(self) -> str:
        """Master and per-layer peak meters since the last redraw, and the limiter / clip light."""
        s = self.engine.state
        p, lf = s.p, s.lf
        pk = max(float(p[P_PEAK_L]), float(p[P_PEAK_R]))
        p[P_PEAK_L] = 0.0                       # peak since last read: the reader resets it
        p[P_PEAK_R] = 0.0
        clips = int(s.st[S_CLIPS])
        now = time.monotonic()
        if clips != self._clips:
            self._clips = clips
            self._clip_until = now + 2.0
        g = float(p[P_LIMIT_GAIN])
        if now < self._clip_until:
            light = "[b red]● CLIP[/]"
        elif 0.0 < g < 0.98:
            light = f"[b yellow]● LIMIT {20 * np.log10(g):.0f} dB[/]"
        else:
            light = "[green]○ ok[/]"
        lines = [f"master  {meter(pk)}  {light}"]
        for i, name in enumerate(LAYER_NAMES):
            lp = max(float(lf[i, LF_PEAK_L]), float(lf[i, LF_PEAK_R]))
            lf[i, LF_PEAK_L] = 0.0
            lf[i, LF_PEAK_R] = 0.0
            mark = "▸" if i == self.layer else " "
            lines.append(f"{mark}{name[:7]:<7}{meter(lp)}")
        return "\n".join(lines)

    def load_text(self) -> str:
        st = self.engine.state.st
        s = self.stats_fn()
        now = time.monotonic()
        t0, s0 = self._last
        sample = int(st[S_SAMPLE])
        block = float(self.engine.spec.block_size)
        load = float(st[S_LAST_NS]) / 1e9 / (block / float(self.engine.spec.sample_rate)) * 100.0
        rate = (sample - s0) / max(1e-6, now - t0) / float(self.engine.spec.sample_rate)
        self._last = (now, sample)
        # the audio clock against the wall clock: only worth a word when the stream is not keeping up
        clock = "" if not 0 < rate < 0.95 else f"  audio runs at {rate:.2f}x real time: the device is late"
        return (f"load {load:5.1f} %  worst {s.get('worst_block_us', 0.0):7.0f} us  underflows "
                f"{s.get('underflows', 0)}  voices {s.get('active_voices', 0)}{clock}")

    def voices_text(self) -> str:
        lf = self.engine.state.lf
        lines = ["layer      voices  gain"]
        for i, name in enumerate(LAYER_NAMES):
            n = int(lf[i, LF_ACTIVE_VOICES])
            lines.append(f"{name:<10} {n:5d}  {float(lf[i, LF_GAIN]):4.2f} {'█' * min(20, n)}")
        return "\n".join(lines)

    def params_text(self) -> str:
        if self.controller is None or not getattr(self.controller, "values", None):
            return "parameters: none"
        lines = ["parameters"]
        for name, v in self.controller.values.items():
            spec = self.controller.params[name]
            x = (v - spec.lo) / (spec.hi - spec.lo)
            lines.append(f"{name:<12} {v:7.3f} {'▮' * int(round(x * 16)):<16}")
        return "\n".join(lines)

    def _set(self, wid: str, text: str) -> None:
        """Update one panel only when its text changed, and re-lay out only when its line count did
        (a full layout per panel per frame was most of the UI's CPU time)."""
        old = self._shown.get(wid)
        if old == text:
            return
        self._shown[wid] = text
        relayout = old is None or old.count("\n") != text.count("\n")
        self.query_one("#" + wid, Static).update(text, layout=relayout)

    def refresh_view(self) -> None:
        self.frames += 1
        self._set("clock", self.clock_text())
        self._set("meters", self.meters_text())
        if self.reloader is not None and self.reloader.message and self.reloader.message != self._last_reload:
            self._last_reload = self.reloader.message
            self.message = self.reloader.message
        self._set("status", self.message)
        if self.frames % 2 and self.frames > 2:
            return                     # the slower panels: every other frame
        title, rows = automaton_view(self.engine, self.history)
        self._set("load", self.load_text())
        self._set("grid", title + "\n" + "\n".join(rows))
        self._set("voices", self.voices_text())
        self.last_cont = "continuator: " + continuator_status(self.continuator)
        self._set("cont", self.last_cont)
        self._set("params", self.params_text())
        self._set("gens", "generators\n" + "\n".join(generator_lines(self.engine)))

    # -------------------------------------------------------------- keys
    def action_panic(self) -> None:
        if self.controller is not None:
            self.controller.panic()
        else:
            self.engine.panic()
        self.message = "panic: all voices silenced"

    def action_next_scene(self) -> None:
        if self.controller is None or not self.scenes:
            self.message = "no scenes to switch to"
            return
        self.scene_index = (self.scene_index + 1) % len(self.scenes)
        name = self.scenes[self.scene_index]
        try:
            if name not in self.controller.states:
                self.controller.add_state(name, name)
            tr = self.controller.set_state(name, "bar")
            self.message = f"scene {name} at sample {tr.sample}"
        except Exception as e:                 # a bad scene must not close the UI
            self.message = f"scene {name}: {e}"

    def action_record(self) -> None:
        if self.recorder is None:
            self.message = "recording not available (start with --record DIR)"
            return
        try:
            self.message = self.recorder(not self.recording)
            self.recording = not self.recording
            self.rec_since = time.monotonic()
        except Exception as e:
            self.message = f"recording: {e}"

    def _act(self, what: str, fn: Callable[[], str]) -> None:
        """Run a performer's change; a bad value shows in the status line, never closes the UI."""
        if self.controller is None:
            self.message = f"{what}: no controller"
            return
        try:
            self.message = fn()
        except Exception as e:
            self.message = f"{what}: {e}"

    def _current(self, what: str, now: float) -> float:
        """The value a relative change starts from: the last one asked for while it has not landed."""
        asked = self._asked.get(what)
        return asked[1] if asked is not None and asked[0] == now else now

    def action_tempo(self, delta: float) -> None:
        def go() -> str:
            now = float(self.engine.state.p[P_BPM])
            bpm = min(400.0, max(20.0, self._current("tempo", now) + float(delta)))
            self.controller.set_target("tempo", bpm)
            self._asked["tempo"] = (now, bpm)
            return f"tempo {bpm:g} bpm"
        self._act("tempo", go)

    def action_key(self, semitones: int) -> None:
        from ..control.perform import set_root
        from ..rt.layout import H_ROOT

        def go() -> str:
            now = float(self.engine.state.harm[H_ROOT])
            root = int(self._current("key", now) + int(semitones)) % 12
            name = set_root(self.controller, root)
            self._asked["key"] = (now, float(root))
            return f"key {name} at the next bar"
        self._act("key", go)

    def action_layer(self, index: int) -> None:
        self.layer = int(index) % len(LAYER_NAMES)
        self.message = f"layer {LAYER_NAMES[self.layer]}: [ and ] change its gain"

    def action_gain(self, delta: float) -> None:
        def go() -> str:
            name = LAYER_NAMES[self.layer]
            base = getattr(self.controller, "_layer_base", {}).get(name, 0.8)
            g = round(min(4.0, max(0.0, float(base) + float(delta))), 2)
            self.controller.set_layer_gain(name, g)
            return f"{name} gain {g:.2f}"
        self._act("gain", go)

    def action_intensity(self, delta: float) -> None:
        def go() -> str:
            values = getattr(self.controller, "values", {}) or {}
            if "intensity" in values:
                v = self.controller.set_param("intensity", float(values["intensity"]) + float(delta))
                return f"intensity {v:.2f}"
            from ..rt.layout import H_DENSITY

            v = min(1.0, max(0.0, float(self.engine.state.harm[H_DENSITY]) + float(delta)))
            self.controller.set_target("density", v)
            return f"density {v:.2f} (no 'intensity' parameter in this preset)"
        self._act("intensity", go)

    def action_reload(self) -> None:
        if self.reloader is None:
            self.message = "nothing to reload (start with --preset FILE.toml)"
            return
        self._act("reload", self.reloader.reload)
