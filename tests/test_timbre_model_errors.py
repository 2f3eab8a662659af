"""ModelError on missing, corrupt, truncated and incompatible timbre model files."""

from __future__ import annotations

import base64
import os
import warnings

import pytest

from rtgen.errors import ModelError, RtgenError
from rtgen.timbre import AdditiveTimbre, load_timbre
from rtgen.timbre.onnx import DEFAULT_MODEL, OnnxTimbre

# Two tiny ONNX graphs (built once with the onnx package, kept here as bytes so the test needs
# only onnxruntime): the right input/output names with the features input 3 wide instead of 5,
# and a graph without rtgen's metadata_props.
WRONG_SHAPE = (
    "CAg6ngMKMQoIZmVhdHVyZXMSCWFtcGxpdHVkZSIJUmVkdWNlU3VtKg8KCGtlZXBkaW1zGAGgAQIKIQoJYW1wbGl0dWRlCgNy"
    "NjQSCWhhcm1vbmljcyIEVGlsZQocCglhbXBsaXR1ZGUKAnI4EgVub2lzZSIEVGlsZQocCgVzdGF0ZRIJc3RhdGVfb3V0IghJ"
    "ZGVudGl0eRIBdCoNCAIQBzoCAUBCA3I2NCoMCAIQBzoCAQhCAnI4WiAKCGZlYXR1cmVzEhQKEggBEg4KCBIGdm9pY2VzCgII"
    "A1ohCgllbWJlZGRpbmcSFAoSCAESDgoIEgZ2b2ljZXMKAggCWh0KBXN0YXRlEhQKEggBEg4KCBIGdm9pY2VzCgIIBGIhCglh"
    "bXBsaXR1ZGUSFAoSCAESDgoIEgZ2b2ljZXMKAggBYiEKCWhhcm1vbmljcxIUChIIARIOCggSBnZvaWNlcwoCCEBiHQoFbm9p"
    "c2USFAoSCAESDgoIEgZ2b2ljZXMKAggIYiEKCXN0YXRlX291dBIUChIIARIOCggSBnZvaWNlcwoCCARCBAoAEA1yGAoTcnRn"
    "ZW5fdGltYnJlX2Zvcm1hdBIBMXIUCgtzYW1wbGVfcmF0ZRIFNDgwMDByCgoDaG9wEgMyNTZyDAoGbl9oYXJtEgI2NHIMCgdu"
    "X25vaXNlEgE4cg8KCm5fZmVhdHVyZXMSATVyDwoKc3RhdGVfc2l6ZRIBNHISCg1lbWJlZGRpbmdfZGltEgEyciMKC2luc3Ry"
    "dW1lbnRzEhRbWyJhIiwgMF0sIFsiYiIsIDFdXXIjCg9lbWJlZGRpbmdfdGFibGUSEFtbMCwgMF0sIFsxLCAxXV0="
)
NO_META = (
    "CAg6ngMKMQoIZmVhdHVyZXMSCWFtcGxpdHVkZSIJUmVkdWNlU3VtKg8KCGtlZXBkaW1zGAGgAQIKIQoJYW1wbGl0dWRlCgNy"
    "NjQSCWhhcm1vbmljcyIEVGlsZQocCglhbXBsaXR1ZGUKAnI4EgVub2lzZSIEVGlsZQocCgVzdGF0ZRIJc3RhdGVfb3V0IghJ"
    "ZGVudGl0eRIBdCoNCAIQBzoCAUBCA3I2NCoMCAIQBzoCAQhCAnI4WiAKCGZlYXR1cmVzEhQKEggBEg4KCBIGdm9pY2VzCgII"
    "BVohCgllbWJlZGRpbmcSFAoSCAESDgoIEgZ2b2ljZXMKAggCWh0KBXN0YXRlEhQKEggBEg4KCBIGdm9pY2VzCgIIBGIhCglh"
    "bXBsaXR1ZGUSFAoSCAESDgoIEgZ2b2ljZXMKAggBYiEKCWhhcm1vbmljcxIUChIIARIOCggSBnZvaWNlcwoCCEBiHQoFbm9p"
    "c2USFAoSCAESDgoIEgZ2b2ljZXMKAggIYiEKCXN0YXRlX291dBIUChIIARIOCggSBnZvaWNlcwoCCARCBAoAEA0="
)


