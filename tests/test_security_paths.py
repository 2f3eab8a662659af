"""Files named inside presets cannot make rtgen read outside the preset's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtgen.errors import ConfigError
from rtgen.game import parse_states
from rtgen.gen.presets import load_preset_ref

PRESET = '''
tempo = 100
[[generator]]
type = "euclid"
layer = "rules"
'''


def test_a_state_may_name_a_shipped_preset_or_a_file_beside_it(tmp_path: Path) -> None:
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "verse.toml").write_text(PRESET)
    st = parse_states({"a": {"preset": "ensemble"}, "b": {"preset": "verse.toml"}}, base_dir=tmp_path / "sets")
    assert st["a"].generators and st["b"].generators


@pytest.mark.parametrize("ref", ["../outside.toml", "/etc/passwd", "sub/../../outside.toml", "no-such-preset"])
def test_references_that_leave_the_folder_are_refused(tmp_path: Path, ref: str) -> None:
    (tmp_path / "outside.toml").write_text(PRESET)
    (tmp_path / "sets").mkdir()
    with pytest.raises(ConfigError, match="leaves|relative|no shipped preset"):
        load_preset_ref(ref, tmp_path / "sets", "states.a.preset")
    with pytest.raises(ConfigError, match="states.a"):
        parse_states({"a": {"preset": ref}}, base_dir=tmp_path / "sets")


def test_midi_map_scenes_cannot_name_files_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rtgen import Engine, EngineSpec
    from rtgen.control.params import MidiMap, parse_midi_map
    from rtgen.game import MusicController

    (tmp_path / "outside.toml").write_text(PRESET)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    ctl = MusicController(Engine(EngineSpec()))
    mm = MidiMap(ctl, parse_midi_map({"programs": {"0": "../outside.toml", "1": "ensemble"}}))
    with pytest.raises(ConfigError, match="leaves"):
        mm._default_scene("../outside.toml")
    mm._default_scene("ensemble")
    assert "ensemble" in ctl.states
