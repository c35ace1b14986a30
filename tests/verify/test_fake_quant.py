"""planctl.verify.fake_quant: onnxruntime running a model with chosen MatMuls quantized, against
the numpy numerics of planctl.lowering.quant_scheme."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.lowering.quant_scheme import QuantScheme, activation_params, quantize_activation, quantize_weight
from planctl.verify.fake_quant import fake_quantized_model, session

RNG = np.random.default_rng(0)
W1 = (RNG.standard_normal((32, 48)) * 0.3).astype(np.float32)
W2 = (RNG.standard_normal((48, 16)) * 0.3).astype(np.float32)
X = RNG.standard_normal((2, 4, 32)).astype(np.float32)


def mlp(opset: int = 18):
    """y = relu(x @ W1) @ W2 (two MatMul nodes with initializer weights: 'up' and 'down')."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"], name="up"),
             helper.make_node("Relu", ["h"], ["r"], name="act"),
             helper.make_node("MatMul", ["r", "W2"], ["y"], name="down")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 16])],
                              [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(W2, "W2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def linear(a, w, scheme, static=None):
    qw = quantize_weight(w, scheme)
    lo, hi = (a.min(-1, keepdims=True), a.max(-1, keepdims=True)) if static is None else static
    scale, zero = activation_params(lo, hi, scheme)
    return ((quantize_activation(a, scale, zero, scheme).astype(np.float32) - zero) * scale) @ qw.dequantize()


@pytest.mark.parametrize("opset", [13, 18])
def test_per_token_numerics_match_the_scheme(opset):
    scheme = QuantScheme(activations="uint8", levels=256)
    run = session(fake_quantized_model(mlp(opset), ["up", "down"], scheme), threads=1)
    expected = linear(np.maximum(linear(X, W1, scheme), 0), W2, scheme)
    np.testing.assert_allclose(run({"x": X})[0], expected, rtol=1e-5, atol=1e-5)


def test_only_the_named_operators_are_quantized():
    scheme = QuantScheme(activations="int8", levels=128)
    run = session(fake_quantized_model(mlp(), ["down"], scheme), threads=1)
    lo = -np.abs(np.maximum(X @ W1, 0)).max(-1, keepdims=True)
    expected = linear(np.maximum(X @ W1, 0), W2, scheme, static=(lo, -lo))
    np.testing.assert_allclose(run({"x": X})[0], expected, rtol=1e-5, atol=1e-5)


def test_static_ranges_and_weight_only():
    static = QuantScheme(activations="uint8", static=True)
    run = session(fake_quantized_model(mlp(), ["up"], static, ranges={"up": (-3.0, 3.0)}), threads=1)
    expected = np.maximum(linear(X, W1, static, static=(np.float32(-3.0), np.float32(3.0))), 0) @ W2
    np.testing.assert_allclose(run({"x": X})[0], expected, rtol=1e-5, atol=1e-5)
    weight_only = QuantScheme(activations="float")
    run = session(fake_quantized_model(mlp(), ["up"], weight_only), threads=1)
    expected = np.maximum(X @ quantize_weight(W1, weight_only).dequantize(), 0) @ W2
    np.testing.assert_allclose(run({"x": X})[0], expected, rtol=1e-5, atol=1e-5)


def test_an_unknown_operator_name_is_refused():
    with pytest.raises(KeyError, match="nope"):
        fake_quantized_model(mlp(), ["up", "nope"], QuantScheme())
