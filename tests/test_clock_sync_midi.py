"""Tempo sync: the robust tempo estimate, the follower's transport handling, MIDI clock in/out over JACK
MIDI, and the Ableton Link adapter (skipped with the reason when LinkPython-extern is absent)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from rtgen.control.clock_sync import (
    CLOCK,
    CONTINUE,
    PPQN,
    SONG_POSITION,
    START,
    STOP,
    ClockFollower,
    estimate_tempo,
    link_available,
)
from rtgen.rt.commands import ResetClock, SetParam, Tempo
from rtgen.rt.layout import C_PARAM, C_RESET_CLOCK, C_TEMPO, NP, NS, P_BPM, P_MASTER_GAIN, P_SR

SR = 48000


@dataclass
class _Spec:
    sample_rate: int = SR
    block_size: int = 128


@dataclass
class _State:
    p: np.ndarray = field(default_factory=lambda: np.zeros(NP))
    st: np.ndarray = field(default_factory=lambda: np.zeros(NS, np.int64))   # S_SAMPLE 0: beat 0 at sample 0


class ClockEngine:
    """The engine surface the sync classes use: a sample clock running with the wall clock, a fixed tempo."""

    def __init__(self, bpm: float = 120.0) -> None:
        self.spec = _Spec()
        self.state = _State()
        self.state.p[P_BPM] = bpm
        self.state.p[P_SR] = SR
        self.state.p[P_MASTER_GAIN] = 0.8
        self.t0 = time.monotonic()
        self.commands: list[tuple[Any, ...]] = []

    def now_sample(self) -> float:
        return (time.monotonic() - self.t0) * SR

    def beat_at(self, s: float) -> float:
        return s / (SR * 60.0 / self.state.p[P_BPM])

    def sample_at_beat(self, b: float) -> float:
        return b * SR * 60.0 / self.state.p[P_BPM]

    def command(self, kind: int, a: float = 0.0, b: float = 0.0, c: float = 0.0, d: float = 0.0, e: float = 0.0,
                f: float = 0.0, time: float = -1.0, ring: int = 0) -> bool:
        self.commands.append((kind, a, b, time))
        if kind == C_TEMPO:
            self.state.p[P_BPM] = a
        return True

    @property
    def sample_rate(self) -> int:
        return SR

    def send(self, cmd: Any, time: float = -1.0, ring: int = 0) -> bool:
        return self.command(*cmd.row(), time=time, ring=ring)

    def set_tempo(self, bpm: float, time: float = -1.0, ring: int = 0) -> bool:
        return self.send(Tempo(bpm), time=time, ring=ring)

    def set_master_gain(self, gain: float, time: float = -1.0, ring: int = 0) -> bool:
        return self.send(SetParam(P_MASTER_GAIN, gain), time=time, ring=ring)

    def reset_clock(self, beat: float = 0.0, time: float = -1.0, ring: int = 0) -> bool:
        return self.send(ResetClock(beat), time=time, ring=ring)

    def all_notes_off(self, layer: int = -1, time: float = -1.0, ring: int = 0) -> bool:
        return True


def _ticks(bpm: float, n: int, jitter_ms: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.arange(n) * 60.0 / (bpm * PPQN) + rng.normal(0, jitter_ms / 1e3, n)


@pytest.mark.parametrize("bpm", [60.0, 97.5, 140.0, 200.0])
def test_estimate_is_accurate_under_jitter(bpm: float) -> None:
    t = _ticks(bpm, 96, jitter_ms=1.0, seed=int(bpm))
    assert estimate_tempo(t) == pytest.approx(bpm, abs=0.3)


def test_estimate_survives_lost_ticks_and_outliers() -> None:
    t = _ticks(120.0, 120, jitter_ms=0.3)
    t = np.delete(t, [10, 11, 50, 90])                       # lost messages
    t[30] += 0.012                                           # a late one (a stalled thread)
    t[70] -= 0.006
    assert estimate_tempo(t) == pytest.approx(120.0, abs=0.2)
    assert estimate_tempo(t[:10]) is None                    # not enough ticks yet
    assert estimate_tempo(np.zeros(48)) is None


def test_follower_sets_tempo_resets_phase_on_start_and_mutes_on_stop() -> None:
    eng = ClockEngine(bpm=120.0)
    now = [100.0]
    f = ClockFollower(eng, clock=lambda: now[0])
    f.message([START], 100.0)
    period = 60.0 / (90.0 * PPQN)
    for i in range(4 * PPQN):
        now[0] = 100.0 + i * period
        f.message([CLOCK], now[0])
    assert eng.state.p[P_BPM] == pytest.approx(90.0, abs=0.05)
    resets = [c for c in eng.commands if c[0] == C_RESET_CLOCK]
    assert len(resets) == 1 and resets[0][1] == 0.0
    f.message([STOP], now[0])
    assert ("mute", [c for c in eng.commands if c[0] == C_PARAM][-1][2]) == ("mute", 0.0)
    f.message([SONG_POSITION, 8, 0], now[0])                  # 8 sixteenths = beat 2
    f.message([CONTINUE], now[0])
    now[0] += period
    f.message([CLOCK], now[0])
    resets = [c for c in eng.commands if c[0] == C_RESET_CLOCK]
    assert resets[-1][1] == 2.0
    assert [c for c in eng.commands if c[0] == C_PARAM][-1][2] == pytest.approx(0.8)      # unmuted
    assert f.stats["start"] == 1 and f.stats["stop"] == 1 and f.stats["continue"] == 1


# ------------------------------------------------------------------ over JACK MIDI
@pytest.mark.jack
def test_clock_out_then_in_over_jack_midi(jack_server) -> None:
    import rtmidi

    from rtgen.control.clock_sync import MidiClockIn, MidiClockOut

    # lead: the engine at 132 bpm sends clock; a plain client receives it
    eng = ClockEngine(bpm=132.0)
    out = MidiClockOut(eng, None, api="jack").start()
    mi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "probe")
    mi.ignore_types(timing=False)
    names = mi.get_ports()
    mi.open_port([i for i, n in enumerate(names) if n == out.port_name][0])
    got: list[tuple[int, float]] = []
    t_end = time.monotonic() + 1.6
    while time.monotonic() < t_end:
        m = mi.get_message()
        if m is None:
            time.sleep(0.0005)
            continue
        got.append((m[0][0], time.monotonic()))
    out.stop()
    mi.close_port()
    mi.delete()
    ticks = [t for s, t in got if s == CLOCK]
    assert got[0][0] == START
    assert len(ticks) > 60
    assert estimate_tempo(ticks) == pytest.approx(132.0, abs=0.5)
    # the first tick falls on a beat of the engine's clock
    # follow: a client sends clock at 100 bpm with jitter; the engine's tempo follows
    eng2 = ClockEngine(bpm=120.0)
    f = ClockFollower(eng2)
    cin = MidiClockIn(f, None, api="jack").start()
    mo = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "drummer")
    names = mo.get_ports()
    mo.open_port([i for i, n in enumerate(names) if n == cin.port_name][0])
    rng = np.random.default_rng(3)
    mo.send_message([START])
    period = 60.0 / (100.0 * PPQN)
    t0 = time.monotonic()
    for i in range(3 * PPQN):
        target = t0 + i * period + rng.normal(0, 0.0005)
        while time.monotonic() < target:
            time.sleep(0.0002)
        mo.send_message([CLOCK])
    time.sleep(0.05)
    mo.close_port()
    mo.delete()
    cin.stop()
    assert f.stats["clock"] == 3 * PPQN and f.stats["start"] == 1
    assert eng2.state.p[P_BPM] == pytest.approx(100.0, abs=0.5)


# ------------------------------------------------------------------ Ableton Link
def test_link_adapter_follows_and_leads() -> None:
    ok, why = link_available()
    if not ok:
        pytest.skip(why)
    from rtgen.control.clock_sync import LinkSync

    eng = ClockEngine(bpm=110.0)
    ls = LinkSync(eng, lead=False)
    ls.link.enabled = True
    try:
        assert ls.session_tempo() == pytest.approx(110.0)
        s = ls.link.captureAppSessionState()                    # another participant changes the tempo
        s.setTempo(123.0, ls.link.clock().micros())
        ls.link.commitAppSessionState(s)
        ls.poll()
        assert eng.state.p[P_BPM] == pytest.approx(123.0)
        ls.lead = True
        eng.state.p[P_BPM] = 140.0                               # our tempo changes: pushed to the session
        ls.poll()
        assert ls.session_tempo() == pytest.approx(140.0)
        ls.align_phase()
        assert eng.commands[-1][0] == C_RESET_CLOCK and eng.commands[-1][3] >= eng.now_sample() - SR
    finally:
        ls.link.enabled = False
