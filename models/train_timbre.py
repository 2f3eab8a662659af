"""Train the neural timbre on models/data/dataset.npz (PyTorch, CPU, one thread).

    .venv/bin/python models/build_dataset.py
    .venv/bin/python models/train_timbre.py            # ~12 min; writes models/runs/timbre.pt + .json
    .venv/bin/python models/export_onnx.py             # writes rtgen/models/timbre.onnx

Loss: on the analysed control targets rather than on resynthesised audio (see the model
card, models/README.md): L1 between log(amplitude + 1e-4), between log(harmonic amplitude +
1e-5) for every harmonic below Nyquist, and (× 0.5) between log(noise band RMS + 1e-5).
Held-out notes are only reported, never used to pick a checkpoint (the last epoch is kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from timbre_net import TimbreNet  # noqa: E402

from rtgen.timbre.analysis import N_FEATURES, neural_features  # noqa: E402
from rtgen.timbre.base import INSTRUMENTS, midi_to_hz  # noqa: E402

EPS_A, EPS_H, EPS_N = 1e-4, 1e-5, 1e-5


def load_notes(path: str) -> tuple[list[dict[str, np.ndarray]], dict]:
    d = np.load(path)
    harm, noise, meta, starts = d["harm"], d["noise"], d["meta"], d["starts"]
    sr, hop = int(d["sample_rate"]), int(d["hop"])
    notes = []
    for n in range(len(meta)):
        i, p, v, dur, split = meta[n]
        h = harm[starts[n]:starts[n + 1]]
        t = (np.arange(len(h)) + 0.5) * hop / sr
        rel = (t >= dur).astype(np.float64)
        t_rel = np.maximum(t - dur, 0.0) * rel
        feats = neural_features(np.full(len(h), p), np.full(len(h), v), t, rel, t_rel)
        valid = (np.arange(1, h.shape[1] + 1) * midi_to_hz(p) < 0.5 * sr).astype(np.float32)
        notes.append(dict(instr=int(i), split=int(split), feats=feats, harm=h,
                          noise=noise[starts[n]:starts[n + 1]], valid=valid))
    return notes, dict(sample_rate=sr, hop=hop)


def batch(notes: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    t_max = max(len(n["harm"]) for n in notes)
    b = len(notes)
    feats = np.zeros((b, t_max, N_FEATURES), np.float32)
    harm = np.zeros((b, t_max, notes[0]["harm"].shape[1]), np.float32)
    noise = np.zeros((b, t_max, notes[0]["noise"].shape[1]), np.float32)
    mask = np.zeros((b, t_max), np.float32)
    valid = np.stack([n["valid"] for n in notes])
    for j, n in enumerate(notes):
        t = len(n["harm"])
        feats[j, :t], harm[j, :t], noise[j, :t], mask[j, :t] = n["feats"], n["harm"], n["noise"], 1.0
    return dict(feats=torch.from_numpy(feats), harm=torch.from_numpy(harm), noise=torch.from_numpy(noise),
                mask=torch.from_numpy(mask), valid=torch.from_numpy(valid),
                instr=torch.tensor([n["instr"] for n in notes]))


def losses(net: TimbreNet, bt: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    la, logits, ln = net.forward_seq(bt["feats"], net.embedding(bt["instr"]))
    valid = bt["valid"][:, None, :]                          # [B, 1, K]
    logits = logits.masked_fill(valid < 0.5, -1e9)
    dist = torch.softmax(logits, dim=-1)
    amp_t = bt["harm"].sum(-1, keepdim=True)
    m = bt["mask"][..., None]
    n_frames = m.sum()
    l_a = ((torch.log(torch.exp(la) + EPS_A) - torch.log(amp_t + EPS_A)).abs() * m).sum() / n_frames
    h_pred = torch.exp(la) * dist
    l_h = ((torch.log(h_pred + EPS_H) - torch.log(bt["harm"] + EPS_H)).abs() * m * valid).sum() \
        / (m * valid).sum()
    l_n = ((torch.log(torch.exp(ln) + EPS_N) - torch.log(bt["noise"] + EPS_N)).abs() * m).sum() \
        / (n_frames * ln.shape[-1])
    return l_a, l_h, l_n


def evaluate(net: TimbreNet, notes: list[dict[str, np.ndarray]]) -> dict[str, float]:
    net.eval()
    with torch.no_grad():
        tot = np.zeros(3)
        for k in range(0, len(notes), 64):
            tot += np.array([x.item() for x in losses(net, batch(notes[k:k + 64]))]) * len(notes[k:k + 64])
    net.train()
    tot /= max(1, len(notes))
    return dict(amp=tot[0], harm=tot[1], noise=tot[2], total=tot[0] + tot[1] + 0.5 * tot[2])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "data", "dataset.npz"))
    ap.add_argument("--out", default=os.path.join(HERE, "runs", "timbre.pt"))
    ap.add_argument("--minutes", type=float, default=12.0, help="training time budget (wall clock)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    notes, info = load_notes(args.data)
    train = [n for n in notes if n["split"] == 0]
    held = [n for n in notes if n["split"] == 1]
    print(f"[{time.time() - t0:5.1f}s] {len(train)} train notes, {len(held)} held out", flush=True)
    net = TimbreNet(len(INSTRUMENTS), N_FEATURES, hidden=args.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    budget = args.minutes * 60.0
    t_train = time.time()
    step, epoch, log = 0, 0, []
    done = False
    while not done:
        order = rng.permutation(len(train))
        run = np.zeros(3)
        nb = 0
        for k in range(0, len(order), args.batch):
            frac = (time.time() - t_train) / budget
            if frac >= 1.0:
                done = True
                break
            # cosine decay over the time budget, short warm-up
            lr = args.lr * min(1.0, (step + 1) / 50) * 0.5 * (1.0 + math.cos(math.pi * frac))
            for g in opt.param_groups:
                g["lr"] = max(lr, args.lr * 0.01)
            bt = batch([train[j] for j in order[k:k + args.batch]])
            l_a, l_h, l_n = losses(net, bt)
            loss = l_a + l_h + 0.5 * l_n
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            run += [l_a.item(), l_h.item(), l_n.item()]
            nb += 1
            step += 1
        if nb == 0:
            break
        epoch += 1
        run /= nb
        ev = evaluate(net, held) if epoch % 3 == 0 or done else None
        rec = dict(epoch=epoch, step=step, seconds=round(time.time() - t_train, 1), train_amp=run[0],
                   train_harm=run[1], train_noise=run[2], heldout=ev)
        log.append(rec)
        msg = f"[{time.time() - t0:6.1f}s] epoch {epoch} step {step} train a={run[0]:.3f} h={run[1]:.3f} " \
              f"n={run[2]:.3f}"
        if ev:
            msg += f" | held-out a={ev['amp']:.3f} h={ev['harm']:.3f} n={ev['noise']:.3f}"
        print(msg, flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.save(net.state_dict(), args.out)
    final = evaluate(net, held)
    summary = dict(train_seconds=round(time.time() - t_train, 1), epochs=epoch, steps=step,
                   hidden=args.hidden, batch=args.batch, lr=args.lr, n_train_notes=len(train),
                   n_heldout_notes=len(held),
                   final_heldout=final, log=log, sample_rate=info["sample_rate"], hop=info["hop"])
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(summary, f, indent=1)
    print(f"saved {args.out}; held-out {final}; {summary['train_seconds']} s training", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
