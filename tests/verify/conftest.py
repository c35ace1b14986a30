"""Fixtures: a tiny embedding model (Gather -> masked sum -> MatMul + Add) as ONNX, its numpy twin, and a plan.

Shapes: ``input_ids`` int64 [batch, 4] in [0, 9], ``attention_mask`` int64 [batch, 4] right-padded;
output ``embedding`` float32 [batch, 2].
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from planctl.documents.models.plan import PlanSpec

VOCAB, SEQ, HIDDEN, OUT = 10, 4, 3, 2
RNG = np.random.default_rng(0)
TABLE = RNG.standard_normal((VOCAB, HIDDEN)).astype(np.float32)
WEIGHT = RNG.standard_normal((HIDDEN, OUT)).astype(np.float32)
BIAS = RNG.standard_normal((OUT,)).astype(np.float32)


def numpy_embed(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model in numpy: sum_t(table[ids] * mask) @ W + b."""
    emb = TABLE[inputs["input_ids"]] * inputs["attention_mask"][..., None].astype(np.float32)
    return [(emb.sum(axis=1) @ WEIGHT + BIAS).astype(np.float32)]


def _graph() -> onnx.GraphProto:
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis_last"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis_seq"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "weight"], ["proj"]),
        helper.make_node("Add", ["proj", "bias"], ["embedding"]),
    ]
    inits = [numpy_helper.from_array(TABLE, "table"), numpy_helper.from_array(WEIGHT, "weight"),
             numpy_helper.from_array(BIAS, "bias"),
             numpy_helper.from_array(np.array([2], np.int64), "axis_last"),
             numpy_helper.from_array(np.array([1], np.int64), "axis_seq")]
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", SEQ])
           for n in ("input_ids", "attention_mask")]
    outs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", OUT])]
    return helper.make_graph(nodes, "tiny-embed", ins, outs, inits)


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> str:
    model = helper.make_model(_graph(), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    onnx.save(model, str(path))
    return str(path)


def build_spec(**over) -> PlanSpec:
    """A minimal valid PlanSpec for the tiny model; keyword overrides replace top-level workload or
    envelope.parity keys (``inputs=``, ``production_shapes=``, ``outputs=``, ``examples=``, ``default=``)."""
    workload = {
        "model": {"onnx": "tiny.onnx", "sha256": "0" * 64},
        "inputs": [
            {"name": "input_ids", "dtype": "int64", "shape": ["batch", SEQ],
             "domain": {"kind": "integer-range", "min": 0, "max": VOCAB - 1}},
            {"name": "attention_mask", "dtype": "int64", "shape": ["batch", SEQ],
             "domain": {"kind": "attention-mask", "min_length": 1}},
        ],
        "outputs": ["embedding"],
        "production_shapes": {"batch": {"min": 1, "opt": 2, "max": 2, "values": [2]}},
    }
    parity = {"examples": 6, "default": {"rtol": 1e-4, "atol": 1e-4}}
    for key, value in over.items():
        (parity if key in ("examples", "default", "outputs_tol") else workload)[key] = value
    if "outputs_tol" in parity:
        parity["outputs"] = parity.pop("outputs_tol")
    return PlanSpec.model_validate({
        "workload": workload,
        "bottleneck": {"kind": "compute", "layer": "kernel", "evidence": "test"},
        "optimizations": [{"technique": "operator-fusion"}],
        "envelope": {"parity": parity, "performance": {"statistic": "p50", "min_speedup": 1.5}},
        "fallback": {"switch": "PLANCTL_DISABLE_TINY"},
        "targets": ["x86-64-avx2"],
    })


@pytest.fixture
def spec() -> PlanSpec:
    return build_spec()


# The tests import nothing from here (pytest runs with --import-mode=importlib); they get the helpers
# through these session fixtures.
@pytest.fixture(scope="session")
def make_spec():
    return build_spec


@pytest.fixture(scope="session", name="numpy_embed")
def numpy_embed_fixture():
    return numpy_embed


@pytest.fixture(scope="session")
def dims() -> dict[str, int]:
    return {"vocab": VOCAB, "seq": SEQ, "hidden": HIDDEN, "out": OUT}
