"""Benchmark: `planctl check` over 200 plans and 10 targets in one process.

Generates a repository in a temporary folder (plans/, targets/, one small model file per plan),
then times `planctl.rules.engine.check` over all plans: the first run (cold: rule modules,
capability table) and `--repeat` warm runs. Prints one JSON object to stdout with milliseconds
per plan, the findings count (the corpus is legal, so 0 is expected) and the machine.

    /work/venv/bin/python bench/check.py [--plans 200] [--targets 10] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

TODAY = dt.date(2026, 12, 1)
KERNEL = [{"technique": "constant-folding"}, {"technique": "dead-code-elimination"},
          {"technique": "operator-fusion"},
          {"technique": "autotuning", "budget": {"trials": 1500, "wall_clock_s": 1200}}]
QUANT = [{"technique": "constant-folding"},
         {"technique": "quantization",
          "calibration": {"dataset": "data/calib.jsonl", "samples": 256},
          "precision": {"weights": "int8", "activations": "int8", "kv_cache": "none"}}]
BATCHING = [{"technique": "continuous-batching", "max_batch": 64,
             "slo": {"ttft_p95_ms": 300, "ttft_p99_ms": 800, "tpot_p95_ms": 40, "tpot_p99_ms": 80}}]
PREFIX = [{"technique": "prefix-caching", "tenant_scope": "per-tenant", "retention": "15m"}]
FLAVOURS = [("compute", "kernel", KERNEL, "cpu"), ("memory-bandwidth", "kernel", QUANT, "cuda"),
            ("serving-utilization", "serving", BATCHING, "cuda"),
            ("repeated-prefill", "serving", PREFIX, "cuda")]


def target(i: int) -> dict:
    cuda = i % 2 == 1
    caps = ({"device": "cuda", "dtypes": ["float32", "float16", "int8", "int64"],
             "features": ["dp4a", "cuda-graphs"], "tensor_cores": True} if cuda else
            {"device": "cpu", "dtypes": ["float32", "int64", "int8"], "features": ["avx2", "fma"]})
    return {"apiVersion": "planctl.dev/v1alpha1", "kind": "Target",
            "metadata": {"name": f"target-{i}"},
            "spec": {"tvm": {"kind": "cuda" if cuda else "llvm"}, "capabilities": caps}}


def plan(i: int, targets: int, sha: str) -> dict:
    kind, layer, techniques, device = FLAVOURS[i % len(FLAVOURS)]
    first = (i % (targets // 2)) * 2 + (1 if device == "cuda" else 0)
    spec = {
        "workload": {"model": {"onnx": f"models/m{i}.onnx", "sha256": sha},
                     "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", 128],
                                 "domain": {"kind": "integer-range", "min": 0, "max": 30521}}],
                     "production_shapes": {"batch": {"min": 1, "opt": 2, "max": 8,
                                                      "values": [1, 2, 8]}},
                     "baseline_telemetry": {"date": "2026-11-20", "source": "trace", "p50_ms": 9}},
        "bottleneck": {"kind": kind, "layer": layer, "evidence": "profile"},
        "optimizations": techniques,
        "envelope": {"parity": {"examples": 8, "default": {"rtol": 1e-4, "atol": 1e-4}},
                     "quality": {"metric": "cosine-similarity", "dataset": "data/eval.jsonl",
                                 "goal": {"type": "threshold", "value": 0.99}},
                     "performance": {"statistic": "p50", "min_speedup": 1.2}},
        "fallback": {"switch": f"PLANCTL_DISABLE_PLAN_{i}"},
        "review": {"approver": "jane", "ticket": f"ML-{i}"},
        "targets": [f"target-{first}", f"target-{(first + 2) % targets}"]}
    return {"apiVersion": "planctl.dev/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": f"plan-{i}"}, "spec": spec}


def tiny_model(i: int) -> bytes:
    """An ONNX model of the plans' one input (input_ids, int64, [batch, 128]) with a ~4 KiB weight
    (where onnx is installed; else ~4 KiB of text, which PLN224 does not read without onnx)."""
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return f"model {i}\n".encode() * 512
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1024], [float(i)] * 1024)
    graph = helper.make_graph([helper.make_node("Cast", ["input_ids"], ["x"], to=TensorProto.FLOAT),
                               helper.make_node("Gather", ["w", "input_ids"], ["y"])], f"m{i}",
                              [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", 128])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 128])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def write_repo(root: Path, plans: int, targets: int) -> None:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    for sub in ("plans", "targets", "models", "data"):
        (root / sub).mkdir()
    for name in ("eval", "calib"):   # the datasets the plans name (PLN215 checks they exist)
        (root / "data" / f"{name}.jsonl").write_text('{"input_ids": [[101, 102]]}\n')
    for i in range(targets):
        yaml.dump(target(i), root / "targets" / f"target-{i}.yaml")
    for i in range(plans):
        model = tiny_model(i)  # ~4 KiB each: hashing and reading its inputs (PLN224) are part of check
        (root / "models" / f"m{i}.onnx").write_bytes(model)
        yaml.dump(plan(i, targets, hashlib.sha256(model).hexdigest()),
                  root / "plans" / f"plan-{i:03d}.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=200)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from planctl.rules.engine import Options, check

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_repo(root, args.plans, args.targets)
        runs, findings = [], None
        for _ in range(args.repeat + 1):
            start = time.perf_counter()
            report = check([], Options(root=root, today=TODAY))
            runs.append((time.perf_counter() - start) * 1000 / args.plans)
            findings = len(report.findings)
    print(json.dumps({
        "plans": args.plans, "targets": args.targets, "findings": findings,
        "ms_per_plan_cold": round(runs[0], 3),
        "ms_per_plan_warm_median": round(statistics.median(runs[1:]), 3),
        "ms_per_plan_warm_best": round(min(runs[1:]), 3),
        "python": sys.version.split()[0], "machine": platform.platform(),
    }, indent=2))


if __name__ == "__main__":
    main()
