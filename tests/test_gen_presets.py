"""Presets: every shipped preset loads and plays; validation errors name the file and the key."""

from __future__ import annotations

import numpy as np
import pytest
from gen_harness import run_kernel, run_reference

from rtgen.errors import ConfigError
from rtgen.gen.presets import PresetSpec, build_sequencer, describe_preset, list_presets, load_preset
from rtgen.rt.harmony import make_harmony

REQUIRED = {"chorale", "grammar", "lsystem", "ca1d", "life", "ensemble"}


def test_shipped_presets_load():
    names = list_presets()
    assert REQUIRED <= set(names)
    for n in names:
        ps = load_preset(n)
        assert isinstance(ps, PresetSpec) and (ps.generators or ps.arrangement) and ps.bpm == ps.tempo
        assert describe_preset(n)
    ens = load_preset("ensemble")
    kinds = {s.name for s, _ in ens.generators}
    assert {"chorale", "grammar", "ca1d", "life"} <= kinds


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_preset_generators_play_and_match_reference(name):
    ps = load_preset(name)
    for slot, (seq, layer) in enumerate(ps.generators):
        a = run_kernel(seq, 1500, slot=slot, bpm=ps.tempo, harm=make_harmony(ps.key, ps.scale))
        b = run_reference(seq, 1500, slot=slot, bpm=ps.tempo, harm=make_harmony(ps.key, ps.scale))
        assert np.array_equal(a, b)
        assert len(a) > 0, f"{name}: generator {slot} played nothing in 1500 chunks"
        assert set(a[:, 4].astype(int)) == {layer}      # every event on the layer the preset names


def _write(tmp_path, text: str):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    return p


GOOD = 'tempo = 100\nkey = "C"\n[[generator]]\ntype = "ca1d"\nrule = 30\n'


def test_loads_a_file(tmp_path):
    ps = load_preset(_write(tmp_path, GOOD))
    assert ps.tempo == 100 and ps.generators[0][0].rule == 30


@pytest.mark.parametrize("text,key", [
    ('tempo = 100\ncolour = "red"\n[[generator]]\ntype = "ca1d"\n', "colour"),
    ('tempo = "fast"\n[[generator]]\ntype = "ca1d"\n', "tempo"),
    ('tempo = 1000\n[[generator]]\ntype = "ca1d"\n', "tempo"),
    ('key = "H"\n[[generator]]\ntype = "ca1d"\n', "key"),
    ('scale = "weird"\n[[generator]]\ntype = "ca1d"\n', "scale"),
    ('[layers]\ndrums = 1.0\n[[generator]]\ntype = "ca1d"\n', "layers.drums"),
    ('[[generator]]\ntype = "ca1d"\nrule = "thirty"\n', "rule"),
    ('[[generator]]\ntype = "ca1d"\nwrap = 1\n', "wrap"),
    ('[[generator]]\ntype = "ca1d"\nbogus = 1\n', "bogus"),
    ('[[generator]]\ntype = "fractal"\n', "type"),
    ('[[generator]]\nrule = 30\n', "type"),
    ('[[generator]]\ntype = "ca1d"\nlayer = "drums"\n', "layer"),
    ('[[generator]]\ntype = "ca1d"\ndensity = 2.0\n', "density"),
    ('tempo = 90\n', "generator"),
])
def test_validation_names_file_and_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as e:
        load_preset(_write(tmp_path, text))
    assert "bad.toml" in str(e.value) and key in str(e.value)


def test_generator_errors_carry_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"bad.toml.*generator 1.*B9"):
        load_preset(_write(tmp_path, '[[generator]]\ntype = "life"\nrule = "B9/S23"\n'))
    with pytest.raises(ConfigError, match=r"bad.toml.*line 1, column"):
        load_preset(_write(tmp_path, '[[generator]]\ntype = "grammar"\ntext = "S -> (x) C"\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_preset(_write(tmp_path, "tempo = = 3"))
    with pytest.raises(ConfigError, match="unknown preset"):
        load_preset("no-such-preset")


def test_build_sequencer():
    seq = build_sequencer({"type": "euclid", "layer": "aux1", "tracks": [{"pulses": 3, "steps": 8}]}, "here")
    assert seq.layer == 5 and seq.patterns[0] == [1, 0, 0, 1, 0, 0, 1, 0]
    with pytest.raises(ConfigError, match="here: euclid track 0: unknown key"):
        build_sequencer({"type": "euclid", "tracks": [{"pulse": 3}]}, "here")


def test_plot_render(tmp_path):
    pytest.importorskip("matplotlib")
    from rtgen.gen.plot import automaton_rows, plot_render

    ps = load_preset("ca1d")
    rows = automaton_rows(ps, 4.0)
    assert rows is not None and rows.shape[1] == 64 and rows[0].sum() == 1
    ev = np.array([[0.0, 60, 100, 0.5, 0], [0.5, 64, 80, 0.5, 2]])
    out = plot_render(ev, tmp_path / "roll.png", rows)
    assert out.exists() and out.stat().st_size > 1000
    assert automaton_rows(load_preset("grammar"), 1.0) is None
