"""Export one step of the trained neural timbre to ONNX (dynamic voice axis) with its metadata.

    .venv/bin/python models/export_onnx.py [--ckpt models/runs/timbre.pt] [--out rtgen/models/timbre.onnx]

Graph: inputs ``features [V, 5]``, ``embedding [V, E]``, ``state [V, H]``; outputs
``amplitude [V, 1]``, ``harmonics [V, 64]``, ``noise [V, 8]``, ``state_out [V, H]`` and,
unless ``--no-f0-cents``, ``f0_cents [V, 1]`` (optional for the runtime).
The instrument embedding table travels in ``metadata_props`` (JSON) so the runtime can
interpolate between instruments; so do the kit's nominal key frequencies and the held-out
notes. Prints the PyTorch-vs-onnxruntime parity over 200 steps with the state fed back
(must be <= 1e-4).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from timbre_net import StepModule, TimbreNet, VibratoNet  # noqa: E402

from rtgen.timbre.analysis import (  # noqa: E402
    DRUM_SECONDS,
    FEATURE_NAMES,
    HELDOUT_DURATION,
    HELDOUT_VELOCITIES,
    N_FEATURES,
    SOUNDFONT_NAME,
    TAIL_SECONDS,
    TRAIN_DURATIONS,
    TRAIN_VELOCITIES,
    heldout_notes,
    neural_features,
    note_split,
    split_is_by_sample,
)
from rtgen.timbre.base import (  # noqa: E402
    HOP,
    INSTRUMENTS,
    MODEL_GENERATION,
    NOISE_BAND_EDGES_HZ,
    NOTE_HZ_RATIO,
    ONE_SHOT,
    SAMPLE_RATE,
    note_frequencies,
)

FORMAT_VERSION = "1"


def build_net(ckpt: str) -> TimbreNet:
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)
    hidden = int(sd["gru.weight_hh_l0"].shape[1])
    width = int(sd["inp.0.weight"].shape[0])
    drums = tuple(int(i) for i in torch.nonzero(sd["is_drum"][:, 0]).reshape(-1))
    net = TimbreNet(sd["embedding.weight"].shape[0], N_FEATURES, emb=int(sd["embedding.weight"].shape[1]),
                    hidden=hidden, width=width, key_dim=int(sd["key_table"].shape[1]), drums=drums)
    net.load_state_dict(sd)
    vib = os.path.join(os.path.dirname(ckpt), "vibrato.pt")
    if os.path.exists(vib):                    # the vibrato head (models/train_vibrato.py)
        v = VibratoNet(N_FEATURES + net.emb_dim)
        v.load_state_dict(torch.load(vib, map_location="cpu", weights_only=True))
        net.vibrato = v
    net.eval()
    return net


def parity_inputs(net: TimbreNet, n_voices: int = 8, n_steps: int = 200, seed: int = 0
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-step feature arrays of ``n_voices`` notes (staggered onsets, releases) and their embeddings."""
    rng = np.random.default_rng(seed)
    pitch = rng.integers(40, 90, n_voices).astype(np.float64)
    vel = rng.integers(30, 127, n_voices).astype(np.float64)
    dur = rng.uniform(0.2, 0.8, n_voices)
    table = net.embedding_table().detach().numpy()
    a = rng.integers(0, table.shape[0], n_voices)
    b = rng.integers(0, table.shape[0], n_voices)
    mix = rng.uniform(0, 1, n_voices)[:, None]
    emb = ((1 - mix) * table[a] + mix * table[b]).astype(np.float32)
    feats = []
    for s in range(n_steps):
        t = (s + 1) * HOP / SAMPLE_RATE
        rel = (t >= dur).astype(np.float64)
        feats.append(neural_features(pitch, vel, np.full(n_voices, t), rel, np.maximum(t - dur, 0) * rel))
    return feats, emb


