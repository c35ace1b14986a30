"""CUDA code generation for the H200 target needs nvcc, not a GPU: CI builds it on every run."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").exists(),
                    reason="nvcc is not installed")
def test_fp16_plan_techniques_build_for_nvidia_h200(tmp_path, make_tiny_model):
    from planctl.documents.load import load_plan, load_target
    from planctl.lowering import build, techniques
    from planctl.lowering.importer import import_onnx

    model = tmp_path / "tiny.onnx"
    make_tiny_model(model)
    plan = load_plan(REPO / "plans" / "minilm-embed-h200.yaml").model
    target = build.make_target(load_target(REPO / "targets" / "nvidia-h200.yaml").model.spec.tvm)
    spec = plan.spec.workload.inputs[0].model_copy(update={"name": "x", "dtype": "float32",
                                                           "shape": ["batch", 128]})
    imported = import_onnx(model, [spec], {"batch": 32})
    chosen = techniques.enabled_techniques(plan.spec)
    assert {t.technique for t in chosen} >= {"mixed-precision", "operator-fusion", "cuda-graphs"}
    lowered = build.lower_candidate(imported.mod, target, chosen)
    assert any(p.name == "ToMixedPrecision" for p in lowered.passes)
    executable = build.build_candidate(lowered.mod, target, chosen)
    executable.export_library(str(tmp_path / "candidate.so"))
    assert (tmp_path / "candidate.so").stat().st_size > 0
    assert "float16" in lowered.mod.script()
