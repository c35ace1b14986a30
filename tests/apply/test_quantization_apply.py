"""apply with the quantization technique on a tiny two-layer MLP for the AVX2 target: the int8
build is verified against onnxruntime fp32, its evidence names every operator and the kernel path
(with the instructions counted in the library), a missed quality goal runs the sensitivity search
and --write-keep-float puts its answer into the plan; settings apply cannot honour are refused at
their line."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from planctl.cli.main import main

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")

REPO = Path(__file__).resolve().parents[2]

PLAN = """\
apiVersion: planctl.dev/v1alpha1
kind: OptimizationPlan
metadata:
  name: tiny-int8
  annotations:
    planctl.dev/waive.PLN206: "the AVX2 path (vpmaddubsw, 7-bit activations) is what this test exercises"
spec:
  workload:
    model:
      onnx: models/mlp.onnx
      sha256: {sha}
    inputs:
      - name: x
        dtype: float32
        shape: [batch, 32, 64]
        domain: {{kind: float-range, min: -1.0, max: 1.0}}
    outputs: [y]
    production_shapes:
      batch: {{min: 2, opt: 2, max: 2, values: [2]}}
    baseline_telemetry:
      date: 2026-11-20
      source: unit test
      p50_ms: 1.0
  bottleneck:
    kind: compute
    layer: kernel
    evidence: the two matmuls dominate a per-kernel profile of the untuned build
  optimizations:
    - technique: constant-folding
    - technique: quantization
      precision: {{weights: int8, activations: {activations}, kv_cache: none}}
{extra}
    - technique: operator-fusion
    - technique: autotuning
      budget: {{trials: 12, wall_clock_s: 300, trials_per_task: 2}}
  envelope:
    parity:
      examples: 3
      default: {{rtol: 0.5, atol: 0.5}}
    quality:
      metric: cosine-similarity
      dataset: data/rows.jsonl
      goal: {{type: threshold, value: {threshold}}}
    # what this test checks is the int8 build and its evidence, not its speed: a gate no load can fail
    performance: {{statistic: p50, min_speedup: 0.0001}}
  fallback:
    switch: PLANCTL_DISABLE_TINY_INT8
    on_violation: rollback
  review:
    approver: tester@example.com
    ticket: TEST-19
  targets: [x86-64-avx2]
"""
DYNAMIC = "      activation_scales: dynamic-per-token"
STATIC = "      calibration: {dataset: data/rows.jsonl, samples: 6, method: percentile}"


def mlp(path: Path) -> str:
    """y = relu(x @ W1) @ W2, x [2, 32, 64], W1 [64, 64] ('up'), W2 [64, 32] ('down'); its sha256."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array((rng.standard_normal((64, 64)) * 0.2).astype("float32"), "W1")
    w2 = numpy_helper.from_array((rng.standard_normal((64, 32)) * 0.2).astype("float32"), "W2")
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"], name="up"),
             helper.make_node("Relu", ["h"], ["r"], name="act"),
             helper.make_node("MatMul", ["r", "W2"], ["y"], name="down")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 32, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32, 32])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def repo(tmp_path: Path, *, activations="uint8", extra=DYNAMIC, threshold="0.99") -> Path:
    sha = mlp(tmp_path / "models" / "mlp.onnx")
    rng = np.random.default_rng(1)
    rows = [json.dumps({"inputs": {"x": rng.uniform(-1, 1, (32, 64)).round(4).tolist()}}) for _ in range(6)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "int8.yaml").write_text(PLAN.format(sha=sha, activations=activations, extra=extra,
                                                              threshold=threshold))
    (tmp_path / "targets").mkdir()
    shutil.copy(REPO / "targets" / "x86-64-avx2.yaml", tmp_path / "targets")
    return tmp_path


def apply(root: Path, *extra: str) -> int:
    return main(["apply", str(root / "plans" / "int8.yaml"), "--target", "x86-64-avx2", "--root", str(root),
                 "--out", str(root / "out"), "--cache", str(root / "cache"), "--repeats", "6", *extra])


def report(root: Path, suffix: str = "") -> dict:
    return json.loads((root / "out" / "tiny-int8" / f"x86-64-avx2{suffix}" / "report.json").read_text())


def test_int8_build_promotes_with_its_evidence(tmp_path: Path):
    root = repo(tmp_path)
    assert apply(root) == 0
    record = report(root)
    q = record["quantization"]
    assert [(op["name"], op["quantized"]) for op in q["operators"]] == [("up", True), ("down", True)]
    assert all(op["accumulation"] == "int32" and op["kernel"]["path"] == "avx2" for op in q["operators"])
    assert q["kernel"]["path"] == "avx2" and q["kernel"]["activation_levels"] == 128
    assert q["kernel"]["int8_kernels"] == 2 and q["kernel"]["tensorized_kernels"] >= 1
    counted = sum(n for counts in q["kernel"]["machine_code"].values() for n in counts.values())
    assert counted > 0 and set().union(*q["kernel"]["machine_code"].values()) <= {"vpmaddubsw", "vpmaddwd"}
    assert q["size"]["weight_bytes_quantized"] < q["size"]["weight_bytes_float32"] / 3
    assert q["sensitivity"] is None and record["quality"][0]["passed"]
    assert "Quantization" in (root / "out" / "tiny-int8" / "x86-64-avx2" / "report.md").read_text()


def test_a_missed_goal_names_what_to_keep_float_and_writes_it_for_review(tmp_path: Path, capsys):
    root = repo(tmp_path, activations="int8", extra=STATIC, threshold="0.99995")
    assert apply(root, "--write-keep-float") == 1
    found = report(root)["quantization"]["sensitivity"]
    assert found["keep_float"] and found["passed"] and found["per_op"]
    assert report(root)["quantization"]["operators"][0]["calibration"]["method"] == "percentile"
    written = (root / "plans" / "int8.yaml").read_text()
    assert f"keep_float: [{', '.join(found['keep_float'])}]" in written
    assert "review and commit" in capsys.readouterr().err


@pytest.mark.parametrize("extra, line_text, message, code", [
    # the legality gate (planctl check, PLN204) refuses it before any build: exit 1, at the precision
    ("      activation_scales: static-per-tensor", "activations: uint8", "no calibration is declared", 1),
    (DYNAMIC + "\n      keep_float: [nope]", "keep_float: [nope]", "'nope' is no matmul", 2),
    (DYNAMIC + "\n      granularity: per-group\n      group_size: 6", "group_size: 6", "multiple of 4", 2),
])
def test_settings_apply_cannot_honour_are_refused_at_their_line(tmp_path: Path, capsys, extra, line_text, message,
                                                                 code):
    root = repo(tmp_path, extra=extra)
    lines = (root / "plans" / "int8.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if line_text in text)
    assert apply(root) == code
    err = capsys.readouterr().err
    assert f"int8.yaml:{line}:" in err and message in err and "Traceback" not in err
