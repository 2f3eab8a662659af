"""The shipped ONNX timbre model computes what its architecture says, checked without PyTorch.

The weights are read from the packaged model's initializers (with ``onnx``) and a NumPy
forward pass of the architecture (models/timbre_net.py: key embedding gated by the kit
column, 2-layer MLP, GRU cell, output MLP, heads) runs beside onnxruntime on real inputs:
notes of every instrument, the kit, a morph between two instruments, 120 hops with the
recurrent state fed back. NumPy computes in float64, so the difference is onnxruntime's
float32 rounding, accumulated through the recurrence.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx reads the model's weights (pip install onnx; in the dev extra)")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from rtgen.timbre.analysis import neural_features  # noqa: E402
from rtgen.timbre.base import INSTRUMENTS  # noqa: E402
from rtgen.timbre.onnx import DEFAULT_MODEL  # noqa: E402

LA_MIN, LA_MAX, LN_MIN, LN_MAX, CENTS_SCALE = -12.0, 1.0, -14.0, 0.0, 100.0


def _leaky(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, 0.1 * x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def reference_step(w: dict[str, np.ndarray], feats: np.ndarray, emb: np.ndarray, state: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """One hop of the timbre network in float64 NumPy, from the exported weights ``w``."""
    f, e, s = (a.astype(np.float64) for a in (feats, emb, state))
    key = np.clip(np.round(f[:, 0] * 18.0 + 66.0), 0, 127).astype(np.int64)
    kemb = w["net.key_table"][key] * e[:, -1:]
    x = np.concatenate([f, e, kemb], axis=1)
    x = _leaky(x @ w["net.inp.0.weight"].T + w["net.inp.0.bias"])
    x = _leaky(x @ w["net.inp.2.weight"].T + w["net.inp.2.bias"])
    hs = s.shape[1]
    gi = x @ w["net.gru.weight_ih_l0"].T + w["net.gru.bias_ih_l0"]
    gh = s @ w["net.gru.weight_hh_l0"].T + w["net.gru.bias_hh_l0"]
    r = _sigmoid(gi[:, :hs] + gh[:, :hs])
    z = _sigmoid(gi[:, hs:2 * hs] + gh[:, hs:2 * hs])
    n = np.tanh(gi[:, 2 * hs:] + r * gh[:, 2 * hs:])
    h = (1.0 - z) * n + z * s
    y = _leaky(np.concatenate([h, x], axis=1) @ w["net.out.0.weight"].T + w["net.out.0.bias"])
    y = y @ w["net.out.2.weight"].T + w["net.out.2.bias"]
    n_harm = 64
    n_noise = y.shape[1] - 1 - n_harm - 1
    la = np.clip(y[:, :1], LA_MIN, LA_MAX)
    logits = y[:, 1:1 + n_harm]
    logits = logits - logits.max(axis=1, keepdims=True)
    dist = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ln = np.clip(y[:, 1 + n_harm:1 + n_harm + n_noise], LN_MIN, LN_MAX)
    cents = CENTS_SCALE * np.tanh(0.5 * y[:, 1 + n_harm + n_noise:])
    if "net.vibrato.mlp.0.weight" in w:          # vibrato head: depth × sin(2π rate t_on)
        v = _leaky(np.concatenate([f, e], axis=1) @ w["net.vibrato.mlp.0.weight"].T + w["net.vibrato.mlp.0.bias"])
        v = v @ w["net.vibrato.mlp.2.weight"].T + w["net.vibrato.mlp.2.bias"]
        depth = np.logaddexp(0.0, v[:, 0])
        rate = 3.0 + 6.0 * _sigmoid(v[:, 1])
        t_on = 0.02 * (np.exp(f[:, 2] * np.log1p(200.0)) - 1.0)
        cents = cents + (depth * np.sin(2.0 * np.pi * rate * t_on))[:, None]
    return {"amplitude": np.exp(la), "harmonics": dist, "noise": np.exp(ln), "state_out": h, "f0_cents": cents}


def _inputs(table: np.ndarray, n_steps: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Real notes: one voice per instrument (the kit plays a snare, key 38) plus one morph voice;
    staggered note-offs; features at the end of each hop as the runtime computes them."""
    n_i = table.shape[0]
    names = [n for n, _ in INSTRUMENTS]
    pitch = np.array([38.0 if names[i] == "drums" else 48.0 + (7 * i) % 36 for i in range(n_i)] + [64.0])
    vel = np.array([40.0 + (13 * i) % 87 for i in range(n_i)] + [100.0])
    dur = np.array([0.15 + 0.02 * i for i in range(n_i)] + [0.4])
    dur[names.index("drums")] = 10.0                    # one-shot: never released
    emb = np.concatenate([table, 0.6 * table[[names.index("violin")]] + 0.4 * table[[names.index("flute")]]])
    feats = []
    for j in range(n_steps):
        t = (j + 1) * 256 / 48000.0
        rel = (t >= dur).astype(np.float64)
        feats.append(neural_features(pitch, vel, np.full(len(pitch), t), rel, np.maximum(t - dur, 0.0) * rel))
    return feats, emb.astype(np.float32)


def test_shipped_model_matches_numpy_reference() -> None:
    model = onnx.load(DEFAULT_MODEL)
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
    meta = {p.key: p.value for p in model.metadata_props}
    table = np.asarray(json.loads(meta["embedding_table"]), dtype=np.float64)
    assert table.shape[0] == len(INSTRUMENTS) == int(meta["n_instruments"])
    sess = ort.InferenceSession(DEFAULT_MODEL, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    feats, emb = _inputs(table, 120)
    hidden = int(meta["state_size"])
    s_ref = np.zeros((emb.shape[0], hidden))
    s_ort = np.zeros((emb.shape[0], hidden), np.float32)
    worst: dict[str, float] = {}
    moved = 0.0
    for f in feats:
        ref = reference_step(w, f, emb, s_ref)
        got = dict(zip(names, sess.run(names, {"features": f, "embedding": emb, "state": s_ort}), strict=True))
        for k, v in got.items():
            scale = 1.0 + np.abs(ref[k])
            worst[k] = max(worst.get(k, 0.0), float(np.max(np.abs(v - ref[k]) / scale)))
        moved = max(moved, float(np.max(np.abs(ref["state_out"] - s_ref))))
        s_ref, s_ort = ref["state_out"], got["state_out"]
    assert moved > 1e-3, "the recurrent state never changed: the inputs do not exercise the model"
    assert set(names) >= {"amplitude", "harmonics", "noise", "state_out"}
    for k, err in worst.items():
        assert err < 1e-4, f"{k}: onnxruntime differs from the NumPy reference by {err:.2e} (relative)"
