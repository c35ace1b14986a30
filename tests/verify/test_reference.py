"""planctl.verify.reference: onnxruntime as the parity reference, errors wrapped."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.errors import VerificationError
from planctl.verify.reference import OnnxRuntimeReference



SEQ = 4   # the tiny model's sequence length (conftest.SEQ)


def _inputs(batch=2, dtype=np.int64, seq=SEQ):
    return {"input_ids": np.arange(batch * seq, dtype=dtype).reshape(batch, seq) % 10,
            "attention_mask": np.ones((batch, seq), dtype=np.int64)}


def test_runs_and_names(tiny_onnx, numpy_embed):
    ref = OnnxRuntimeReference(tiny_onnx, intra_op_threads=1)
    assert ref.input_names == ["input_ids", "attention_mask"] and ref.output_names == ["embedding"]
    out = ref(_inputs())
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_allclose(out[0], numpy_embed(_inputs())[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("inputs, match", [
    (_inputs(dtype=np.int32), "data type"),
    (_inputs(seq=SEQ + 1), "dimensions"),
    ({"input_ids": _inputs()["input_ids"]}, "missing"),
    ({**_inputs(), "extra": np.zeros(1)}, "unknown"),
])
def test_bad_feeds_are_verification_errors(tiny_onnx, inputs, match):
    with pytest.raises(VerificationError, match=match) as info:
        OnnxRuntimeReference(tiny_onnx)(inputs)
    assert "ONNXRuntimeError" not in info.value.message and "\n" not in info.value.message


def test_unloadable_models_are_verification_errors(tmp_path):
    with pytest.raises(VerificationError, match="not found"):
        OnnxRuntimeReference(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a protobuf")
    with pytest.raises(VerificationError, match="could not load"):
        OnnxRuntimeReference(garbage)
