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


@pytest.mark.skipif(shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").exists(),
                    reason="nvcc is not installed")
def test_fp16_matmul_gets_tensor_cores_on_sm_90a():
    """dlight reads ``sm_90a`` as no tensor cores; the candidate build schedules with ``sm_90``."""
    import numpy as np
    from tvm import relax

    from planctl.documents.load import load_target
    from planctl.lowering import build

    target = build.make_target(load_target(REPO / "targets" / "nvidia-h200.yaml").model.spec.tvm)
    assert str(target.attrs["arch"]) == "sm_90a"
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((256, 384), "float16"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_output(relax.op.matmul(x, relax.const(np.zeros((384, 512), "float16")), out_dtype="float32"))
        bb.emit_func_output(y)
    executable = build.build_candidate(build.lower_candidate(bb.get(), target, []).mod, target, [])

    def sources(module):
        try:
            own = [module.inspect_source()]
        except Exception:  # the host module has no source to show
            own = []
        return own + [s for m in module.imports for s in sources(m)]
    assert "mma_sync" in "\n".join(sources(executable.mod))
