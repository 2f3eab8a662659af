"""PyTorch vs onnxruntime parity of the exported step (only where torch and onnx are installed)."""

from __future__ import annotations

import os
import sys

import pytest

torch = pytest.importorskip("torch", reason="torch is a training-only extra (pip install torch==2.13.0)")
pytest.importorskip("onnx", reason="the onnx package is needed to export (training extra)")

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


def test_export_parity_200_steps(tmp_path: os.PathLike) -> None:
    sys.path.insert(0, MODELS)
    try:
        from export_onnx import export, parity
        from timbre_net import TimbreNet
    finally:
        sys.path.remove(MODELS)
    from rtgen.timbre.base import DRUMS, INSTRUMENTS
    from rtgen.timbre.onnx import OnnxTimbre

    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = TimbreNet(len(INSTRUMENTS), 5, hidden=32, drums=(DRUMS,)).eval()
    for cents in (True, False):
        path = os.path.join(tmp_path, f"t{cents}.onnx")
        export(net, path, {"note": "test"}, [0.0] * 128, with_cents=cents)
        assert parity(net, path, n_steps=200, with_cents=cents) <= 1e-4
    tb = OnnxTimbre(os.path.join(tmp_path, "tFalse.onnx"))     # the runtime accepts what the exporter writes
    assert tb.state_size == 32 and tb.embedding_table.shape == (len(INSTRUMENTS), net.emb_dim)