def _write(tmp_path: os.PathLike, name: str, data: bytes) -> str:
    p = os.path.join(tmp_path, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def test_missing_file_names_the_file(tmp_path: os.PathLike) -> None:
    p = os.path.join(tmp_path, "nope.onnx")
    with pytest.raises(ModelError, match="nope.onnx.*not found"):
        OnnxTimbre(p)


def test_corrupt_file(tmp_path: os.PathLike) -> None:
    p = _write(tmp_path, "garbage.onnx", os.urandom(4096))
    with pytest.raises(ModelError, match="garbage.onnx.*not a loadable ONNX model"):
        OnnxTimbre(p)


def test_truncated_file(tmp_path: os.PathLike) -> None:
    with open(DEFAULT_MODEL, "rb") as f:
        data = f.read()
    p = _write(tmp_path, "truncated.onnx", data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated.onnx"):
        OnnxTimbre(p)


def test_empty_file(tmp_path: os.PathLike) -> None:
    p = _write(tmp_path, "empty.onnx", b"")
    with pytest.raises(ModelError, match="empty.onnx"):
        OnnxTimbre(p)


def test_wrong_shape_model(tmp_path: os.PathLike) -> None:
    p = _write(tmp_path, "wrong_shape.onnx", base64.b64decode("".join(WRONG_SHAPE)))
    with pytest.raises(ModelError, match="wrong_shape.onnx.*n_features|wrong_shape.onnx.*features"):
        OnnxTimbre(p)


def test_model_without_metadata(tmp_path: os.PathLike) -> None:
    p = _write(tmp_path, "no_meta.onnx", base64.b64decode("".join(NO_META)))
    with pytest.raises(ModelError, match="no_meta.onnx.*metadata_props"):
        OnnxTimbre(p)


def test_model_error_is_an_rtgen_error() -> None:
    assert issubclass(ModelError, RtgenError)


def test_load_timbre_falls_back_with_a_warning(tmp_path: os.PathLike) -> None:
    p = _write(tmp_path, "bad.onnx", b"not a model")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tb = load_timbre("neural", path=p)
    assert isinstance(tb, AdditiveTimbre)
    assert any("bad.onnx" in str(x.message) for x in w)


def test_load_timbre_unknown_kind() -> None:
    with pytest.raises(RtgenError):
        load_timbre("theremin")


def test_packaged_model_loads_with_metadata() -> None:
    tb = OnnxTimbre()
    assert tb.sample_rate == 48000 and tb.hop == 256
    assert tb.embedding_table.shape == (len(tb.instruments()), tb.embedding_dim)
    assert tb.instruments() == AdditiveTimbre().instruments()
    assert os.path.getsize(DEFAULT_MODEL) < 5 * 1024 * 1024
    for key in ("training_data", "metrics", "inputs", "outputs", "noise_band_edges_hz"):
        assert key in tb.metadata


# ---------------------------------------------------------------- another version; the optional output
def _edited_model(tmp_path: os.PathLike, name: str, edit) -> str:  # type: ignore[no-untyped-def]
    onnx = pytest.importorskip("onnx")
    m = onnx.load(DEFAULT_MODEL)
    edit(onnx, m)
    p = os.path.join(tmp_path, name)
    onnx.save(m, p)
    return p


def _set_format(version: str):  # type: ignore[no-untyped-def]
    def edit(onnx, m) -> None:  # type: ignore[no-untyped-def]
        for prop in m.metadata_props:
            if prop.key == "rtgen_timbre_format":
                prop.value = version
    return edit


def test_a_model_of_another_version_is_one_line_and_the_stated_fallback(tmp_path: os.PathLike, monkeypatch,
                                                                        capsys) -> None:  # type: ignore[no-untyped-def]
    """Through the command line, as a user meets it: one line naming the file and both versions,
    the render goes on with the additive voice and its summary says so."""
    from rtgen import cli
    from rtgen.timbre import onnx as onnx_mod

    p = _edited_model(tmp_path, "v2.onnx", _set_format("2"))
    with pytest.raises(ModelError, match="v2.onnx: timbre model format '2', this rtgen reads '1'"):
        OnnxTimbre(p)
    monkeypatch.setattr(onnx_mod, "DEFAULT_MODEL", p)
    out = os.path.join(tmp_path, "o.wav")
    assert cli.main(["render", out, "--seconds", "0.5"]) == 0
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if "v2.onnx" in ln]
    assert len(lines) == 1 and "format '2'" in lines[0] and "additive" in lines[0]
    assert "Traceback" not in cap.err and "warnings.warn" not in cap.err
    assert "timbre: additive (the neural model could not load" in cap.out


def test_an_optional_f0_cents_output_moves_the_pitch(tmp_path: os.PathLike) -> None:
    """A model with the optional ``f0_cents`` output (here amplitude * 0 + 100: a constant +100
    cents) loads, and its voices sound a semitone up once their frames arrive."""
    import numpy as np

    from rtgen import Engine, EngineSpec

    def edit(onnx, m) -> None:  # type: ignore[no-untyped-def]
        h = onnx.helper
        g = m.graph
        for out in [o for o in g.output if o.name == "f0_cents"]:   # the shipped model has its own
            g.output.remove(out)
        for node in g.node:
            node.output[:] = ["f0_cents_learnt" if o == "f0_cents" else o for o in node.output]
        g.initializer.extend([onnx.numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero_c"),
                              onnx.numpy_helper.from_array(np.full((1, 1), 100.0, np.float32), "hundred_c")])
        g.node.extend([h.make_node("Mul", ["amplitude", "zero_c"], ["amp0"]),
                       h.make_node("Add", ["amp0", "hundred_c"], ["f0_cents"])])
        g.output.append(h.make_tensor_value_info("f0_cents", onnx.TensorProto.FLOAT, ["voices", 1]))

    tb = OnnxTimbre(_edited_model(tmp_path, "cents.onnx", edit))
    eng = Engine(EngineSpec(seed=1), timbre=tb)
    eng.set_layer("player", pan=0.0)
    eng.note_on(57, 100, instrument="flute")
    x = eng.render(frames=48000)[24000:, 0].astype(np.float64)
    s = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    f = (75 + np.argmax(s[75:150])) * 2.0                    # the fundamental near 220 Hz, 2 Hz bins
    assert abs(1200 * np.log2(f / 220.0) - 100.0) < 12.0
