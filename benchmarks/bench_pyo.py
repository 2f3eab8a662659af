"""pyo effects benchmarks: cost per block, live runs with the effects on, and a render race with pyo.

    python -m benchmarks.bench_pyo [--quick] [--live-seconds N] [--no-live]

1. Cost of each effect (and of the whole "hall" rack) per block at 64 and 128 frames:
   median microseconds and fraction of the block's deadline (48 kHz).
2. Live on a JACK dummy server (128 frames) with the master rack on and a busy pure-Python
   thread in the host process, once with the worker in a separate process and once as a
   thread (the control): blocks played dry because the worker was late, a minute, against an
   absolute bound; and rtgen's late cycles a minute next to those of the C reference client
   (jack_metro), which runs on the same server for the whole time (see benchmarks/livecheck.py).
3. The same polyphonic patch — 32 voices of 32-partial additive tones with envelopes, 10 s —
   rendered offline by rtgen and by pyo's offline server: the ratio of render times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import emit, failed, skipped
from rtgen import Engine, EngineSpec
from rtgen.fx import _pyo
from rtgen.rt.layout import (
    IP_ATTACK,
    IP_BRIGHT,
    IP_DECAY,
    IP_DECAY_TIME,
    IP_GAIN,
    IP_NOISE,
    IP_RELEASE,
    IP_SUSTAIN,
    N_NOTES,
    P_MASTER_GAIN,
    TS,
)

SR = 48000
EFFECT_CASES = {
    "reverb": {"type": "reverb", "size": 0.8, "mix": 0.3},
    "delay": {"type": "delay", "time": 0.3, "feedback": 0.4, "mix": 0.3},
    "chorus": {"type": "chorus"},
    "eq": {"type": "eq", "boost": 3.0},
    "filter": {"type": "filter"},
    "compressor": {"type": "compressor"},
}


def effect_costs(seconds: float) -> None:
    from rtgen.fx import FxRack
    from rtgen.fx.config import preset

    rng = np.random.default_rng(0)
    for block in (64, 128):
        cases = {k: {"block": block, "master": [v]} for k, v in EFFECT_CASES.items()}
        hall = preset("hall")
        hall["block"] = block
        cases["rack_hall"] = hall
        x = rng.uniform(-0.3, 0.3, (block, 2)).astype(np.float32)
        out = np.empty_like(x)
        deadline = block / SR * 1e6
        for name, cfg in cases.items():
            with FxRack.from_config(cfg) as rack:
                for _ in range(200):
                    rack.process(x, out)
                n = max(500, int(seconds * SR / block))
                t = np.empty(n)
                for i in range(n):
                    t0 = time.perf_counter_ns()
                    rack.process(x, out)
                    t[i] = time.perf_counter_ns() - t0
            med = float(np.median(t)) / 1000.0
            # budget: a quarter of the block's deadline for the whole rack (the audio thread's
            # own render is ~0.02 of it); every effect alone must fit in it
            emit(f"pyo/cost/{name}_{block}f", med, "us/block", f"< {0.25 * deadline:.0f} us (0.25 of the deadline)",
                 med < 0.25 * deadline, deadline_fraction=med / deadline,
                 p99_us=float(np.percentile(t, 99)) / 1000.0)


# ------------------------------------------------------------------ live
def live_engine(block: int) -> Engine:
    eng = Engine(EngineSpec(block_size=block, voices=64, seed=0), timbre="additive")   # the effects' cost alone
    eng.state.iparam[:, IP_SUSTAIN] = 0.8
    eng.state.iparam[:, IP_DECAY_TIME] = 0.0
    for i in range(16):
        eng.note_on(36 + 2 * i, 90, layer=i % 5, instrument=i % 8)
    return eng


#: blocks a minute the effects worker process may be late (played dry), absolute. At 128 frames with
#: a busy thread: 0 and 8 a minute in earlier runs on a quiet machine, 164 on 2026-12-03 with the
#: machine loaded by other work; a worker thread under the same busy thread: 10,500 (47 % of blocks)
LATE_BLOCKS_PER_MIN_BOUND = 300.0


def live_runs(seconds: float, period: int = 128) -> None:
    from benchmarks.bench_engine import LATE_PER_MIN_BOUND
    from benchmarks.livecheck import METRO, RTGEN, LateCycles
    from rtgen.backends.jackserver import BusyThread, ReferenceClient, jack_dummy
    from rtgen.backends.live import LiveStream
    from rtgen.fx import FxWorker
    from rtgen.fx.config import preset

    cfg = preset("hall")
    base = f"pyo/live_{period}f"
    with jack_dummy(SR, period) as srv, ReferenceClient(srv):    # jack_metro runs the whole time
        for mode in ("process", "thread"):
            name = f"{base}/{mode}_worker/late_blocks_per_min"
            bound = f"<= {LATE_BLOCKS_PER_MIN_BOUND:g} (absolute)" if mode == "process" else \
                f"> {LATE_BLOCKS_PER_MIN_BOUND:g} (the control: a worker thread under a busy thread)"
            try:
                eng = live_engine(period)
                w = FxWorker(eng, cfg, host_block=period, worker=mode).start()
                try:
                    with LiveStream(eng, block_size=period) as stream, LateCycles(srv) as lc:
                        with BusyThread() as busy:
                            time.sleep(seconds)
                        st = stream.stats()
                        ws = w.stop()
                finally:
                    w.stop()
                    w.release_shared_memory()
                per_min = ws["late_blocks"] * 60.0 / max(1e-9, lc.seconds)
                ok = per_min <= LATE_BLOCKS_PER_MIN_BOUND if mode == "process" else per_min > LATE_BLOCKS_PER_MIN_BOUND
                emit(name, per_min, "late blocks/min (played dry)", bound, ok,
                     late_blocks=ws["late_blocks"], callbacks=st.callbacks, seconds=round(lc.seconds, 1),
                     latency_frames=ws["latency_frames"], resyncs=ws["resyncs"],
                     mean_rack_block_us=ws["mean_rack_block_us"], worst_rack_block_us=ws["worst_rack_block_us"],
                     busy_iterations=busy.iterations, effects="chorus>delay>reverb>compressor")
                r = lc.per_minute(RTGEN)
                emit(f"{base}/{mode}_worker/rtgen_late_cycles_per_min", r, "late cycles/min",
                     f"<= {LATE_PER_MIN_BOUND:g} (absolute)", r <= LATE_PER_MIN_BOUND,
                     late_cycles=lc.counts.get(RTGEN, 0), peer="jack_metro on the same server in the same window",
                     peer_value=round(lc.per_minute(METRO), 2))
            except Exception as e:
                failed(name, "late blocks/min (played dry)", bound, e)


# ------------------------------------------------------------------ the render race
VOICES = 32
PARTIALS = 32
ATT, DEC, SUS, REL = 0.01, 0.2, 0.6, 0.5
RACE_S = 10.0


def _amps() -> np.ndarray:
    k = np.arange(1, PARTIALS + 1)
    return (1.0 / k) * (0.5 + 0.5 * np.cos(k))**2 + 0.02


def _notes() -> list[int]:
    return [40 + i for i in range(VOICES)]       # 32 distinct notes, E2..B4


def rtgen_patch() -> Engine:
    """32 held notes on one instrument whose tables hold the same 32-partial spectrum for every note."""
    eng = Engine(EngineSpec(sample_rate=SR, voices=VOICES, seed=0), timbre="additive")
    amps = _amps()
    ph = np.arange(TS + 1) / TS
    cyc = np.zeros(TS + 1)
    for k, a in enumerate(amps, 1):
        cyc += a * np.sin(2 * np.pi * k * ph)
    cyc /= np.abs(cyc).max()
    # every note of the patch has its 32nd partial below Nyquist, so one table serves them all
    # (as pyo's 32 sines per voice do): nothing is masked or band-limited away on either side
    assert 32 * 440 * 2 ** ((max(_notes()) - 69) / 12) < SR / 2
    eng.state.itab[0, :N_NOTES] = cyc.astype(np.float32)
    ip = eng.state.iparam[0]
    ip[IP_ATTACK], ip[IP_DECAY], ip[IP_SUSTAIN], ip[IP_RELEASE] = ATT, DEC, SUS, REL
    ip[IP_GAIN] = 1.0
    ip[IP_NOISE] = 0.0
    ip[IP_DECAY_TIME] = 0.0
    ip[IP_BRIGHT] = 0.0             # no brightness lowpass: pyo's patch has no filter either
    eng.state.p[P_MASTER_GAIN] = 0.05   # master gain: 32 voices without hitting the limiter hard
    for n in _notes():
        eng.note_on(n, 100, layer=3, instrument=0)
    return eng


def time_rtgen() -> float:
    eng = rtgen_patch()
    eng.render(frames=4096)                                 # compile/warm outside the timing
    eng = rtgen_patch()
    out = np.zeros((4096, 2), np.float32)
    n = int(RACE_S * SR)
    t0 = time.perf_counter()
    for _ in range(0, n, 4096):
        eng.render(out)
    return time.perf_counter() - t0


PYO_SCRIPT = r'''
import os, sys, time
os.environ.setdefault("PYO_GUI_WX", "0")
import pyo
mode, dur, sr, path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
notes = [int(x) for x in sys.argv[5].split(",")]
amps = [float(x) for x in sys.argv[6].split(",")]
att, dec, sus, rel = (float(x) for x in sys.argv[7].split(","))
s = pyo.Server(sr=sr, nchnls=2, buffersize=256, duplex=0, audio="offline", verbosity=0)
s.deactivateMidi()
s.boot()
s.recordOptions(dur=dur, filename=path, fileformat=0, sampletype=0)
objs = []
if mode == "sines":
    # 32 x 32 Sine objects, each voice's partials summed into one Adsr-scaled signal
    for n in notes:
        f = 440.0 * 2 ** ((n - 69) / 12)
        env = pyo.Adsr(attack=att, decay=dec, sustain=sus, release=rel, dur=0, mul=0.05 / len(notes))
        env.play()
        sines = pyo.Sine(freq=[f * (k + 1) for k in range(len(amps))], mul=amps)
        v = pyo.Mix(sines, voices=1, mul=env)
        objs += [env, sines, v]
else:
    # one HarmTable (the 32-partial spectrum) read by 32 interpolating oscillators
    tab = pyo.HarmTable(amps, size=8192)
    env = pyo.Adsr(attack=att, decay=dec, sustain=sus, release=rel, dur=0, mul=0.05 / len(notes))
    env.play()
    osc = pyo.Osc(tab, freq=[440.0 * 2 ** ((n - 69) / 12) for n in notes], mul=env)
    v = pyo.Mix(osc, voices=1)
    objs += [tab, env, osc, v]
final = pyo.Mix(objs[-1] if mode != "sines" else [o for o in objs[2::3]], voices=2).out()   # keep a reference
t0 = time.perf_counter()
s.start()
print(time.perf_counter() - t0, flush=True)
s.shutdown()
'''


def time_pyo(mode: str, path: str) -> float:
    a = _amps()
    args = [sys.executable, "-c", PYO_SCRIPT, mode, str(RACE_S), str(SR), path,
            ",".join(map(str, _notes())), ",".join(f"{x:.6f}" for x in a), f"{ATT},{DEC},{SUS},{REL}"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=dict(os.environ, PYO_GUI_WX="0"))
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    return float(r.stdout.strip().splitlines()[-1])


def render_race() -> None:
    with tempfile.TemporaryDirectory() as d:
        t_rt = min(time_rtgen() for _ in range(2))
        for mode, desc in (("table", "HarmTable + 32 Osc (pyo's fastest faithful way)"),
                           ("sines", "32 x 32 Sine objects")):
            t_pyo = min(time_pyo(mode, os.path.join(d, f"{mode}.wav")) for _ in range(2))
            ratio = t_pyo / t_rt
            emit(f"pyo/race/{VOICES}v_{PARTIALS}partials_{RACE_S:g}s/{mode}", ratio, "pyo_time/rtgen_time",
                 ">= 1 (rtgen at least as fast)", ratio >= 1.0, rtgen_s=t_rt, pyo_s=t_pyo, pyo_patch=desc,
                 realtime_factor_rtgen=RACE_S / t_rt, realtime_factor_pyo=RACE_S / t_pyo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs (10 s live)")
    ap.add_argument("--live-seconds", type=float, default=None, help="length of each live run (default 30)")
    ap.add_argument("--no-live", action="store_true", help="skip the JACK runs")
    args = ap.parse_args(argv)
    if _pyo.load_pyo() is None:
        skipped("pyo/all", "n/a", "pyo importable", f"pyo is not importable ({_pyo.why()})")
        return 0
    effect_costs(0.3 if args.quick else 1.0)
    render_race()
    if args.no_live:
        return 0
    if shutil.which("jackd") is None:
        skipped("pyo/live", "n/a", "jackd installed", "jackd is not installed")
        return 0
    secs = args.live_seconds or (10.0 if args.quick else 30.0)
    live_runs(secs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
