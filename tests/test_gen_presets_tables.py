"""Presets carry an [fx] table and a [midi_map] table, validated like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtgen.errors import ConfigError
from rtgen.gen.presets import load_preset

BASE = '''
tempo = 100
[[generator]]
type = "euclid"
layer = "rules"
'''


def _write(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(BASE + extra)
    return p


def test_fx_table_is_validated_and_kept(tmp_path: Path) -> None:
    spec = load_preset(_write(tmp_path, '''
[fx]
[[fx.master]]
type = "reverb"
mix = 0.3
'''))
    assert spec.fx is not None and spec.fx["master"][0]["type"] == "reverb"
    with pytest.raises(ConfigError, match=r"p\.toml.*mix"):
        load_preset(_write(tmp_path, '''
[fx]
[[fx.master]]
type = "reverb"
mix = 3
'''))


def test_midi_map_table_is_accepted_and_validated(tmp_path: Path) -> None:
    from rtgen.control.params import load_midi_map, read_preset_file

    # a table the params module reads is kept by the preset loader; the one loader
    # (read_preset_file) parses it, and reads the same bindings as load_midi_map
    table = ('\n[midi_map]\nprograms = { 0 = "chorale" }\n[[midi_map.binding]]\nsource = "cc"\n'
             'number = 74\ntarget = "param:intensity"\n')
    path = _write(tmp_path, table)
    assert load_preset(path).midi_map is not None
    spec = read_preset_file(path).preset
    direct = load_midi_map(path)
    assert [b.number for b in direct.bindings] == [74] and direct.programs == {0: "chorale"}
    assert spec.midi_map == direct
    f = read_preset_file(_write(tmp_path, "\n[midi_map]\n[states.calm]\ntempo = 80\n"))
    assert f.preset.midi_map is f.midi_map and f.music == {"states": {"calm": {"tempo": 80}}}
    with pytest.raises(ConfigError, match="p.toml"):
        read_preset_file(_write(tmp_path, "\n[midi_map]\nbogus = 1\n"))
