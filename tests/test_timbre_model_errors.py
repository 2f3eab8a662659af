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
