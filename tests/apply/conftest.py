"""A throw-away repository with a tiny ONNX model, a plan and a target, for apply tests."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PLAN = """\
apiVersion: planctl.dev/v1alpha1
kind: OptimizationPlan
metadata:
  name: tiny-mlp
spec:
  workload:
    model:
      onnx: models/tiny.onnx
      sha256: {sha}
    inputs:
      - name: x
        dtype: float32
        shape: [batch, 128]
        domain: {{kind: float-range, min: -1.0, max: 1.0}}
    outputs: [y]
    production_shapes:
      batch: {{min: 32, opt: 32, max: 32, values: [32]}}
    baseline_telemetry:
      date: 2026-11-20
      source: unit test
      p50_ms: 1.0
  bottleneck:
    kind: compute
    layer: kernel
    evidence: the matmul dominates a per-kernel profile of the untuned build
  optimizations:
    - technique: constant-folding
    - technique: dead-code-elimination
    - technique: operator-fusion
    - technique: autotuning
      budget: {{trials: 4, wall_clock_s: 300, trials_per_task: 2}}
  envelope:
    parity:
      examples: 4
      default: {{rtol: 1.0e-4, atol: 1.0e-5}}
    performance: {{statistic: p50, min_speedup: 0.01}}
  fallback:
    switch: PLANCTL_DISABLE_TINY_MLP
    on_violation: rollback
  targets: [x86-64-avx2]
"""


def tiny_model(path: Path, op: str = "Relu", domain: str = "") -> str:
    """Write y = op(x @ W + b), x float32 [32, 128], W [128, 128]; return the file's sha256.

    Large enough that TVM's untuned build (serial loops) is clearly slower than a tuned one, small
    enough that a 2-trial search takes seconds."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((128, 128)).astype("float32"), "W")
    b = numpy_helper.from_array(rng.standard_normal((128,)).astype("float32"), "b")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="matmul"),
             helper.make_node("Add", ["h", "b"], ["z"], name="bias"),
             helper.make_node(op, ["z"], ["y"], name="act", domain=domain)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 128])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [32, 128])], [w, b])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def make_tiny_model():
    return tiny_model


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    """tmp repo: models/tiny.onnx, plans/tiny.yaml, targets/x86-64-avx2.yaml (copied from the repo)."""
    sha = tiny_model(tmp_path / "models" / "tiny.onnx")
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "tiny.yaml").write_text(PLAN.format(sha=sha))
    (tmp_path / "targets").mkdir()
    shutil.copy(REPO / "targets" / "x86-64-avx2.yaml", tmp_path / "targets")
    return tmp_path
