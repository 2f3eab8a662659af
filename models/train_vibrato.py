"""Train the vibrato head of the neural timbre on the measured pitch tracks (PyTorch, one thread).

A deterministic network trained with an L1 loss on the pitch deviation learns its median: the
held-out notes' vibrato starts at a phase no training note tells, so the learnt deviation is
flat (~0.2 cents where the recordings move by 5-20). What can be learnt is the vibrato's
*statistics*. Per note and hop, from the measured deviation (cents) over a 64-hop window
(0.34 s) around the hop: the depth (√2 × the standard deviation about the window's mean,
i.e. a sine's amplitude) and the rate (the strongest frequency of the window between 3 and
9 Hz). A small MLP (features + instrument embedding → 32 → 2) learns depth (softplus) and
rate (3 + 6·sigmoid); the exported step adds depth × sin(2π · rate · t_on) to the main
network's slow deviation (``f0_cents``), t_on being recovered exactly from the time feature.

    .venv/bin/python models/train_vibrato.py --minutes 6    # after train_timbre.py; writes models/runs/vibrato.pt
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from timbre_net import VibratoNet  # noqa: E402

from rtgen.timbre.analysis import N_FEATURES, neural_features  # noqa: E402
from rtgen.timbre.base import DRUM_PROGRAM, INSTRUMENTS  # noqa: E402

WIN = 64


def vibrato_targets(cents: np.ndarray, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-hop (depth cents, rate Hz) of a note's pitch track (windows of WIN hops, centred)."""
    n = len(cents)
    depth = np.zeros(n, np.float32)
    rate = np.full(n, 5.5, np.float32)
    if n < WIN or not np.any(cents):
        return depth, rate
    nfft = 512
    f = np.fft.rfftfreq(nfft, hop_s)
    band = (f >= 3.0) & (f <= 9.0)
    w = np.hanning(WIN)
    for j in range(0, n - WIN + 1, 4):
        seg = cents[j:j + WIN].astype(np.float64)
        seg = seg - seg.mean()
        c = j + WIN // 2
        depth[c:c + 4] = math.sqrt(2.0) * seg.std()
        spec = np.abs(np.fft.rfft(seg * w, nfft))
        rate[c:c + 4] = f[band][np.argmax(spec[band])]
    first, last = WIN // 2, (n - WIN) // 4 * 4 + WIN // 2
    depth[:first], rate[:first] = depth[first], rate[first]
    depth[last + 4:], rate[last + 4:] = depth[last], rate[last]
    return depth, rate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "data", "dataset.npz"))
    ap.add_argument("--ckpt", default=os.path.join(HERE, "runs", "timbre.pt"), help="the main network (embeddings)")
    ap.add_argument("--out", default=os.path.join(HERE, "runs", "vibrato.pt"))
    ap.add_argument("--minutes", type=float, default=6.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    d = np.load(args.data)
    meta, starts, cents = d["meta"], d["starts"], d["cents"]
    hop_s = int(d["hop"]) / int(d["sample_rate"])
    sd = torch.load(args.ckpt, map_location="cpu", weights_only=True)
    table = torch.cat([sd["embedding.weight"], sd["is_drum"]], dim=-1)
    xs, ys, split = [], [], []
    for k in range(len(meta)):
        i, p, v, dur, sp, _ = meta[k]
        c = cents[starts[k]:starts[k + 1]]
        dep, rate = vibrato_targets(c, hop_s)
        t = (np.arange(len(c)) + 0.5) * hop_s
        drum = INSTRUMENTS[int(i)][1] == DRUM_PROGRAM
        rel = np.zeros(len(c)) if drum else (t >= dur).astype(np.float64)
        f = neural_features(np.full(len(c), p), np.full(len(c), v), t, rel, np.maximum(t - dur, 0.0) * rel)
        e = np.repeat(table[int(i)].numpy()[None], len(c), axis=0)
        xs.append(np.concatenate([f, e], axis=1))
        ys.append(np.stack([dep, rate], axis=1))
        split.append(np.full(len(c), int(sp)))
    x = torch.from_numpy(np.concatenate(xs).astype(np.float32))
    y = torch.from_numpy(np.concatenate(ys).astype(np.float32))
    sp = np.concatenate(split)
    tr, he = np.nonzero(sp == 0)[0], np.nonzero(sp == 1)[0]
    net = VibratoNet(N_FEATURES + table.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    t0 = time.time()
    rng = np.random.default_rng(0)
    step = 0

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        dep, rate = net(x[idx])
        yt = y[idx]
        l_d = (dep - yt[:, 0]).abs().mean() / 5.0
        wgt = (yt[:, 0] > 3.0).float()
        l_r = ((rate - yt[:, 1]).abs() * wgt).sum() / wgt.sum().clamp(min=1.0)
        return l_d + 0.5 * l_r

    while time.time() - t0 < args.minutes * 60.0:
        idx = rng.choice(tr, 4096)
        loss = loss_of(idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 500 == 0:
            with torch.no_grad():
                print(f"[{time.time() - t0:5.0f}s] step {step} train {loss.item():.3f} held-out "
                      f"{loss_of(he[::3]).item():.3f}", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.save(net.state_dict(), args.out)
    with torch.no_grad():
        dep, _ = net(x[he])
    print(f"saved {args.out}: {step} steps; held-out depth mean {dep.mean().item():.2f} cents "
          f"(measured {y[he, 0].mean().item():.2f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
