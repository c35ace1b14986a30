"""Fixtures: a complete run record (as ``planctl.apply`` writes it) and a minimal rolled-back one
(what the renderers must survive: every section is optional to them)."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.measure import LatencyStats


def _stats(center: float, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return LatencyStats.from_samples(center * (1 + 0.05 * np.abs(rng.standard_normal(n)))).to_dict()


def _tuning() -> dict:
    return {"cache_dir": "/cache/tuning.sqlite3", "trials_spent": 1500, "seconds": 600.0, "timed_out": False,
            "stopped_by": "trials", "imported_records": 0, "scheduled_funcs": 17, "total_funcs": 18,
            "budget": {"trials": 1500, "wall_clock_s": 1200.0, "trials_per_task": 96, "capped_by": []},
            "key": {"key_id": "f8f326ba922272c26b84"}, "session": "9cd9d41923024ab9", "notes": [],
            "integrity": [], "reused": False,
            "tasks": [{"name": "fused_matmul_add", "workload_hash": "2238298779646400015", "cached": True,
                       "trials": 96, "best_ms": 0.8, "served_by": "exact", "budget_share": 0.1,
                       "drift_records": 0, "candidates": 96, "build_errors": 0, "run_errors": 0, "errors": {}}]}


def _parity() -> dict:
    return {"passed": True, "shape_env": {"batch": 2}, "examples": 8, "reason": None, "counterexample": None,
            "replay": None, "seed": 0, "shrink_calls": 0,
            "outputs": {"sentence_embedding": {"max_abs": 3e-6, "max_rel": 1e-4, "rtol": 1e-4, "atol": 1e-4,
                                               "passed": True, "nonfinite": 0}}}


@pytest.fixture
def full_record() -> dict:
    """A complete run record, in the shape planctl.apply writes (validated by RunRecord)."""
    from planctl.report.record import RunRecord

    flops = {"flops": 5.78e9, "bytes": 216000000, "intensity": 26.76, "launches": 97, "unestimated": [],
             "kernels": [{"name": "fused_matmul_add", "calls": 12, "flops": 3.6e9, "bytes": 1000000}],
             "method": "estimate_tir_flops"}
    planned = {"planned_bytes": 7077888, "storages": 9, "output_bytes": 3072, "dynamic_storages": 0,
               "static_planning": True}
    record = {
        "report_version": 1, "created": "2026-11-30T12:00:00+00:00",
        "plan": {"name": "minilm-embed", "path": "plans/minilm-embed.yaml", "sha256": "a" * 64},
        "target": {"name": "x86-64-avx2", "tvm": {"kind": "llvm", "mcpu": "haswell"}, "sha256": "b" * 64},
        "model": {"path": "examples/minilm/minilm-b2-s128.onnx", "sha256": "c" * 64},
        "legality": {"findings": [], "errors": 0},
        "environment": {"python": "3.12.0", "tvm": "0.27.0", "tvm_ffi": None, "onnxruntime": "1.32.0",
                        "numpy": "2.4.6", "cpu": "Test CPU | with pipe", "cores": 2,
                        "env": {"TVM_NUM_THREADS": "2"}, "packages": {"torch": "2.13.0+cpu"}},
        "techniques": ["constant-folding", "operator-fusion", "autotuning"],
        "stages": [{"name": "import[batch-2]", "seconds": 1.5}, {"name": "tuning[batch-2]", "seconds": 600.0}],
        "passes": [{"name": "FoldConstant", "seconds": 0.2, "bindings_before": 400, "bindings_after": 350,
                    "prim_funcs_before": 0, "prim_funcs_after": 0, "ops_before": 400, "ops_after": 350},
                   {"name": "FuseTIR", "seconds": 0.4, "bindings_before": 350, "bindings_after": 120,
                    "prim_funcs_before": 180, "prim_funcs_after": 60, "ops_before": 0, "ops_after": 0}],
        "builds": [{"shape_env": {"batch": 2}, "tag": "batch-2", "input_names": ["input_ids", "attention_mask"],
                    "output_names": ["sentence_embedding"], "tuning": _tuning(),
                    "libraries": {"baseline": "baseline-batch-2.so", "candidate": "candidate-batch-2.so"},
                    "parity": _parity(), "quality": None, "flops": flops, "planned_memory": planned}],
        "parity": [_parity()],
        "latency": {"baseline": _stats(1900.0, 10, 0), "candidate": _stats(70.0, 50, 1),
                    "onnxruntime": _stats(40.0, 50, 2)},
        "measurement": {"method": "fresh process per contender per round, order rotated", "rounds": 3,
                        "inputs": "one hypothesis example inside the input domains"},
        "speedup": {"statistic": "p50", "value": 27.1, "ci_low": 26.0, "ci_high": 28.3, "gate": 1.5,
                    "vs_onnxruntime": 0.57},
        "memory": {"peak_rss_mb": 731.5, "peak_rss_mb_by_contender": {"candidate": 731.5, "onnxruntime": 650.0},
                   "planned_bytes": 7077888},
        "decision": {"verdict": "promote",
                     "reasons": ["parity held on 1 shape", "p50 speedup 27.1× ≥ 1.5×"]},
        "artifacts": {"library": "candidate-batch-2.so", "records": "records", "report_md": "report.md",
                      "report_json": "report.json", "report_html": "report.html"},
        "library_sha256": {"candidate-batch-2.so": "d" * 64},
        "inputs": {"digest": "e" * 64, "components": {"plan": "a" * 64}},
        "notes": ["measured in a fresh process"],
    }
    return RunRecord.model_validate(record).model_dump(mode="json")


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
