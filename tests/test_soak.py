"""Soak: everything at once, live on a real JACK server, with nothing lost.

All generators (the ensemble preset), the neural timbre, the Continuator answering a real
MIDI client that plays random phrases into rtgen's port, parameters changing 50 times a
second and a busy Python thread, at 128 frames. Bounded here (RTGEN_SOAK_SECONDS, default
60 s); ``make soak`` runs 10 minutes. It prints one JSON line of figures.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = [pytest.mark.jack, pytest.mark.soak, pytest.mark.slow]

SECONDS = float(os.environ.get("RTGEN_SOAK_SECONDS", "60"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class Player(threading.Thread):
    """A MIDI client on JACK playing random phrases (notes of C major, then a silence)."""

    def __init__(self, port: str, seed: int) -> None:
        super().__init__(daemon=True)
        import rtmidi

        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "soak-player")
        names = self.out.get_ports()
        idx = [i for i, n in enumerate(names) if n.endswith(port) or port in n]
        assert idx, f"rtgen's MIDI input {port!r} not among {names}"
        self.out.open_port(idx[0], "out")
        self.rng = random.Random(seed)
        self.stop_ev = threading.Event()
        self.sent = 0

    def run(self) -> None:
        scale = [60, 62, 64, 65, 67, 69, 71, 72]
        held: list[int] = []
        while not self.stop_ev.is_set():
            for _ in range(self.rng.randint(4, 10)):             # a phrase
                n = self.rng.choice(scale) + 12 * self.rng.choice((-1, 0, 0, 1))
                self.out.send_message([0x90, n, self.rng.randint(40, 110)])
                held.append(n)
                self.sent += 1
                if self.stop_ev.wait(self.rng.uniform(0.08, 0.3)):
                    break
                self.out.send_message([0x80, held.pop(0), 0])
            while held:
                self.out.send_message([0x80, held.pop(), 0])
            self.stop_ev.wait(self.rng.uniform(0.8, 2.0))          # the Continuator answers here
        self.out.close_port()


# ---- a player in time: the Continuator answers on the next phrase's bar line ------------------
class TimedPlayer(Player):
    """Alternates phrases of a real folk song played on a steady beat (0.3 s a quarter) with the
    random phrases of :class:`Player`; ``timed`` counts the phrases played in time."""

    def __init__(self, port: str, seed: int) -> None:
        super().__init__(port, seed)
        from tests.midi_harness import corpus_melody
        self.tune = corpus_melody("essen_altdeu", sec_per_quarter=0.3)
        self.timed = 0

    def _note(self, p: int, on_s: float, off_s: float) -> bool:
        self.out.send_message([0x90, p, self.rng.randint(60, 110)])
        self.sent += 1
        stopped = self.stop_ev.wait(max(0.0, on_s))
        self.out.send_message([0x80, p, 0])
        return stopped or self.stop_ev.wait(max(0.0, off_s))

    def run(self) -> None:
        scale = [60, 62, 64, 65, 67, 69, 71, 72]
        k = 0
        while not self.stop_ev.is_set():
            t = time.monotonic()
            for p, d in self.tune[(8 * k) % 48: (8 * k) % 48 + 8]:            # in time
                if self._note(p, t + 0.85 * d - time.monotonic(), 0.0):
                    break
                t += d
                self.stop_ev.wait(max(0.0, t - time.monotonic()))
            else:
                self.timed += 1
            k += 1
            if self.stop_ev.wait(3.5):                                     # the answer, on the bar line
                break
            for _ in range(self.rng.randint(4, 10)):                       # free time
                n = self.rng.choice(scale) + 12 * self.rng.choice((-1, 0, 0, 1))
                if self._note(n, self.rng.uniform(0.08, 0.3), 0.0):
                    break
            self.stop_ev.wait(self.rng.uniform(0.8, 2.0))
        self.out.close_port()


class Knobs(threading.Thread):
    """Parameters changing 50 times a second: generator params, layer gains, harmony, tempo."""

    def __init__(self, engine, seed: int) -> None:
        super().__init__(daemon=True)
        self.eng = engine
        self.rng = random.Random(seed)
        self.stop_ev = threading.Event()
        self.changes = 0

    def run(self) -> None:
        gens = self.eng.generators()
        while not self.stop_ev.wait(0.02):
            r = self.rng.random()
            if r < 0.6 and gens:
                slot = self.rng.choice(list(gens))
                prm = self.rng.choice(gens[slot].params())
                v = prm.lo + (prm.hi - prm.lo) * self.rng.random()
                self.eng.set_generator_param(slot, prm.name, round(v) if prm.array == "i" else v)
            elif r < 0.85:
                self.eng.set_layer(self.rng.choice(("rules", "grammar", "automata")), gain=self.rng.uniform(0.3, 1.0))
            elif r < 0.95:
                self.eng.set_harmony(self.rng.randrange(12), (0, 2, 4, 5, 7, 9, 11))
            else:
                self.eng.set_tempo(self.rng.uniform(80, 140))
            self.changes += 1


def test_soak_everything_at_once(jack_server) -> None:
    from benchmarks.livecheck import METRO, RTGEN, LateCycles
    from rtgen import Engine, EngineSpec
    from rtgen.backends.jackserver import BusyThread, ReferenceClient
    from rtgen.cli import apply_preset, load_preset_arg
    from rtgen.control.jam import start_jam

    # the C reference client runs on the same server for the whole soak (not in a window of its
    # own): JACK's log names each client that missed a cycle, so both are judged in the same time
    metro = ReferenceClient(jack_server).start(count_xruns=False)
    late = LateCycles(jack_server)

    eng = Engine(EngineSpec(block_size=128, seed=7), timbre="neural")
    assert eng.neural
    apply_preset(eng, load_preset_arg("ensemble"))
    jam = start_jam(engine=eng, audio=True)
    assert jam.audio is not None and hasattr(jam.audio, "stats"), "the jam did not get the JACK stream"
    player = TimedPlayer(jam.midi_in.port_name, seed=1)            # in time and free time
    knobs = Knobs(eng, seed=2)
    rss = []
    late.start()
    with BusyThread():
        player.start()
        knobs.start()
        t_end = time.monotonic() + SECONDS
        while time.monotonic() < t_end:
            time.sleep(1.0)
            rss.append(_rss_mb())
        player.stop_ev.set()
        knobs.stop_ev.set()
        player.join(5)
        knobs.join(5)
    live = jam.audio.stats()
    late.stop()
    summary = jam.stop()
    metro.stop()
    stats = eng.stats()

    # no stuck note: with the generators removed, everything that sounded must end
    for slot in list(eng.generators()):
        eng.remove_generator(slot)
    # a preset's arrangement (Python generators) keeps scheduling notes ahead: stop it too
    from rtgen.gen.band import runner_of
    runner = runner_of(eng)
    if runner is not None:
        runner.stop_live()
        runner.generators.clear()
    eng.render(frames=48000 * 12)
    stuck = eng.active_voices()

    warm = rss[min(10, len(rss) - 1)]
    growth = rss[-1] - warm
    fig = {"name": "soak", "seconds": SECONDS, "callbacks": live.callbacks, "underflows": live.underflows,
           "underflows_per_min": round(live.underflows * 60 / SECONDS, 2),
           "rtgen_late_cycles_per_min": round(late.per_minute(RTGEN), 2),
           "jack_metro_late_cycles_per_min": round(late.per_minute(METRO), 2),
           "worst_block_fraction": round(live.worst_block_us / live.deadline_us, 3),
           "worst_cpu_fraction": round(live.worst_cpu_us / live.deadline_us, 3),
           "over_deadline": live.over_deadline, "over_deadline_cpu": live.over_deadline_cpu,
           "notes": stats["notes"], "answers": summary.answers,
           "late_frames": stats["late_frames"], "param_changes": knobs.changes, "midi_sent": player.sent,
           "commands_dropped": stats["commands_dropped"], "events_dropped": stats["events_dropped"],
           "rss_mb_start": round(warm, 1), "rss_growth_mb": round(growth, 1), "stuck_voices": stuck}
    print(json.dumps(fig), file=sys.stderr)

    assert live.callbacks >= 0.9 * SECONDS * 48000 / 128
    # single callbacks may miss when the VM's host takes the vCPU away (charged to the
    # thread's CPU time too); a callback that waited on anything would miss many
    assert live.over_deadline <= max(3, live.callbacks // 200), "the compiled callback missed its deadlines"
    assert live.mean_block_us < 0.25 * live.deadline_us
    assert player.sent > SECONDS and summary.answers >= 1, "the Continuator never answered"
    # the player in time was answered on bar lines (needs ~10 s per timed + free phrase pair)
    assert player.timed == 0 or jam.continuator.stats.in_time_answers >= 1, jam.continuator.stats.summary()
    assert knobs.changes >= 30 * SECONDS
    assert stats["commands_dropped"] == 0
    assert stuck == 0
    assert growth < 30.0, f"memory grew {growth:.1f} MB"
    assert np.all(np.isfinite(eng.render(frames=256)))

    # ---- what the README's Reliability paragraph quotes, asserted (issue 16) ----------------
    # Measured on 2026-12-03 (60 s, 2 shared vCPUs under load): rtgen 1 late cycle a minute
    # (jack_metro beside it 0), 2 underflows (xruns of the whole graph), 70,600 late voice-hops,
    # (a second run: 7.9 late cycles a minute, 27 underflows, 107,650 late voice-hops, +1.2 MB),
    # 0 events or commands dropped, 0 stuck voices, +1.1 MB after warm-up.
    assert late.per_minute(RTGEN) <= SOAK_LATE_PER_MIN, fig
    assert stats["events_dropped"] == 0, fig
    assert stats["late_frames"] <= SOAK_LATE_FRAMES_PER_MIN * SECONDS / 60, fig
    assert growth < SOAK_RSS_GROWTH_MB, fig


#: bounds for the soak's figures, about 2-3x what was measured (issue 16)
SOAK_LATE_PER_MIN = 180.0          # rtgen's late cycles a minute (JACK's log; 85 seen in a quiet bench run)
SOAK_LATE_FRAMES_PER_MIN = 250_000.0   # neural voice-hops played on the additive fallback (70,600 and 107,650)
SOAK_RSS_GROWTH_MB = 4.0           # after warm-up (1.1)
