"""Typed commands: each command's row is what the kernel reads, the engine writes exactly that row,
and the control side (MIDI, follower, clock sync, game, CLI, UI, recording) never builds rows itself."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.rt import commands as cm
from rtgen.rt.layout import (
    C_NOTE_ON,
    CMD_CAP,
    LAYER_NAMES,
    LAYER_PLAYER,
    LF_GAIN,
    P_MASTER_GAIN,
    RING_CONTROL,
    RING_MIDI,
)
from rtgen.rt.ring import HEAD
from rtgen.timbre.base import INSTRUMENTS

ROOT = Path(__file__).resolve().parents[1] / "rtgen"
# the modules that talk to the engine only through its typed setters
CALLERS = [ROOT / "control", ROOT / "game", ROOT / "cli.py", ROOT / "ui", ROOT / "record.py"]


def _caller_files() -> list[Path]:
    out: list[Path] = []
    for p in CALLERS:
        if p.is_dir():
            out += sorted(p.rglob("*.py"))
        elif p.exists():
            out.append(p)
    return out


def _command_codes_used(path: Path) -> list[str]:
    """``C_*`` names a module imports or reads (in code, not in docstrings or comments)."""
    tree = ast.parse(path.read_text("utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [a.name for a in node.names if a.name.startswith("C_")]
        elif isinstance(node, ast.Name) and node.id.startswith("C_"):
            found.append(node.id)
        elif isinstance(node, ast.Attribute) and node.attr.startswith("C_"):
            found.append(node.attr)
    return found


def test_control_game_cli_ui_record_never_use_command_codes() -> None:
    files = _caller_files()
    assert len(files) >= 8
    bad = {str(p.relative_to(ROOT)): names for p in files if (names := _command_codes_used(p))}
    assert not bad, f"these build command rows by hand instead of calling the Engine: {bad}"


def test_the_grep_finds_a_hand_built_row(tmp_path: Path) -> None:
    p = tmp_path / "x.py"
    p.write_text('"""C_NOTE_ON in a docstring is fine."""\nfrom rtgen.rt.layout import C_NOTE_ON\n'
                 "def f(e):\n    e.command(layout.C_PANIC)\n")
    assert _command_codes_used(p) == ["C_NOTE_ON", "C_PANIC"]


def test_no_module_reads_the_private_live_flag() -> None:
    for p in ROOT.rglob("*.py"):
        assert '"_live"' not in p.read_text("utf-8"), f"{p}: use engine.is_live"


def test_command_doctests() -> None:
    res = doctest.testmod(cm)
    assert res.attempted >= 17 and res.failed == 0


@pytest.fixture(scope="module")
def eng() -> Engine:
    return Engine(EngineSpec(seed=0))


def _last_row(eng: Engine, ring: int) -> np.ndarray:
    head = int(eng.state.cmd_idx[ring, HEAD])
    return eng.state.cmd[ring][(head - 1) % CMD_CAP].copy()


@pytest.mark.parametrize("cmd", [
    cm.NoteOn(61.5, 90, 2, 3, -1, 0.25), cm.NoteOff(61, 2), cm.NoteFor(70, 100, 7, -1, 4800.0),
    cm.Sustain(True, 3), cm.PitchBend(-1.5, 3), cm.SetParam(P_MASTER_GAIN, 0.4), cm.SetLayer(1, LF_GAIN, 0.3),
    cm.SetGenWord(2, 17, 5), cm.SetGenWord(2, 18, 0.5, floats=True), cm.SetGenActive(1, True),
    cm.SetHarmony(0, 7), cm.AllNotesOff(4), cm.Panic(), cm.Tempo(97), cm.ResetClock(4), cm.Meter(3), cm.Swing(0.2)])
def test_send_writes_the_row_and_time(cmd: cm.Command, eng: Engine) -> None:
    assert eng.send(cmd, time=1234.0, ring=RING_MIDI)
    row = _last_row(eng, RING_MIDI)
    assert tuple(row[:7]) == cmd.row() and row[7] == 1234.0


def test_setters_encode_the_same_rows_as_their_commands() -> None:
    eng = Engine(EngineSpec(seed=0))
    eng.note_on(60, 200, "player", time=5.0)                 # velocity clamped to 127, layer by name
    assert tuple(_last_row(eng, RING_CONTROL)) == (C_NOTE_ON, 60, 127, LAYER_PLAYER, -1, -1, 0, 5.0)
    eng.play_note(72, 100, 0.5, layer="aux1", time=9.0)
    assert tuple(_last_row(eng, RING_CONTROL)[:7]) == cm.NoteFor(72, 100, LAYER_NAMES.index("aux1"), -1,
                                                                  24000.0).row()
    eng.program_change(19, LAYER_PLAYER, ring=RING_MIDI)     # GM 19, church organ: the organ
    organ = [n for n, _ in INSTRUMENTS].index("organ")
    assert tuple(_last_row(eng, RING_MIDI)[:4]) == (5, LAYER_PLAYER, 3, organ)


def test_harmony_setter_and_commands_agree() -> None:
    eng = Engine(EngineSpec(seed=0))
    v0 = float(eng.state.harm[25])
    eng.set_harmony(14, (0, 2, 3, 5, 7, 8, 10), chord=(2, 5, 9), time=64.0)
    want = cm.harmony_commands(v0 + 1, root=2, scale=(0, 2, 3, 5, 7, 8, 10), chord=(2, 5, 9))
    head = int(eng.state.cmd_idx[RING_CONTROL, HEAD])
    rows = eng.state.cmd[RING_CONTROL][head - len(want):head]
    assert [tuple(r[:7]) for r in rows] == [c.row() for c in want]
    eng.render(frames=128)
    assert eng.state.harm[0] == 2 and eng.state.harm[25] == v0 + 1


def test_is_live_sample_rate_and_samples_per_beat() -> None:
    eng = Engine(EngineSpec(sample_rate=96000, bpm=120.0))
    assert not eng.is_live
    assert eng.sample_rate == 96000
    assert eng.samples_per_beat() == 48000.0
    eng.set_tempo(150.0)
    eng.render(frames=128)
    assert eng.samples_per_beat() == pytest.approx(38400.0)
