"""The band: the instrument table, the GM program mapping, the kit, the listing, the held-out split
and the model-version check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtgen.errors import ConfigError
from rtgen.rt.layout import N_INSTR
from rtgen.timbre import AdditiveTimbre, instruments_listing
from rtgen.timbre.base import (
    DRUM_PROGRAM,
    DRUMS,
    GM_DRUM_KEYS,
    INSTRUMENTS,
    ONE_SHOT,
    gm_program_instrument,
    model_instruments_error,
)

# The instrument set of the project's brief (engine index order; the kit is bank 128 program 0).
BAND = [("piano", 0), ("vibraphone", 11), ("nylon_guitar", 24), ("strings", 48), ("choir", 52), ("trumpet", 56),
        ("clarinet", 71), ("flute", 73), ("electric_piano", 4), ("organ", 16), ("steel_guitar", 25),
        ("electric_guitar", 27), ("acoustic_bass", 32), ("finger_bass", 33), ("synth_bass", 38), ("violin", 40),
        ("cello", 42), ("pizzicato", 45), ("trombone", 57), ("horns", 61), ("sax", 65), ("marimba", 12),
        ("synth_lead", 80), ("synth_pad", 89), ("drums", 128)]


def test_instrument_table_is_the_band() -> None:
    assert list(INSTRUMENTS) == BAND
    assert DRUMS == 24 and INSTRUMENTS[DRUMS][1] == DRUM_PROGRAM and ONE_SHOT == {DRUMS}
    assert N_INSTR == 32 >= len(INSTRUMENTS)


@pytest.mark.parametrize("program,name,exact", [
    (0, "piano", True), (4, "electric_piano", True), (89, "synth_pad", True), (12, "marimba", True),
    (1, "piano", False),            # bright piano: nearest program of the piano family
    (30, "electric_guitar", False),  # distortion guitar: guitars are 24, 25, 27
    (34, "finger_bass", False), (39, "synth_bass", False), (43, "cello", False), (46, "pizzicato", False),
    (50, "strings", False),         # synth strings: 48 and 52 equally near, the lower wins
    (58, "trombone", False), (60, "horns", False), (74, "flute", False), (81, "synth_lead", False),
    (95, "synth_pad", False), (99, "synth_pad", False), (105, "steel_guitar", False), (114, "marimba", False),
    (110, "violin", False), (127, "synth_pad", False),
])
def test_gm_program_mapping(program: int, name: str, exact: bool) -> None:
    i, ex = gm_program_instrument(program)
    assert (INSTRUMENTS[i][0], ex) == (name, exact)


def test_gm_program_mapping_covers_every_program_and_rejects_others() -> None:
    for p in range(128):
        i, exact = gm_program_instrument(p)
        assert 0 <= i < len(INSTRUMENTS) and i != DRUMS
        assert exact == (INSTRUMENTS[i][1] == p)
    for bad in (-1, 128, 300):
        with pytest.raises(ConfigError):
            gm_program_instrument(bad)


def test_kit_has_the_sounds_a_band_needs() -> None:
    need = {35, 36, 37, 38, 39, 40, 42, 44, 46, 41, 43, 45, 47, 48, 50, 49, 57, 51, 59}
    assert need <= set(GM_DRUM_KEYS)
    assert len(set(GM_DRUM_KEYS) - need) >= 6
    hz = AdditiveTimbre().note_frequencies()[DRUMS]
    assert np.all(hz > 20.0) and np.all(hz < 5000.0)      # every key of channel 10 sounds
    assert len({round(float(hz[k]), 1) for k in GM_DRUM_KEYS}) >= 30   # measured, not one made-up pitch


def test_listing_names_every_instrument_program_and_drum_key() -> None:
    text = instruments_listing()
    for i, (name, prog) in enumerate(INSTRUMENTS):
        line = next(ln for ln in text.splitlines() if ln.split()[:2] == [str(i), name])
        assert (str(prog) in line) if prog != DRUM_PROGRAM else ("128" in line)
    for key, nm in GM_DRUM_KEYS.items():
        assert f"{key:3d}  {nm}" in text


def test_model_of_another_version_is_refused_with_one_line() -> None:
    ok = {"instruments": json.dumps([[n, p] for n, p in INSTRUMENTS]), "rtgen_model_generation": "2"}
    assert model_instruments_error(ok, "m.onnx") is None
    old = {"instruments": json.dumps([[n, p] for n, p in INSTRUMENTS[:8]])}
    msg = model_instruments_error(old, "m.onnx")
    assert msg and "another version" in msg and "\n" not in msg and "8 instruments" in msg
    swapped = dict(ok, instruments=json.dumps([[n, p] for n, p in reversed(INSTRUMENTS)]))
    assert model_instruments_error(swapped, "m.onnx")


def test_shipped_model_fits_this_instrument_set() -> None:
    onnx = pytest.importorskip("onnx")
    from rtgen.timbre.onnx import DEFAULT_MODEL

    meta = {p.key: p.value for p in onnx.load(DEFAULT_MODEL).metadata_props}
    assert model_instruments_error(meta, DEFAULT_MODEL) is None
    assert len(json.loads(meta["drum_hz"])) == 128


def test_heldout_keys_share_no_sample_with_training_keys() -> None:
    from rtgen.timbre.analysis import _zones, bank_program, note_split, soundfont_path, split_is_by_sample

    try:
        soundfont_path()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    zones = _zones(None)
    by_pitch_only = []
    for i, (name, prog) in enumerate(INSTRUMENTS):
        if i == DRUMS:
            continue
        train, held = note_split(i)
        assert train and held and not set(train) & set(held)
        if not split_is_by_sample(i):
            by_pitch_only.append(name)
            continue
        bank, preset = bank_program(prog)
        seen = set().union(*(zones.key_samples(bank, preset, k) for k in train))
        for k in held:
            assert not zones.key_samples(bank, preset, k) & seen, f"{name} key {k} shares a sample with training"
    # one zone over the whole keyboard: no held-out sample exists (said in the model card)
    assert set(by_pitch_only) <= {"organ", "synth_pad"}
