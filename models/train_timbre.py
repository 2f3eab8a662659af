"""Train the neural timbre on models/data/dataset.npz (PyTorch, CPU, one thread).

    .venv/bin/python models/build_dataset.py
    .venv/bin/python models/train_timbre.py --minutes 70   # writes models/runs/timbre.pt + .json
    .venv/bin/python models/export_onnx.py                 # writes rtgen/models/timbre.onnx

Loss: on the analysed control targets rather than on resynthesised audio (see the model
card, models/README.md): L1 between log(amplitude + 1e-4), between log(harmonic amplitude +
1e-5) for every harmonic below Nyquist, between log(noise band RMS + 1e-5) (the target's
power averaged over 3 hops: a per-hop noise estimate scatters by several dB and an L1 in
the log domain would learn its median, under the mean power the ear hears), and (× 0.3)
between the pitch deviations in units of 10 cents on audible hops.
The checkpoint is written after every epoch, so a run cut short still exports. Held-out
notes are only reported, never used to pick a checkpoint (the last epoch is kept).
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
from rtgen.timbre.base import DRUM_PROGRAM, INSTRUMENTS, NOTE_HZ_RATIO, midi_to_hz  # noqa: E402

EPS_A, EPS_H, EPS_N = 1e-4, 1e-5, 1e-5


def load_notes(path: str) -> tuple[list[dict[str, np.ndarray]], dict]:
    d = np.load(path)
    harm, noise, cents, meta, starts = d["harm"], d["noise"], d["cents"], d["meta"], d["starts"]
    drum_hz = d["drum_hz"]
    sr, hop = int(d["sample_rate"]), int(d["hop"])
    notes = []
    for n in range(len(meta)):
        i, p, v, dur, split, _tail = meta[n]
        h = harm[starts[n]:starts[n + 1]].astype(np.float32)
        t = (np.arange(len(h)) + 0.5) * hop / sr
        drum = INSTRUMENTS[int(i)][1] == DRUM_PROGRAM
        rel = np.zeros(len(h)) if drum else (t >= dur).astype(np.float64)
        t_rel = np.maximum(t - dur, 0.0) * rel
        feats = neural_features(np.full(len(h), p), np.full(len(h), v), t, rel, t_rel)
        f0 = drum_hz[int(p)] if drum else float(midi_to_hz(p)) * NOTE_HZ_RATIO.get(INSTRUMENTS[int(i)][0], 1.0)
        valid = (np.arange(1, h.shape[1] + 1) * f0 < 0.5 * sr).astype(np.float32)
        nz = noise[starts[n]:starts[n + 1]].astype(np.float32) ** 2
        nz = np.sqrt((np.concatenate([nz[:1], nz[:-1]]) + nz + np.concatenate([nz[1:], nz[-1:]])) / 3.0)
        notes.append(dict(instr=int(i), split=int(split), feats=feats, harm=h, noise=nz.astype(np.float32),
                          cents=cents[starts[n]:starts[n + 1]].astype(np.float32), valid=valid))
    return notes, dict(sample_rate=sr, hop=hop, drum_hz=drum_hz)


def batch(notes: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    t_max = max(len(n["harm"]) for n in notes)
    b = len(notes)
    feats = np.zeros((b, t_max, N_FEATURES), np.float32)
    harm = np.zeros((b, t_max, notes[0]["harm"].shape[1]), np.float32)
    noise = np.zeros((b, t_max, notes[0]["noise"].shape[1]), np.float32)
    cents = np.zeros((b, t_max), np.float32)
    mask = np.zeros((b, t_max), np.float32)
    valid = np.stack([n["valid"] for n in notes])
    for j, n in enumerate(notes):
        t = len(n["harm"])
        feats[j, :t], harm[j, :t], noise[j, :t], mask[j, :t] = n["feats"], n["harm"], n["noise"], 1.0
        cents[j, :t] = n["cents"]
    return dict(feats=torch.from_numpy(feats), harm=torch.from_numpy(harm), noise=torch.from_numpy(noise),
                cents=torch.from_numpy(cents), mask=torch.from_numpy(mask), valid=torch.from_numpy(valid),
                instr=torch.tensor([n["instr"] for n in notes]))


def losses(net: TimbreNet, bt: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    emb = net.embedding_table()[bt["instr"]]
    la, logits, ln, cents = net.forward_seq(bt["feats"], emb)
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
    audible = m * (amp_t > 1e-3).float()
    l_c = ((cents - bt["cents"][..., None]).abs() / 10.0 * audible).sum() / audible.sum().clamp(min=1.0)
    return l_a, l_h, l_n, l_c


W_NOISE, W_CENTS = 1.0, 0.3


def evaluate(net: TimbreNet, notes: list[dict[str, np.ndarray]]) -> dict[str, float]:
    net.eval()
    with torch.no_grad():
        tot = np.zeros(4)
        for k in range(0, len(notes), 64):
            tot += np.array([x.item() for x in losses(net, batch(notes[k:k + 64]))]) * len(notes[k:k + 64])
    net.train()
    tot /= max(1, len(notes))
    return dict(amp=tot[0], harm=tot[1], noise=tot[2], cents=tot[3],
                total=tot[0] + tot[1] + W_NOISE * tot[2] + W_CENTS * tot[3])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "data", "dataset.npz"))
    ap.add_argument("--out", default=os.path.join(HERE, "runs", "timbre.pt"))
    ap.add_argument("--minutes", type=float, default=12.0, help="training time budget (wall clock)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--width", type=int, default=128)
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
    drums = tuple(i for i, (_, p) in enumerate(INSTRUMENTS) if p == DRUM_PROGRAM)
    net = TimbreNet(len(INSTRUMENTS), N_FEATURES, hidden=args.hidden, width=args.width, drums=drums)
    print(f"{sum(p.numel() for p in net.parameters())} parameters", flush=True)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    budget = args.minutes * 60.0
    t_train = time.time()
    step, epoch, log = 0, 0, []
    done = False
    while not done:
        order = rng.permutation(len(train))
        run = np.zeros(4)
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
            l_a, l_h, l_n, l_c = losses(net, bt)
            loss = l_a + l_h + W_NOISE * l_n + W_CENTS * l_c
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            run += [l_a.item(), l_h.item(), l_n.item(), l_c.item()]
            nb += 1
            step += 1
        if nb == 0:
            break
        epoch += 1
        run /= nb
        ev = evaluate(net, held) if epoch % 3 == 0 or done else None
        rec = dict(epoch=epoch, step=step, seconds=round(time.time() - t_train, 1), train_amp=run[0],
                   train_harm=run[1], train_noise=run[2], train_cents=run[3], heldout=ev)
        log.append(rec)
        msg = f"[{time.time() - t0:6.1f}s] epoch {epoch} step {step} train a={run[0]:.3f} h={run[1]:.3f} " \
              f"n={run[2]:.3f} c={run[3]:.3f}"
        if ev:
            msg += f" | held-out a={ev['amp']:.3f} h={ev['harm']:.3f} n={ev['noise']:.3f} c={ev['cents']:.3f}"
        print(msg, flush=True)
        save(net, args, log, None, t_train, len(train), len(held), info)
    final = evaluate(net, held)
    save(net, args, log, final, t_train, len(train), len(held), info)
    print(f"saved {args.out}; held-out {final}; {round(time.time() - t_train, 1)} s training", flush=True)
    return 0


def save(net: TimbreNet, args: argparse.Namespace, log: list, final: dict | None, t_train: float,
         n_train: int, n_held: int, info: dict) -> None:
    """Checkpoint (state dict, written atomically) and its JSON summary."""
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.save(net.state_dict(), args.out + ".tmp")
    os.replace(args.out + ".tmp", args.out)
    summary = dict(train_seconds=round(time.time() - t_train, 1), epochs=len(log),
                   steps=log[-1]["step"] if log else 0, hidden=args.hidden, width=args.width, batch=args.batch,
                   lr=args.lr, n_train_notes=n_train, n_heldout_notes=n_held, final_heldout=final, log=log,
                   sample_rate=info["sample_rate"], hop=info["hop"],
                   drum_hz=[round(float(x), 2) for x in info["drum_hz"]])
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
