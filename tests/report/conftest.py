"""Fixtures: a complete run record (as ``planctl.apply`` assembles it) and a minimal rolled-back one."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.measure import LatencyStats


def _stats(center: float, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return LatencyStats.from_samples(center * (1 + 0.05 * np.abs(rng.standard_normal(n)))).to_dict()


@pytest.fixture
def full_record() -> dict:
    return {
        "report_version": 1,
        "plan": {"name": "minilm-embed", "path": "plans/minilm-embed.yaml", "sha256": "a" * 64},
        "target": {"name": "x86-64-avx2", "tvm": {"kind": "llvm", "mcpu": "haswell"}, "sha256": "b" * 64},
        "model": {"path": "examples/minilm/minilm-b2-s128.onnx", "sha256": "c" * 64},
        "environment": {"python": "3.12.0", "tvm": "0.27.0", "tvm_ffi": "0.1.14", "onnxruntime": "1.32.0",
                        "numpy": "2.4.6", "cpu": "Test CPU | with pipe", "cores": 2,
                        "env": {"TVM_NUM_THREADS": "2", "GLIBC_TUNABLES": None}},
        "stages": [{"name": "import", "seconds": 1.5}, {"name": "tuning", "seconds": 600.0}],
        "passes": [{"name": "FoldConstant", "seconds": 0.2, "bindings_before": 400, "bindings_after": 350,
                    "prim_funcs_before": 0, "prim_funcs_after": 0},
                   {"name": "FuseTIR", "seconds": 0.4, "bindings_before": 350, "bindings_after": 120,
                    "prim_funcs_before": 180, "prim_funcs_after": 60}],
        "tuning": {"cache_dir": "/cache", "trials_spent": 1500, "records_used": 42, "seconds": 600.0,
                   "reused": False, "tasks": [{"name": "fused_matmul_add", "trials": 96, "best_ms": 0.8,
                                               "scheduled": True}]},
        "parity": [{"passed": True, "shape_env": {"batch": 2}, "examples": 8, "reason": None,
                    "counterexample": None, "replay": None,
                    "outputs": {"sentence_embedding": {"max_abs": 3e-6, "max_rel": 1e-4, "rtol": 1e-4,
                                                       "atol": 1e-4, "passed": True}}}],
        "latency": {"baseline": _stats(1900.0, 10, 0), "candidate": _stats(70.0, 50, 1),
                    "onnxruntime": _stats(40.0, 50, 2)},
        "speedup": {"statistic": "p50", "value": 27.1, "ci_low": 26.0, "ci_high": 28.3, "gate": 1.5,
                    "vs_onnxruntime": 0.57},
        "memory": {"peak_rss_mb": 731.5, "planned_bytes": 7077888},
        "decision": {"verdict": "promote",
                     "reasons": ["parity held on 1 shape", "p50 speedup 27.1× ≥ 1.5×"]},
        "artifacts": {"library": "candidate.so", "records": "records", "report_md": "report.md",
                      "report_json": "report.json"},
        "notes": ["measured in a fresh process"],
    }


@pytest.fixture
def rolled_back_record() -> dict:
    return {"report_version": 1, "plan": {"name": "minilm-embed"},
            "parity": [{"passed": False, "shape_env": {"batch": 2}, "examples": 3,
                        "reason": "sentence_embedding: 4 of 768 elements outside tolerance",
                        "counterexample": "out/counterexample-batch-2.npz",
                        "replay": "planctl verify replay out/counterexample-batch-2.npz",
                        "outputs": {"sentence_embedding": {"max_abs": 0.5, "max_rel": None, "rtol": 1e-4,
                                                           "atol": 1e-4, "passed": False}}}],
            "decision": {"verdict": "rollback", "reasons": ["parity failed at batch=2"]}}
