"""Neural timbre benchmark: held-out quality against the fallback, and speed against the hop deadline.

    python -m benchmarks.bench_timbre            # one JSON line per figure, < 3 min

Quality: for every instrument, the held-out notes (pitches and velocities never trained
on) are rendered by the real SoundFont (the reference), by the neural timbre and by the
additive fallback, all through ``render_notes``; the figure is mean multi-scale spectral
distance (``rtgen.timbre.analysis.multiscale_spectral_distance``) of the model divided by
that of the fallback. The fallback's output is scaled to the reference's RMS (its best
loudness); the model's is not. Needs tinysoundfont (skipped with the reason otherwise).

Speed: one worker hop (model for every sounding voice + table synthesis + publishing) for
8 / 32 / 64 voices, as a fraction of the hop deadline (256 / 48000 s); onnxruntime vs
PyTorch eager for the same network when torch is importable.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from rtgen.rt.layout import (
    NP,
    NS,
    NVF,
    P_HOP,
    P_SR,
    S_SAMPLE,
    VF_AGE,
    VF_INSTR,
    VF_NOTE,
    VF_NOTE_ID,
    VF_STATE,
    VF_VEL,
    VS_ON,
)
from rtgen.timbre import AdditiveTimbre
from rtgen.timbre.base import INSTRUMENTS
from rtgen.timbre.onnx import NeuralSlots, OnnxTimbre, TimbreWorker

SR = 48000
HOP = 256
DEADLINE = HOP / SR
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def emit(name: str, value: float | None, unit: str, target: str | None = None, passed: bool | None = None,
         **extra: object) -> None:
    rec: dict[str, object] = {"name": name, "value": None if value is None else round(float(value), 4),
                              "unit": unit}
    if target is not None:
        rec["target"] = target
    if passed is not None:
        rec["pass"] = bool(passed)
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def quality(neural: OnnxTimbre) -> None:
    try:
        from rtgen.timbre.analysis import (
            HELDOUT_DURATION,
            HELDOUT_PITCHES,
            HELDOUT_VELOCITIES,
            TAIL_SECONDS,
            SoundFontRenderer,
            multiscale_spectral_distance,
        )

        ref = SoundFontRenderer(SR)
    except ImportError as e:
        emit("timbre/quality", None, "msd_ratio_model_to_fallback", skipped=f"tinysoundfont/pretty_midi "
             f"missing ({e}); pip install --no-deps tinysoundfont")
        return
    from rtgen.timbre.midifile import render_notes

    additive = AdditiveTimbre()
    gap = 2.0
    seconds = HELDOUT_DURATION + TAIL_SECONDS
    n_len = int(round(seconds * SR))
    all_n, all_a = [], []
    for i, (name, prog) in enumerate(INSTRUMENTS):
        cases = [(p, v) for p in HELDOUT_PITCHES for v in HELDOUT_VELOCITIES]
        rows = [(k * gap, HELDOUT_DURATION, float(p), float(v), float(i)) for k, (p, v) in enumerate(cases)]
        total = len(cases) * gap
        y_n = render_notes(neural, rows, sr=SR, seconds=total)
        y_a = render_notes(additive, rows, sr=SR, seconds=total)
        d_n, d_a = [], []
        for k, (p, v) in enumerate(cases):
            x = ref.note(prog, p, v, HELDOUT_DURATION, TAIL_SECONDS).astype(np.float64)
            s0 = int(round(k * gap * SR))
            yn = y_n[s0:s0 + n_len].astype(np.float64)
            ya = y_a[s0:s0 + n_len].astype(np.float64)
            ya = ya * np.sqrt(np.mean(x ** 2) / max(float(np.mean(ya ** 2)), 1e-20))
            d_n.append(multiscale_spectral_distance(x, yn))
            d_a.append(multiscale_spectral_distance(x, ya))
        ratio = float(np.mean(d_n) / np.mean(d_a))
        all_n += d_n
        all_a += d_a
        emit(f"timbre/quality/{name}", ratio, "msd_ratio_model_to_fallback", "<= 0.70", ratio <= 0.70,
             msd_model=round(float(np.mean(d_n)), 4), msd_fallback=round(float(np.mean(d_a)), 4),
             notes=len(cases), model_wins=int(np.sum(np.array(d_n) < np.array(d_a))))
    ratio = float(np.mean(all_n) / np.mean(all_a))
    emit("timbre/quality/all", ratio, "msd_ratio_model_to_fallback", "<= 0.70", ratio <= 0.70,
         msd_model=round(float(np.mean(all_n)), 4), msd_fallback=round(float(np.mean(all_a)), 4),
         notes=len(all_n))


def _engine(n: int) -> tuple[np.ndarray, NeuralSlots, np.ndarray, np.ndarray]:
    vf = np.zeros((n, NVF))
    rng = np.random.default_rng(1)
    vf[:, VF_STATE] = VS_ON
    vf[:, VF_NOTE] = rng.integers(36, 96, n)
    vf[:, VF_VEL] = rng.integers(40, 127, n)
    vf[:, VF_INSTR] = rng.integers(0, len(INSTRUMENTS), n)
    vf[:, VF_NOTE_ID] = np.arange(n)
    p = np.zeros(NP)
    p[P_SR], p[P_HOP] = SR, HOP
    return vf, NeuralSlots.allocate(n), p, np.zeros(NS, np.int64)


def speed(neural: OnnxTimbre, hops: int = 300) -> None:
    for n in (8, 32, 64):
        vf, slots, p, st = _engine(n)
        w = TimbreWorker(neural, vf, slots, p, st)
        times = []
        for h in range(hops):
            st[S_SAMPLE] = h * HOP
            vf[:, VF_AGE] = h * HOP
            t0 = time.perf_counter()
            w.process_hop(h + 1)
            times.append(time.perf_counter() - t0)
        t = np.array(times[10:])
        med, p99 = float(np.median(t)), float(np.percentile(t, 99))
        target = "< 0.15" if n == 32 else None
        emit(f"timbre/speed/{n}_voices", med / DEADLINE, "fraction_of_hop_deadline_median", target,
             (med / DEADLINE < 0.15) if n == 32 else None, p99_fraction=round(p99 / DEADLINE, 4),
             median_us=round(med * 1e6, 1))


def torch_vs_ort(neural: OnnxTimbre, n: int = 32, steps: int = 300) -> None:
    try:
        import torch
    except ImportError:
        emit("timbre/speed/torch_eager_vs_onnxruntime_32_voices", None, "ratio", skipped="torch is not "
             "installed (training-only extra: pip install torch==2.13.0)")
        return
    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from timbre_net import TimbreNet
    finally:
        sys.path.pop(0)
    torch.set_num_threads(1)
    ckpt = os.path.join(ROOT, "models", "runs", "timbre.pt")
    net = TimbreNet(len(neural.instruments()), neural.n_features, emb=neural.embedding_dim,
                    hidden=neural.state_size)
    weights = "random (same architecture)"
    if os.path.exists(ckpt):
        net.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
        weights = "trained checkpoint"
    net.eval()
    rng = np.random.default_rng(0)
    f = rng.standard_normal((n, neural.n_features)).astype(np.float32)
    e = neural.embeddings(rng.integers(0, 8, n).astype(np.float64))
    s = np.zeros((n, neural.state_size), np.float32)
    runner = neural.runner(n)
    runner.x[:n], runner.e[:n] = f, e

    def t_ort() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            runner.run(n)
            runner.s[:n] = runner.s_out[:n]
        return (time.perf_counter() - t0) / steps

    ft, et, st_ = torch.from_numpy(f), torch.from_numpy(e), torch.from_numpy(s)

    def t_torch() -> float:
        state = st_
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                state = net.step(ft, et, state)[3]
        return (time.perf_counter() - t0) / steps

    t_ort(), t_torch()
    a, b = t_ort(), t_torch()
    unit = "fraction_of_hop_deadline"
    emit("timbre/speed/onnxruntime_step_32_voices", a / DEADLINE, unit, us=round(a * 1e6, 1))
    emit("timbre/speed/torch_eager_step_32_voices", b / DEADLINE, unit, us=round(b * 1e6, 1), weights=weights)
    emit("timbre/speed/torch_eager_vs_onnxruntime_32_voices", b / a, "ratio_torch_time_to_ort_time")


def main() -> int:
    t0 = time.time()
    neural = OnnxTimbre()
    speed(neural)
    torch_vs_ort(neural)
    quality(neural)
    emit("timbre/bench_seconds", time.time() - t0, "s", "< 180", time.time() - t0 < 180)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
