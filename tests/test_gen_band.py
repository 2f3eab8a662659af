"""Arrangements: form grammar errors, shared harmony, determinism, the first downbeat in key."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rtgen import Engine, EngineSpec
from rtgen.backends.offline import render_array
from rtgen.errors import ConfigError
from rtgen.gen.band import SectionSpec, arrangement_of, parse_arrangement, parse_form
from rtgen.gen.presets import apply_to_engine, load_preset
from rtgen.rt.layout import O_NOTE_ON

SECS = {n: SectionSpec(n, 4, 0.5, "a", None) for n in ("Intro", "A", "B", "Outro")}


def test_form_grammar_expands_and_names_bad_input() -> None:
    got = parse_form("Song -> Intro A A B A Outro", SECS, "f.toml", random.Random(1))
    assert [s.name for s in got] == ["Intro", "A", "A", "B", "A", "Outro"]
    with pytest.raises(ConfigError, match=r"f\.toml: line 2: unknown section 'C'"):
        parse_form("Song -> Intro Body\nBody -> A C", SECS, "f.toml", random.Random(1))
    with pytest.raises(ConfigError, match=r"f\.toml: line 2: the form never terminates.*'Loop'"):
        parse_form("Song -> Intro Loop\nLoop -> A Loop | B Loop", SECS, "f.toml", random.Random(1))
    # recursion with an exit terminates
    got = parse_form("Song -> Intro Body Outro\nBody -> A Body | B", SECS, "f.toml", random.Random(3))
    assert got[0].name == "Intro" and got[-1].name == "Outro" and got[-2].name == "B"


def test_unknown_role_or_instrument_is_one_line_listing_valid() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'tuba'; roles: drums, bass, harmony, lead, counter"):
        parse_arrangement({"tuba": {}}, "p.toml")
    with pytest.raises(ConfigError, match=r"unknown instrument 'kazoo'; valid: piano"):
        parse_arrangement({"lead": {"instrument": "kazoo"}}, "p.toml")


def _render(name: str, seconds: float, block: int) -> tuple[np.ndarray, np.ndarray, Engine]:
    p = load_preset(name)
    eng = Engine(EngineSpec(bpm=p.tempo, seed=1))
    apply_to_engine(p, eng)
    return render_array(eng, seconds, block=block), eng.events(), eng


def test_arrangement_render_is_block_size_independent_and_in_key() -> None:
    a, ev, eng = _render("groove", 12.0, 4096)
    b, _, _ = _render("groove", 12.0, 333)
    assert np.array_equal(a, b)
    p = load_preset("groove")
    scale = {(p.key + s) % 12 for s in p.scale}
    ons = ev[ev[:, 0] == O_NOTE_ON]
    first = [int(n) for t, n in ons[:, 1:3] if t < 1]
    assert first and all(n % 12 in scale for n in first)
    arr = arrangement_of(eng)
    assert arr is not None and arr.bars[0].chords[0][1].label in ("i", "I")
    lay = arr.spec.roles["bass"].layer
    bass = [int(n) for n, ly in zip(ons[:, 2], ons[:, 4], strict=False) if int(ly) == lay]
    assert bass and min(bass) >= 28 and max(bass) <= 55          # E1..G3


@pytest.mark.parametrize("name", ["chorale", "grammar", "lsystem"])
def test_first_downbeat_is_in_the_presets_key(name: str) -> None:
    _, ev, _ = _render(name, 0.5, 4096)
    p = load_preset(name)
    scale = {(p.key + s) % 12 for s in p.scale}
    ons = ev[ev[:, 0] == O_NOTE_ON]
    first = [int(n) for t, n in ons[:, 1:3] if t == 0]
    assert first and all(n % 12 in scale for n in first), (name, first)


def _game_render(intensity: float) -> tuple[np.ndarray, np.ndarray]:
    """The game preset driven by its intensity parameter through the MusicController."""
    from rtgen.control.params import read_preset_file
    from rtgen.game import MusicController
    from rtgen.gen.presets import _preset_dir

    f = read_preset_file(str(_preset_dir().joinpath("game.toml")))
    eng = Engine(EngineSpec(bpm=f.preset.tempo, seed=1))
    apply_to_engine(f.preset, eng)
    music = MusicController(eng, params=f.music.get("params"))
    music.set_param("intensity", intensity)
    audio = render_array(eng, 24.0)
    return audio, eng.events()


def test_game_intensity_audibly_moves_the_band() -> None:
    calm, ev_calm = _game_render(0.05)
    hot, ev_hot = _game_render(0.95)
    on_c = ev_calm[ev_calm[:, 0] == O_NOTE_ON]
    on_h = ev_hot[ev_hot[:, 0] == O_NOTE_ON]
    assert len(on_h) > 1.8 * len(on_c), (len(on_c), len(on_h))       # busier parts, more roles
    lay_c = set(on_c[:, 4].astype(int))
    lay_h = set(on_h[:, 4].astype(int))
    assert lay_h > lay_c                                               # roles enter (lead, counter)
    vel_c = on_c[:, 3].mean()
    vel_h = on_h[:, 3].mean()
    assert vel_h > vel_c * 1.15


@pytest.mark.xfail(strict=False, reason="after the band (drum kit) merged, groove's seed-1 lead puts 25 of 33 "
                   "strong-beat notes on chord tones (0.76 < 0.85); open in issue 13")
def test_lead_puts_chord_tones_on_strong_beats_and_bass_follows_roots() -> None:
    _, ev, eng = _render("groove", 40.0, 4096)
    arr = arrangement_of(eng)
    assert arr is not None
    spb = 48000 * 60 / load_preset("groove").tempo
    ons = ev[ev[:, 0] == O_NOTE_ON]
    lead = [(t / spb, int(n)) for t, n, ly in zip(ons[:, 1], ons[:, 2], ons[:, 4], strict=True)
            if int(ly) == arr.spec.roles["lead"].layer]
    strong = [(b, n) for b, n in lead if abs(b - round(b)) < 0.02 and int(round(b)) % 2 == 0]
    ok = sum(1 for b, n in strong if n % 12 in arr._pcs_at(arr.bars[int(b // 4)], b % 4))
    assert len(strong) > 20 and ok / len(strong) >= 0.85, (ok, len(strong))
    bass = [(t / spb, int(n)) for t, n, ly in zip(ons[:, 1], ons[:, 2], ons[:, 4], strict=True)
            if int(ly) == arr.spec.roles["bass"].layer]
    downbeats = [(b, n) for b, n in bass if abs(b % 4) < 0.02]
    roots = sum(1 for b, n in downbeats
                if n % 12 == (arr.tonic + arr.bars[int(b // 4)].chords[0][1].root) % 12)
    assert downbeats and roots == len(downbeats)
