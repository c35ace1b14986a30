"""planctl.lowering.quantize: the quantization technique's Relax pass, against the numpy numerics
of planctl.lowering.quant_scheme, on a two-layer MLP built with Relax's BlockBuilder."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
sys.path.insert(0, str(Path(__file__).parent))
from lowering_harness import technique  # noqa: E402

from planctl.lowering.quant_scheme import (QuantScheme, activation_params, quantize_activation,  # noqa: E402
                                           quantize_weight)
from planctl.lowering.quantize import evidence, quantization_pass  # noqa: E402

RNG = np.random.default_rng(0)
W1 = (RNG.standard_normal((64, 48)) * 0.2).astype(np.float32)
W2 = (RNG.standard_normal((48, 32)) * 0.2).astype(np.float32)
X = RNG.standard_normal((2, 8, 64)).astype(np.float32)
HASWELL = {"kind": "llvm", "mcpu": "haswell", "num-cores": 2}


def mlp(w2=W2):
    """main(x [2, 8, 64]) = gelu(x @ W1) @ W2, the weights constants (as the ONNX importer leaves them)."""
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([2, 8, 64], "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            h = bb.emit(relax.op.nn.gelu(bb.emit(relax.op.matmul(x, relax.const(W1)))))
            out = bb.emit_output(bb.emit(relax.op.matmul(h, relax.const(w2))))
        bb.emit_func_output(out)
    return bb.get()


def quantization(activations="uint8", **fields):
    return technique("quantization", precision={"weights": "int8", "activations": activations, "kv_cache": "none"},
                     activation_scales="dynamic-per-token", **fields)


def run(mod, tgt):
    from tvm import relax

    vm = relax.VirtualMachine(tvm.compile(mod, tgt), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(X)).numpy()


def reference(scheme: QuantScheme) -> np.ndarray:
    """The same MLP with quant_scheme's numerics in numpy (per-token activation ranges)."""
    def linear(a, w):
        qw = quantize_weight(w, scheme)
        if scheme.weight_only:
            return a @ qw.dequantize()
        lo, hi = a.min(-1, keepdims=True), a.max(-1, keepdims=True)
        if scheme.activations == "int8":
            lo, hi = -np.abs(a).max(-1, keepdims=True), np.abs(a).max(-1, keepdims=True)
        scale, zero = activation_params(lo, hi, scheme)
        return ((quantize_activation(a, scale, zero, scheme).astype(np.float32) - zero) * scale) @ qw.dequantize()

    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
    return linear(gelu(linear(X, W1)).astype(np.float32), W2)


@pytest.mark.parametrize("activations, fields", [
    ("uint8", {"scheme": "symmetric", "granularity": "per-channel"}),
    ("int8", {"scheme": "asymmetric", "granularity": "per-group", "group_size": 16}),
    ("uint8", {"scheme": "asymmetric", "granularity": "per-tensor"}),
    ("float32", {"scheme": "asymmetric", "granularity": "per-group", "group_size": 16}),
])
def test_the_build_computes_the_scheme_numerics(activations, fields):
    tgt = tvm.target.Target(HASWELL)
    t = quantization(activations, **fields)
    out = run(quantization_pass(t, tgt)(mlp()), tgt)
    expected = reference(QuantScheme.of(t, levels=128))
    np.testing.assert_allclose(out, expected, atol=1e-5 * np.abs(expected).max())
    assert np.abs(out - run(mlp(), tgt)).max() > 1e-4   # and it is not the float model


def test_evidence_names_each_operator_and_what_was_done():
    tgt = tvm.target.Target(HASWELL)
    ops = evidence(quantization_pass(quantization(), tgt)(mlp()))
    assert [op["name"] for op in ops] == ["matmul_0", "matmul_1"]
    first = ops[0]
    assert first["quantized"] and first["accumulation"] == "int32"
    assert first["weight_granularity"] == "per output channel"
    assert first["activation_granularity"].startswith("per token, dynamic")
    assert first["activation_format"].startswith("uint8 asymmetric (zero point), 7-bit")    # the AVX2 path's 128 levels
    assert first["kernel"]["path"] == "avx2" and first["kernel"]["instructions"] == ["vpmaddubsw", "vpmaddwd"]
    assert first["weight_bytes"]["int8"] < first["weight_bytes"]["float32"] / 3


def test_keep_float_and_unfit_shapes_stay_float_with_the_reason():
    tgt = tvm.target.Target(HASWELL)
    odd = (RNG.standard_normal((48, 20)) * 0.2).astype(np.float32)   # N = 20: not a multiple of 16
    ops = evidence(quantization_pass(quantization(keep_float=["matmul_0"]), tgt)(mlp(odd)))
    assert [(op["quantized"], op["reason"][:20]) for op in ops] == [
        (False, "keep_float in the pl"), (False, "the int8 kernel need")]


def test_names_come_from_the_onnx_nodes():
    from planctl.lowering.quantize import NAMES_ATTR, weight_digest

    tgt = tvm.target.Target(HASWELL)
    mod = mlp().with_attr(NAMES_ATTR, {weight_digest(W1): "node_MatMul_7", weight_digest(W2): "ffn_down"})
    assert [op["name"] for op in evidence(quantization_pass(quantization(), tgt)(mod))] == ["node_MatMul_7", "ffn_down"]


def test_dequantize_fuses_into_the_int8_matmul():
    """The packed-weight index would make AnnotateTIROpPattern call the matmul a plain reduction
    and leave its epilogue unfused; the pass marks it output-elementwise fusable."""
    from tvm import relax

    tgt = tvm.target.Target(HASWELL)
    mod = quantization_pass(quantization(), tgt)(mlp())
    with tgt:
        for p in [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(), relax.transform.FuseOps(),
                  relax.transform.FuseTIR()]:
            mod = p(mod)
    names = [gv.name_hint for gv in mod.functions]
    assert any("q8_dense" in n and "q8_dequantize" in n for n in names), names


def test_the_activation_of_parallel_matmuls_is_quantized_once():
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([2, 8, 64], "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit(relax.op.matmul(x, relax.const(W1)))
            b = bb.emit(relax.op.matmul(x, relax.const(W1 * 2)))
            out = bb.emit_output(bb.emit(relax.op.add(a, b)))
        bb.emit_func_output(out)
    mod = quantization_pass(quantization(), tvm.target.Target(HASWELL))(bb.get())
    assert sum("q8_quantize" in gv.name_hint for gv in mod.functions) == 1


def test_integer_activations_need_an_int8_path():
    from planctl.errors import LoweringError

    with pytest.raises(LoweringError, match="int8 dot-product instructions"):
        quantization_pass(quantization(), tvm.target.Target({"kind": "llvm"}))
    quantization_pass(quantization("float32"), tvm.target.Target({"kind": "llvm"}))   # weight-only: any CPU
