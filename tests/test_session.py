"""The session builder: one way from settings to an engine, for play, render and jam."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from rtgen.errors import ConfigError
from rtgen.rt.layout import P_BPM
from rtgen.session import SessionSpec, build_engine, build_from_args


def test_the_presets_tempo_unless_bpm_overrides_it() -> None:
    s = build_engine(SessionSpec(preset="ensemble"))
    assert s.preset.tempo == 96.0 and float(s.engine.state.p[P_BPM]) == 96.0
    s = build_engine(SessionSpec(preset="ensemble", bpm=120))
    assert float(s.engine.state.p[P_BPM]) == 120.0
    s = build_engine(SessionSpec())                     # no preset: the default arrangement
    from rtgen.gen.presets import list_presets
    from rtgen.session import DEFAULT_PRESETS

    assert s.preset is not None and s.preset.name == next(n for n in DEFAULT_PRESETS if n in list_presets())
    s = build_engine(SessionSpec(default_preset=None))  # nothing at all: the pulse, at 110
    assert s.preset is None and float(s.engine.state.p[P_BPM]) == 110.0 and s.engine.generators()


def test_spec_is_frozen_and_reads_a_command_line() -> None:
    ns = argparse.Namespace(samplerate=44100, blocksize=64, voices=32, seed=5, bpm=None, preset="ca1d",
                            timbre="additive", fx="none")
    spec = SessionSpec.from_args(ns)
    assert (spec.sample_rate, spec.block_size, spec.voices, spec.seed, spec.preset) == (44100, 64, 32, 5, "ca1d")
    with pytest.raises(AttributeError):
        spec.seed = 1  # type: ignore[misc]
    s = build_from_args(ns)
    assert ns.loaded_preset is s.preset and s.fx is None and s.engine.spec.sample_rate == 44100


def test_fx_from_the_preset_or_the_option() -> None:
    pytest.importorskip("pyo", reason="pyo is an optional extra (pip install 'rtgen[fx]')")
    s = build_engine(SessionSpec(preset="ensemble", fx="hall"))
    assert s.fx is not None and s.fx["master"] or s.fx["buses"]
    with pytest.raises(ConfigError):
        build_engine(SessionSpec(fx="no-such-effect"))


def test_no_import_circle_between_cli_ui_session_and_jam() -> None:
    """cli -> ui/session -> session; control/jam imports neither the CLI nor the UI."""
    code = ("import sys, rtgen.control.jam, rtgen.session, rtgen.ui.session; "
            "bad = [m for m in ('rtgen.cli', 'rtgen.cli_jam', 'textual') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    import ast
    from pathlib import Path

    import rtgen
    root = Path(rtgen.__file__).parent
    for mod in ("control/jam.py", "ui/session.py", "session.py"):
        tree = ast.parse((root / mod).read_text())
        names = {(n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {m for m in names if m.lstrip(".") in ("cli", "cli_jam")}, (mod, names)
        if mod != "ui/session.py":
            assert not {m for m in names if m.lstrip(".").startswith("ui")}, (mod, names)


def test_cached_additive_tables_are_the_same_bits_and_renders_too(tmp_path, monkeypatch) -> None:
    import numpy as np

    from rtgen import Engine, EngineSpec
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    ref = Engine(EngineSpec(seed=3), timbre="additive")
    a = build_engine(SessionSpec(seed=3, preset="ca1d", timbre="additive"))   # builds and writes the cache
    assert list((tmp_path / "rtgen-numba" / "tables").glob("additive-*.npz"))
    b = build_engine(SessionSpec(seed=3, preset="ca1d", timbre="additive"))   # loads it
    for e in (a.engine, b.engine):
        assert np.array_equal(e.state.itab, ref.state.itab) and np.array_equal(e.state.iparam, ref.state.iparam)
    assert np.array_equal(a.engine.render(frames=24000), b.engine.render(frames=24000))


def test_jam_summary_prints_every_answer_latency_the_continuator_reports() -> None:
    """The Continuator may report the latency from the player's last note-off beside the one from
    the phrase detection: whatever ``*latency_ms`` figures it has are printed by name."""
    from rtgen.control.jam import JamSummary

    s = JamSummary(seconds=10, audio="system", midi_in="rtgen-in:in", notes_in=30, phrases=3, answers=3,
                   answer_latency_ms={"median": 6.5, "min": 6.1, "max": 7.2, "n": 3},
                   latencies_ms={"answer_latency_from_note_off_ms": {"median": 489.0, "max": 495.0, "n": 3}},
                   bpm=96, arrangement="ensemble", verdict="OK: every block was on time")
    text = s.text()
    assert "your last note-off -> first answer note: 489.0 ms median (worst 495.0, n=3)" in text
    assert "phrase detection -> first answer note: 6.5 ms median (6.1..7.2, n=3)" in text
    assert text.index("your last note-off") < text.index("phrase detection")     # the one the player feels first
    assert "ensemble at 96 bpm" in text and "verdict: OK" in text
