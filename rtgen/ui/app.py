"""The terminal UI: tempo and beat, the automaton as it evolves, voices per layer, the Continuator,
audio load and underflows, parameter values; keys for panic, scene change and recording.

It never disturbs the audio thread: it only reads the engine's arrays (a torn read shows
one odd frame, nothing more) and sends commands through the controller. It redraws at
most ``refresh_hz`` times a second (15 by default, never more than 20).
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
    N_GEN,
    P_BEAT,
    P_BEATS_PER_BAR,
    P_BPM,
    S_LAST_NS,
    S_SAMPLE,
)

MAX_REFRESH_HZ = 20.0
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


class RtgenApp(App[None]):
    """``RtgenApp(engine, controller=..., continuator=..., recorder=..., scenes=[...]).run()``."""

    TITLE = "rtgen"
    CSS = """
    #top { height: 3; }
    #clock { width: 1fr; } #load { width: 1fr; }
    #grid { height: 18; border: round $accent; width: 1fr; }
    #side { width: 46; }
    #voices { height: 11; border: round $accent; }
    #params { border: round $accent; }
    #cont { height: 3; border: round $accent; }
    """
    BINDINGS = [("p", "panic", "Panic"), ("n", "next_scene", "Next scene"), ("r", "record", "Record"),
                ("q", "quit", "Quit")]

    def __init__(self, engine: Any, controller: Any = None, continuator: Any = None,
                 recorder: Callable[[bool], str] | None = None, scenes: list[str] | None = None,
                 refresh_hz: float = 15.0, stats: Callable[[], dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.controller = controller
        self.continuator = continuator
        self.recorder = recorder          # recorder(on) -> status text; None: recording not available
        self.recording = False
        self.scenes = list(scenes or (list(controller.states) if controller is not None else []))
        self.scene_index = -1
        self.refresh_hz = min(MAX_REFRESH_HZ, max(1.0, float(refresh_hz)))
        self.stats_fn = stats or engine.stats
        self.history: deque[str] = deque(maxlen=GRID_ROWS)
        self.message = ""
        self.last_cont = ""
        self.frames = 0
        self._last = (time.monotonic(), int(engine.state.st[S_SAMPLE]))

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="top"):
            yield Static(id="clock")
            yield Static(id="load")
        with Horizontal():
            yield Static(id="grid")
            with Vertical(id="side"):
                yield Static(id="voices")
                yield Static(id="cont")
                yield Static(id="params")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.refresh_hz, self.refresh_view)
        self.refresh_view()

    # -------------------------------------------------------------- drawing (reads only)
    def clock_text(self) -> str:
        p = self.engine.state.p
        bpb = max(1, int(p[P_BEATS_PER_BAR]))
        beat = float(p[P_BEAT])
        b = int(np.floor(beat))
        dots = "".join("●" if i == b % bpb else "○" for i in range(bpb))
        state = getattr(self.controller, "state", None) if self.controller is not None else None
        rec = "  [REC]" if self.recording else ""
        return (f"{float(p[P_BPM]):6.1f} bpm  bar {b // bpb + 1:4d}  beat {b % bpb + 1}  {dots}"
                f"  scene: {state or '-'}{rec}")

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
        return (f"load {load:5.1f} %  worst {s.get('worst_block_us', 0.0):7.0f} us  underflows "
                f"{s.get('underflows', 0)}  voices {s.get('active_voices', 0)}  clock x{rate:4.2f}"
                + (f"\n{self.message}" if self.message else ""))

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

    def refresh_view(self) -> None:
        self.frames += 1
        title, rows = automaton_view(self.engine, self.history)
        self.query_one("#clock", Static).update(self.clock_text())
        self.query_one("#load", Static).update(self.load_text())
        self.query_one("#grid", Static).update(title + "\n" + "\n".join(rows))
        self.query_one("#voices", Static).update(self.voices_text())
        self.last_cont = "continuator: " + continuator_status(self.continuator)
        self.query_one("#cont", Static).update(self.last_cont)
        self.query_one("#params", Static).update(self.params_text())

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
        except Exception as e:
            self.message = f"recording: {e}"
