"""MusicController offline: curves, parameters, states landing on exact samples, stingers, callbacks."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hst

from rtgen import Engine, EngineSpec
from rtgen.errors import ConfigError
from rtgen.game import Curve, MusicController, parse_params, parse_states, parse_target
from rtgen.rt.layout import (
    GF_DENSITY,
    H_ROOT,
    LAYER_AUTOMATA,
    LAYER_RULES,
    LAYER_STINGER,
    LF_GAIN,
    O_BEAT,
    O_NOTE_OFF,
    O_NOTE_ON,
    P_BPM,
)

SR = 48000
PARAMS = {"intensity": {"default": 0.5, "map": [
    {"target": "layer:automata", "curve": "scurve", "lo": 0.0, "hi": 1.0},
    {"target": "gen:ca1d.density", "curve": "linear", "lo": 0.1, "hi": 1.0}]},
    "tension": {"map": [{"target": "tension"}]}}
STATES = {"explore": {"preset": "chorale", "quantum": "immediate"},
          "combat": {"preset": "ca1d", "tempo": 150, "stinger": "hit"}}
STINGERS = {"hit": {"notes": [[0, 72, 120, 1.0], [0.5, 79, 110, 1.0]]}}


def _controller(bpm: float = 120.0) -> tuple[Engine, MusicController]:
    eng = Engine(EngineSpec(seed=1, bpm=bpm, sample_rate=SR))
    return eng, MusicController(eng, params=PARAMS, states=STATES, stingers=STINGERS)


# ------------------------------------------------------------------ curves
def test_curve_shapes_hit_their_end_points_and_known_values() -> None:
    for kind in ("linear", "exp", "scurve", "stepped"):
        c = Curve(kind, lo=10.0, hi=20.0)
        assert c(0.0) == pytest.approx(10.0) and c(1.0) == pytest.approx(20.0)
        assert c(-5) == pytest.approx(10.0) and c(7) == pytest.approx(20.0)       # clamped
    assert Curve("linear")(0.25) == 0.25
    assert Curve("exp", k=4)(0.5) == pytest.approx(math.expm1(2) / math.expm1(4))
    assert Curve("scurve")(0.5) == pytest.approx(0.5)
    assert Curve("stepped", steps=3)(0.2) == 0.0 and Curve("stepped", steps=3)(0.5) == 0.5
    assert Curve("stepped", steps=3)(0.99) == 1.0


@given(hst.sampled_from(["linear", "exp", "scurve", "stepped"]), hst.floats(0, 1), hst.floats(0, 1))
def test_curves_are_monotonic(kind: str, a: float, b: float) -> None:
    c = Curve(kind, lo=-3.0, hi=5.0)
    lo, hi = min(a, b), max(a, b)
    assert c(lo) <= c(hi) + 1e-12


def test_bad_tables_name_the_key() -> None:
    with pytest.raises(ConfigError, match="unknown curve"):
        Curve("cubic")
    with pytest.raises(ConfigError, match=r"params.x.map\[0\]: unknown key 'tagret'"):
        parse_params({"x": {"map": [{"tagret": "tempo"}]}})
    with pytest.raises(ConfigError, match=r"params.x: key 'default' must be a number"):
        parse_params({"x": {"default": "high"}})
    with pytest.raises(ConfigError, match="unknown layer 'drums'"):
        parse_params({"x": {"map": [{"target": "layer:drums"}]}})
    with pytest.raises(ConfigError, match="states.s: key 'tempo' must be 20..400"):
        parse_states({"s": {"tempo": 1000}})
    with pytest.raises(ConfigError, match="states.s: key 'preset'"):
        parse_states({"s": {"preset": "no-such-preset"}})
    with pytest.raises(ConfigError, match="gen:NAME.PARAM"):
        parse_target("gen:ca1d")
    eng = Engine(EngineSpec(seed=1))
    with pytest.raises(ConfigError, match="names no parameter"):
        MusicController(eng, params={"a": {"map": [{"target": "param:b"}]}})


# ------------------------------------------------------------------ parameters
def test_parameter_curves_drive_layer_gain_generator_and_harmony() -> None:
    eng, m = _controller()
    m.set_state("combat", "immediate")
    eng.render(frames=256)
    slot = m._slots[0]
    from rtgen.gen.presets import load_preset
    base = load_preset("ca1d").layers.get("automata", 0.8)
    assert eng.state.lf[LAYER_AUTOMATA, LF_GAIN] == pytest.approx(base * 0.5)       # preset gain x curve
    assert eng.state.gf[slot, GF_DENSITY] == pytest.approx(0.1 + 0.9 * 0.5)
    m.set_param("intensity", 1.0)
    m.set_param("tension", 0.75)
    eng.render(frames=128)
    assert eng.state.lf[LAYER_AUTOMATA, LF_GAIN] == pytest.approx(base)
    assert eng.state.gf[slot, GF_DENSITY] == pytest.approx(1.0)
    from rtgen.rt.layout import H_TENSION
    assert eng.state.harm[H_TENSION] == pytest.approx(0.75)
    assert m.set_param("intensity", 7.0) == 1.0                                     # clamped to its range
    with pytest.raises(ConfigError, match="unknown parameter"):
        m.set_param("nope", 1.0)
    with pytest.raises(ConfigError, match="finite"):
        m.set_param("intensity", float("nan"))
    with pytest.raises(ConfigError, match="tempo must be 20..400"):
        m.set_target("tempo", 5)


def test_ramp_glides_in_poll() -> None:
    eng, m = _controller()
    m.set_state("combat", "immediate")
    m.set_param("intensity", 0.0)
    eng.render(frames=128)
    m.set_param("intensity", 1.0, ramp=0.2)
    seen = []
    t_end = time.monotonic() + 0.35
    while time.monotonic() < t_end:
        m.poll()
        seen.append(m.values["intensity"])
        time.sleep(0.02)
    assert seen[-1] == 1.0 and any(0.1 < v < 0.9 for v in seen)
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False))


# ------------------------------------------------------------------ states and timing
def _render_until(eng: Engine, n: int, block: int = 500) -> None:
    while eng.state.st[0] < n:
        eng.render(frames=min(block, n - int(eng.state.st[0])))


def test_transition_requested_mid_bar_lands_on_the_next_bars_first_sample() -> None:
    eng, m = _controller(bpm=120)
    m.set_state("explore")                      # the state's own quantum: immediate
    ev0 = eng.events()
    del ev0
    _render_until(eng, 60001)
    bpm = eng.state.p[P_BPM]                   # mid-bar at the chorale's tempo
    tr = m.set_state("combat", "bar")
    assert tr.quantum == "bar" and tr.sample > 60001
    landed = []
    m.on_state(landed.append)
    _render_until(eng, tr.sample + 2 * SR)
    ev = eng.events()
    beats = ev[ev[:, 0] == O_BEAT]
    downbeats = beats[beats[:, 4] == 0]
    # the first downbeat after the request is the transition sample
    first = downbeats[downbeats[:, 1] > 60001][0]
    assert int(first[1]) == tr.sample
    spb = SR * 60.0 / bpm
    prev = beats[beats[:, 1] < tr.sample][-1]
    assert abs(tr.sample - prev[1] - spb) <= 1 and first[2] == prev[2] + 1
    on = ev[ev[:, 0] == O_NOTE_ON]
    new = on[(on[:, 4] == LAYER_AUTOMATA) & (on[:, 1] >= 60001)]
    assert int(new[:, 1].min()) == tr.sample                  # the new state's first note: on the sample
    st = on[on[:, 4] == LAYER_STINGER]
    assert int(st[:, 1].min()) == tr.sample                   # the transition stinger too
    old = on[on[:, 4] == LAYER_RULES]
    assert old[:, 1].max() < tr.sample                        # nothing of the old state after it
    offs = ev[(ev[:, 0] == O_NOTE_OFF) & (ev[:, 4] == LAYER_RULES)]
    assert offs[:, 1].max() <= tr.sample                      # its notes are released by then
    # the new tempo from that bar on
    after = beats[beats[:, 1] > tr.sample]
    d = np.diff(after[:3, 1])
    assert np.all(np.abs(d - SR * 60 / 150) <= 1)
    m.poll(ev)
    assert landed and landed[0].target == "combat"


def test_beat_quantum_and_immediate() -> None:
    eng, m = _controller()
    m.set_state("combat", "immediate")
    _render_until(eng, 30000)
    s = m.stinger("hit", "beat")
    spb = SR * 60 / 150
    assert s > 30000 and s - 30000 <= spb + 1
    _render_until(eng, s + SR)
    ev = eng.events()
    beats = ev[ev[:, 0] == O_BEAT]
    assert s in set(beats[:, 1].astype(int))
    on = ev[(ev[:, 0] == O_NOTE_ON) & (ev[:, 4] == LAYER_STINGER)]
    times = sorted(on[:, 1].astype(int))
    assert times[-2:] == [s, s + round(0.5 * spb)] or times[:2] == [s, s + round(0.5 * spb)]


def test_stinger_relative_to_key_and_unknown_names() -> None:
    eng = Engine(EngineSpec(seed=1))
    m = MusicController(eng, stingers={"up": {"notes": [[0, 60, 100, 1]], "relative": True}})
    eng.state.harm[H_ROOT] = 2
    m.stinger("up", "immediate")
    eng.render(frames=256)
    ev = eng.events()
    on = ev[ev[:, 0] == O_NOTE_ON]
    assert on[0, 2] == 62
    with pytest.raises(ConfigError, match="unknown stinger"):
        m.stinger("nope")
    with pytest.raises(ConfigError, match="unknown state"):
        m.set_state("nope")
    with pytest.raises(ConfigError, match="quantum"):
        m.stinger("up", "phrase")


def test_many_transitions_never_run_out_of_slots_and_leave_no_stuck_notes() -> None:
    eng, m = _controller()
    names = ["explore", "combat"]
    landed = []
    m.on_state(landed.append)
    for i in range(12):
        m.set_state(names[i % 2], ["immediate", "beat", "bar"][i % 3])
        for _ in range(6):
            _render_until(eng, int(eng.state.st[0]) + 5000)
            m.poll()
    for _ in range(80):                                      # let the queued transitions land
        _render_until(eng, int(eng.state.st[0]) + 5000)
        m.poll()
    assert m.pending is None and m.queued is None and len(landed) >= 6
    assert all(b.sample > a.sample for a, b in zip(landed, landed[1:], strict=False) if b.sample >= 0)
    m.panic()
    eng.render(frames=2048)
    assert eng.active_voices() == 0
    assert len(eng.generators()) == len(m.states[m.state].generators)


def test_burst_plays_for_its_beats_then_stops() -> None:
    eng = Engine(EngineSpec(seed=2, bpm=120))
    m = MusicController(eng, states={
        "a": {"preset": "chorale", "quantum": "immediate"},
        "b": {"preset": "chorale", "burst": {"beats": 2, "generator": {
            "type": "euclid", "layer": "aux2", "tracks": [{"pulses": 8, "steps": 8, "note": 60}]}}}})
    m.set_state("a")
    _render_until(eng, 20000)
    tr = m.set_state("b", "beat")
    spb = SR * 60 / eng.state.p[P_BPM]
    _render_until(eng, tr.sample + int(6 * spb))
    ev = eng.events()
    on = ev[(ev[:, 0] == O_NOTE_ON) & (ev[:, 4] == 6)]
    later = on[on[:, 1] >= tr.sample]
    assert len(later) and int(later[:, 1].min()) == tr.sample
    assert later[:, 1].max() < tr.sample + 2 * spb


# ------------------------------------------------------------------ callbacks
def test_beat_and_bar_callbacks_from_poll_and_dispatcher() -> None:
    eng, m = _controller()
    beats, bars = [], []
    m.on_beat(beats.append)
    m.on_bar(bars.append)
    m.on_beat(lambda b: 1 / 0)                  # a failing callback is skipped, never fatal
    eng.render(frames=SR * 2 - 1000)
    m.poll()
    assert [b.beat for b in beats] == [0, 1, 2, 3]
    assert [b.bar for b in bars] == [0] and bars[0].sample == 0
    assert m.bad.counts.get("callback") == 4
    # the background dispatcher delivers the same from its own thread
    got = threading.Event()
    m.on_bar(lambda b: got.set() if b.bar == 1 else None)
    m.start_dispatcher()
    try:
        eng.render(frames=SR * 2)
        assert got.wait(2.0)
    finally:
        m.stop_dispatcher()


def test_add_state_from_a_preset_spec_with_overrides() -> None:
    from rtgen.gen.presets import load_preset

    eng = Engine(EngineSpec(seed=1))
    m = MusicController(eng)
    st = m.add_state("calm", load_preset("chorale"), tempo=70, layers={"rules": 0.3})
    assert st.tempo == 70 and st.layers["rules"] == 0.3 and st.generators
    m.set_state("calm", "immediate")
    eng.render(frames=1024)
    assert eng.state.p[P_BPM] == 70 and eng.state.lf[LAYER_RULES, LF_GAIN] == pytest.approx(0.3)


def test_a_sooner_transition_overtakes_a_pending_one() -> None:
    eng, m = _controller(bpm=120)
    m.set_state("explore")
    _render_until(eng, 50001)
    tr1 = m.set_state("combat", "bar")                 # pending until the next bar
    tr2 = m.set_state("explore", "immediate")          # then back to explore, at once
    assert tr2.sample < tr1.sample
    q = m.set_state("combat", "beat")                  # the overtaken transition still books slots: queued
    assert q.queued and m.queued is q
    m.queued = None                                    # (dropped here: this test is about the overtaking)
    from rtgen.rt.layout import GI_ACTIVE
    _render_until(eng, 70000)                          # before tr1: only the new explore generators play
    assert {s for s in range(8) if eng.state.gi[s, GI_ACTIVE]} == set(m._slots)
    _render_until(eng, tr1.sample + 3 * SR)
    ev = eng.events()
    on = ev[ev[:, 0] == O_NOTE_ON]
    assert not np.any((on[:, 4] == LAYER_AUTOMATA) & (on[:, 1] >= tr1.sample))   # combat never plays
    assert np.any((on[:, 4] == LAYER_RULES) & (on[:, 1] >= tr1.sample))          # explore goes on
    assert sorted(eng.generators()) == sorted(m._slots)
    active = {s for s in range(8) if eng.state.gi[s, GI_ACTIVE]}
    assert active == set(m._slots)


@pytest.mark.parametrize("rendered", [64 * 700, 64 * 700 + 1, 64 * 701 - 1, 48000])
def test_boundary_is_exact_whatever_the_render_position(rendered: int) -> None:
    """On a chunk boundary the engine has not begun that chunk yet: the controller's beat clock allows for it."""
    eng, m = _controller(bpm=120)
    m.set_state("combat", "immediate")
    _render_until(eng, rendered)
    for q in ("beat", "bar"):
        t = m.boundary(q)
        _render_until(eng, int(t) + 64 * 3)
        ev = eng.events()
        beats = ev[ev[:, 0] == O_BEAT]
        assert int(t) in set(beats[:, 1].astype(int)), (q, t, beats[:, 1])