def parity(net: TimbreNet, path: str, n_steps: int = 200, with_cents: bool = True) -> float:
    """Max abs difference PyTorch vs onnxruntime over ``n_steps`` steps with the state fed back."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feats, emb = parity_inputs(net, n_steps=n_steps)
    st_t = torch.zeros(emb.shape[0], net.hidden)
    st_o = np.zeros((emb.shape[0], net.hidden), np.float32)
    worst = 0.0
    with torch.no_grad():
        for f in feats:
            out_t = net.step(torch.from_numpy(f), torch.from_numpy(emb), st_t)
            out_t = out_t if with_cents else out_t[:4]
            out_o = sess.run([o.name for o in sess.get_outputs()], {"features": f, "embedding": emb, "state": st_o})
            names = [o.name for o in sess.get_outputs()]
            out_o = [out_o[names.index(n)] for n in ("amplitude", "harmonics", "noise", "state_out", "f0_cents")
                     if n in names]
            for x, y in zip(out_t, out_o, strict=True):
                worst = max(worst, float(np.max(np.abs(x.numpy() - y))))
            st_t, st_o = out_t[3], out_o[3]
    return worst


def export(net: TimbreNet, out: str, metrics: dict, drum_hz: list[float], with_cents: bool = True) -> None:
    import onnx

    v = 4
    args = (torch.zeros(v, N_FEATURES), torch.zeros(v, net.emb_dim), torch.zeros(v, net.hidden))
    names_in = ["features", "embedding", "state"]
    names_out = ["amplitude", "harmonics", "noise", "state_out"] + (["f0_cents"] if with_cents else [])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # the TorchScript exporter is what we want here
        torch.onnx.export(StepModule(net, with_cents), args, out, input_names=names_in, output_names=names_out,
                          dynamic_axes={n: {0: "voices"} for n in names_in + names_out}, opset_version=17,
                          dynamo=False)
    model = onnx.load(out)
    table = net.embedding_table().detach().numpy().astype(np.float64)
    hz = note_frequencies(drum_hz)                       # [n_instr, 128]: organ at 1/4, the kit's keys
    outputs = {
        "amplitude": "[V,1] sum of harmonic amplitudes, linear (full scale 1)",
        "harmonics": "[V,64] distribution over harmonics 1..64 (softmax); mask above Nyquist, renormalise",
        "noise": "[V,8] RMS amplitude of noise per band (noise_band_edges_hz)",
        "state_out": "[V,H] next GRU state",
    }
    if with_cents:
        outputs["f0_cents"] = ("[V,1] pitch deviation of this hop in cents (vibrato, scoops), to add to the "
                               "voice's pitch; optional (absent = 0); drums: 0")
    heldout = {INSTRUMENTS[i][0]: dict(keys=sorted({k for k, _ in heldout_notes(i)}),
                                       by_sample=split_is_by_sample(i)) for i in range(len(INSTRUMENTS))}
    meta = {
        "rtgen_timbre_format": FORMAT_VERSION,
        "rtgen_model_generation": str(MODEL_GENERATION),
        "n_instruments": str(len(INSTRUMENTS)),
        "sample_rate": str(SAMPLE_RATE),
        "hop": str(HOP),
        "n_harm": str(net.n_harm),
        "n_noise": str(net.n_noise),
        "n_features": str(N_FEATURES),
        "state_size": str(net.hidden),
        "embedding_dim": str(net.emb_dim),
        "noise_band_edges_hz": json.dumps(list(NOISE_BAND_EDGES_HZ)),
        "inputs": json.dumps({
            "features": {"shape": ["V", N_FEATURES], "columns": list(FEATURE_NAMES)},
            "embedding": {"shape": ["V", net.emb_dim], "meaning": "instrument embedding (rows of "
                          "embedding_table, or a mix of rows to morph); its last column is 1 for the drum kit "
                          "(whose features[0] must then be the GM key: (key - 66) / 18), 0 otherwise"},
            "state": {"shape": ["V", net.hidden], "meaning": "GRU state, zeros at note-on, fed back from "
                      "state_out"},
        }),
        "outputs": json.dumps(outputs),
        "instruments": json.dumps([[n, p] for n, p in INSTRUMENTS]),
        "embedding_table": json.dumps([[round(float(x), 7) for x in row] for row in table]),
        "drum_hz": json.dumps([round(float(x), 2) for x in drum_hz]),
        "note_hz_ratio": json.dumps(NOTE_HZ_RATIO),
        "note_hz": json.dumps({INSTRUMENTS[i][0]: {str(k): round(float(hz[i, k]), 3) for k in range(128)
                                                   if hz[i, k] > 0}
                               for i in range(len(INSTRUMENTS)) if np.any(hz[i] > 0)}),
        "one_shot": json.dumps([INSTRUMENTS[i][0] for i in sorted(ONE_SHOT)]),
        "training_data": json.dumps({
            "source": SOUNDFONT_NAME + ", rendered with tinysoundfont at 48 kHz mono, one isolated note at a "
                      "time",
            "train": {"keys": {INSTRUMENTS[i][0]: note_split(i)[0] for i in range(len(INSTRUMENTS))},
                      "velocities": list(TRAIN_VELOCITIES), "durations_s": list(TRAIN_DURATIONS)},
            "heldout": {"notes": heldout, "velocities": list(HELDOUT_VELOCITIES),
                        "duration_s": HELDOUT_DURATION,
                        "rule": "whole key zones of the SoundFont held out: no training note plays a held-out "
                                "sample (by_sample false: one zone spans the keyboard, split by pitch only; "
                                "drums: every key trains, velocities held out)"},
            "release_tail_s": TAIL_SECONDS, "drum_seconds": DRUM_SECONDS,
            "analysis": "per hop of 256 samples: measured pitch deviation, 64 harmonic amplitudes of the "
                        "tracked f0 and residual noise RMS in 8 bands (rtgen.timbre.analysis)",
        }),
        "metrics": json.dumps(metrics),
    }
    del model.metadata_props[:]
    for k, val in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, val
    model.producer_name = "rtgen models/export_onnx.py"
    onnx.checker.check_model(model)
    onnx.save(model, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "runs", "timbre.pt"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "rtgen", "models", "timbre.onnx"))
    ap.add_argument("--no-f0-cents", action="store_true", help="leave out the optional f0_cents output")
    ap.add_argument("--metrics", default=None,
                    help="JSON file of extra metrics to embed (e.g. benchmark figures)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    net = build_net(args.ckpt)
    metrics: dict = {}
    summary = os.path.splitext(args.ckpt)[0] + ".json"
    with open(summary) as f:
        s = json.load(f)
    drum_hz = s["drum_hz"]
    metrics["train_seconds"] = s.get("train_seconds")
    metrics["epochs"] = s.get("epochs")
    metrics["heldout_control_l1"] = s.get("final_heldout") or (s["log"][-1].get("heldout") if s["log"] else None)
    if args.metrics and os.path.exists(args.metrics):
        with open(args.metrics) as f:
            metrics.update(json.load(f))
    cents = not args.no_f0_cents
    export(net, args.out, metrics, drum_hz, cents)     # first pass, to measure parity of the exported graph
    err = parity(net, args.out, with_cents=cents)
    metrics["parity_max_abs_err_200_steps"] = err
    export(net, args.out, metrics, drum_hz, cents)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out} ({size / 1024:.0f} KiB); parity PyTorch vs onnxruntime over 200 steps "
          f"(state fed back): max abs err {err:.2e} ({'OK' if err <= 1e-4 else 'FAIL'})")
    return 0 if err <= 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
