"""The H200 fp32 plan's committed records still name workloads of the plan's own tuning tasks.

Lowering for CUDA needs no GPU, so CI catches records made stale by a change to the model export
or to the lowering (they would silently stop applying and the plan would be searched again)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "plans" / "minilm-embed-h200-fp32.yaml"


def test_committed_h200_records_match_the_plans_tasks():
    from planctl.documents.load import load_plan, load_target
    from planctl.lowering import build, techniques
    from planctl.lowering.importer import import_onnx
    from planctl.tuning.search import extract, workload_hash

    plan = load_plan(PLAN).model
    model = REPO / plan.spec.workload.model.onnx
    if not model.exists():
        pytest.skip(f"{model} is exported by scripts/setup.sh")
    tuning = next(t for t in plan.spec.optimizations if t.technique == "autotuning")
    committed = {json.loads(line)["workload_hash"] for line in (REPO / tuning.records).read_text().splitlines()
                 if line.strip()}
    target = build.make_target(load_target(REPO / "targets" / "nvidia-h200.yaml").model.spec.tvm)
    imported = import_onnx(model, plan.spec.workload.inputs, {"batch": 32})
    # the records tune the TVM route of the matmuls: lower without the kernel-route techniques that
    # may send those matmuls to a library instead (their choice depends on the device's timings)
    chosen = [t for t in techniques.enabled_techniques(plan.spec)
              if techniques.REGISTRY[t.technique].stage != "dispatch"]
    lowered = build.lower_candidate(imported.mod, target, chosen).mod
    tasks = {workload_hash(t) for t in extract(lowered, target)}
    assert committed and committed <= tasks, f"stale records: {sorted(committed - tasks)}"
