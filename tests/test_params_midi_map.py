"""MIDI learn, the [midi_map] table (loader, tiny TOML writer), program change -> scene on the next bar."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as hst

from rtgen import Engine, EngineSpec
from rtgen.control.midi import M_CC, M_MOD, M_NOTE_OFF, M_NOTE_ON, M_PROGRAM, MidiEvent
from rtgen.control.params import (
    Binding,
    MidiMap,
    MidiMapSpec,
    dump_table,
    load_midi_map,
    load_preset_file,
    save_midi_map,
    toml_value,
)
from rtgen.errors import ConfigError
from rtgen.game import MusicController
from rtgen.rt.layout import LAYER_RULES, LF_GAIN, O_BEAT, P_BPM

PRESET = '''# a live set
description = """a set
[midi_map]
not a header: inside a multi-line string
"""
tempo = 100
key = "D"

[layers]
rules = 0.7

[[generator]]
type = "grammar"
layer = "grammar"
text = """
S -> A B
A -> C | D
B -> E
"""

[[generator]]
type = "ca1d"
layer = "automata"
rule = 30
'''


# ------------------------------------------------------------------ the TOML writer
_scalar = hst.one_of(hst.integers(-2 ** 63, 2 ** 63 - 1), hst.floats(allow_nan=False, allow_infinity=False),
                     hst.booleans(), hst.text(max_size=20))
_key = hst.text(min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(hst.dictionaries(_key, hst.one_of(_scalar, hst.lists(_scalar, max_size=4),
                                         hst.dictionaries(_key, _scalar, max_size=3)), max_size=6),
       hst.lists(hst.dictionaries(_key, _scalar, min_size=1, max_size=4), max_size=3))
def test_writer_round_trips_through_tomllib(table: dict, items: list) -> None:
    t = dict(table)
    t.pop("item", None)
    if items:
        t["item"] = items
    text = dump_table("midi_map", t)
    got = tomllib.loads(text)["midi_map"]
    assert got == t


def test_writer_escapes_and_rejects() -> None:
    assert toml_value('a"b\\c\nd\x01') == '"a\\"b\\\\c\\nd\\u0001"'
    assert toml_value(1.0) == "1.0" and toml_value(1e300) == "1e+300"
    with pytest.raises(ConfigError):
        toml_value(float("nan"))
    with pytest.raises(ConfigError):
        toml_value(object())


# ------------------------------------------------------------------ load / save in a preset
def test_save_keeps_every_other_table_and_comment(tmp_path: Path) -> None:
    f = tmp_path / "set.toml"
    f.write_text(PRESET)
    spec = MidiMapSpec([Binding("cc", 74, "param:intensity"), Binding("note", 36, "layer:rules", mode="toggle")],
                       {0: "chorale", 5: "ensemble"})
    save_midi_map(f, spec)
    text = f.read_text()
    assert text.startswith(PRESET.rstrip("\n"))             # the rest of the file is byte-for-byte as it was
    got = load_midi_map(f)
    assert got.bindings == spec.bindings and got.programs == spec.programs
    spec.bindings.pop()
    save_midi_map(f, spec)             # saving again replaces the table (the other "[midi_map]" is in a string)
    assert f.read_text().count("[midi_map]") == 2 and load_midi_map(f).bindings == spec.bindings
    preset, mm = load_preset_file(f)                        # the preset loader never sees [midi_map]
    assert preset.tempo == 100 and len(preset.generators) == 2 and mm.programs[5] == "ensemble"


def test_midi_map_inside_the_file_before_other_tables(tmp_path: Path) -> None:
    f = tmp_path / "set.toml"
    f.write_text('tempo = 90\n[midi_map]\nprograms = { 1 = "x" }\n[[midi_map.binding]]\nsource = "cc"\n'
                 'number = 1\ntarget = "tempo"\n\n[layers]\nrules = 0.5\n[[generator]]\ntype = "ca1d"\n')
    save_midi_map(f, MidiMapSpec([Binding("cc", 7, "master")]))
    doc = tomllib.loads(f.read_text())
    assert doc["layers"] == {"rules": 0.5} and doc["generator"] == [{"type": "ca1d"}]
    assert doc["midi_map"] == {"binding": [{"source": "cc", "number": 7, "channel": -1, "target": "master",
                                            "curve": "linear", "lo": 0.0, "hi": 1.0}]}


@pytest.mark.parametrize("body, msg", [
    ('[midi_map]\nfoo = 1\n', "midi_map: unknown key 'foo'"),
    ('[[midi_map.binding]]\nsource = "pedal"\nnumber = 1\ntarget = "tempo"\n', "key 'source'"),
    ('[[midi_map.binding]]\nsource = "cc"\nnumber = 300\ntarget = "tempo"\n', "key 'number'"),
    ('[[midi_map.binding]]\nsource = "cc"\nnumber = "1"\ntarget = "tempo"\n', "key 'number' has the wrong type"),
    ('[[midi_map.binding]]\nsource = "cc"\nnumber = 1\n', "key 'target' is missing"),
    ('[[midi_map.binding]]\nsource = "cc"\nnumber = 1\ntarget = "layer:drums"\n', "unknown layer"),
    ('[midi_map]\nprograms = { x = "a" }\n', "programs: key 'x'"),
    ('[midi_map\n', "not valid TOML"),
])
def test_bad_maps_name_the_file_and_key(tmp_path: Path, body: str, msg: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(body)
    with pytest.raises(ConfigError, match=msg) as e:
        load_midi_map(f)
    assert str(f) in str(e.value)


# ------------------------------------------------------------------ the live map
def _ev(kind: int, a: int, b: int = 0, ch: int = 0) -> MidiEvent:
    return MidiEvent(kind, ch, a, b)


def test_learn_binds_the_next_control_and_drives_the_target() -> None:
    eng = Engine(EngineSpec(seed=1))
    m = MusicController(eng, params={"intensity": {"map": [{"target": "layer:rules", "lo": 0, "hi": 2}]}})
    mm = MidiMap(m)
    mm.learn("param:intensity")
    mm.handle(_ev(M_CC, 74, 127, ch=3))
    assert mm.wait_learned(0.1) == Binding("cc", 74, "param:intensity", channel=3)
    assert m.values["intensity"] == 1.0
    mm.handle(_ev(M_CC, 74, 0, ch=2))                       # another channel: not this binding
    assert m.values["intensity"] == 1.0
    mm.handle(_ev(M_CC, 74, 127 // 2, ch=3))
    eng.render(frames=128)
    assert eng.state.lf[LAYER_RULES, LF_GAIN] == pytest.approx(0.8 * 2 * 63 / 127)  # engine default x curve
    mm.learn("tempo", lo=60, hi=180)
    mm.handle(_ev(M_MOD, 127))                              # the mod wheel is CC 1
    eng.render(frames=128)
    assert eng.state.p[P_BPM] == 180
    mm.learn("master", mode="toggle")
    mm.handle(_ev(M_NOTE_OFF, 40))                          # a note-off does not learn
    mm.handle(_ev(M_NOTE_ON, 40, 90))
    assert mm.spec.bindings[-1].source == "note" and mm.spec.bindings[-1].number == 40
    mm.handle(_ev(M_NOTE_OFF, 40))
    mm.handle(_ev(M_NOTE_ON, 40, 90))                       # toggles back to lo
    eng.render(frames=128)
    from rtgen.rt.layout import P_MASTER_GAIN
    assert eng.state.p[P_MASTER_GAIN] == 0.0
    with pytest.raises(ConfigError):
        mm.learn("layer:drums")


def test_out_of_range_binding_is_a_logged_ignore() -> None:
    eng = Engine(EngineSpec(seed=1))
    m = MusicController(eng)
    mm = MidiMap(m, MidiMapSpec([Binding("cc", 10, "tempo", lo=0, hi=1000)]))
    mm.handle(_ev(M_CC, 10, 127))                           # 1000 bpm: ignored, logged
    mm.handle(_ev(M_CC, 10, 127))
    assert mm.bad.counts["apply:tempo"] == 2 and mm.applied == 0


def test_program_change_switches_scene_on_the_next_bar() -> None:
    eng = Engine(EngineSpec(seed=1, bpm=120))
    m = MusicController(eng)
    mm = MidiMap(m, MidiMapSpec(programs={3: "ca1d"}))
    eng.render(frames=30000)
    mm.handle(_ev(M_PROGRAM, 3))
    mm.handle(_ev(M_PROGRAM, 4))                            # unmapped: nothing
    assert m.pending is not None and m.pending.target == "ca1d"
    at = m.pending.sample
    eng.render(frames=at + 100 - 30000)
    ev = eng.events()
    bars = ev[(ev[:, 0] == O_BEAT) & (ev[:, 4] == 0)]
    assert at in set(bars[:, 1].astype(int))
    assert eng.state.p[P_BPM] == 120 or m.state == "ca1d"
    assert m.state == "ca1d" and len(eng.generators()) >= 1
