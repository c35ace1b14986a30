"""MiniLM on an NVIDIA GPU: planctl's promoted artifacts against torch as users run it.

Contenders, batch 32 x seq 128, the same inputs (odd rows padded after 80 tokens):

- ``planctl_fp16`` / ``planctl_fp32``: the promoted artifacts of ``plans/minilm-embed-h200.yaml`` and
  ``plans/minilm-embed-h200-fp32.yaml`` (``--out``, ``--fp32-out``);
- torch in fp16 and fp32, each as a user would pick it: eager with transformers' default attention
  (SDPA), ``torch.compile`` in its default mode, ``mode="max-autotune"`` and ``mode="reduce-overhead"``
  (CUDA graphs). torch builds the architecture from ``config.json``; weights do not change timings.

Every contender runs ALONE, in its own process, with the same method: ``--warmup`` calls, then
``--calls`` calls each timed from the host with a device synchronize after it (torch.compile's
compilation happens in the warm-up and is reported apart as ``first_call_s``). TF32 stays off
(torch's default), so the fp32 peers compute in fp32 like the fp32 plan.

Output (stdout, and ``--results`` when given): per contender p50/p90/p99/mean/min/stdev in ms; per
precision the best torch peer and the headline ``planctl / best peer`` p50 ratio (goal <= 1.0);
device, driver, torch, transformers, TVM versions.

Usage (on the GPU machine, TVM importable):
    python bench/minilm_gpu.py --out out/minilm-embed-h200/nvidia-h200 \\
        --fp32-out out/minilm-embed-h200-fp32/nvidia-h200 --config DIR/config.json \\
        --results bench/results/minilm_gpu-h200.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH_MODES = ("eager", "compile-default", "compile-max-autotune", "compile-reduce-overhead")
TORCH_CONTENDERS = [f"torch_{dtype}_{mode}" for dtype in ("fp16", "fp32") for mode in TORCH_MODES]


def inputs():
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30522, size=(32, 128), dtype=np.int64)
    mask = np.ones((32, 128), dtype=np.int64)
    mask[1::2, 80:] = 0
    return ids, mask


# ------------------------------------------------------------------ one contender (worker process)
def torch_call(name: str, config: Path):
    """A zero-argument function running one synchronized call of torch contender ``name``."""
    import torch
    from transformers import AutoConfig, AutoModel

    torch.backends.cuda.matmul.allow_tf32 = False
    _, dtype, mode = name.split("_", 2)
    cfg = AutoConfig.from_pretrained(str(config.parent))
    model = AutoModel.from_config(cfg).eval().cuda()  # transformers' default attention (sdpa)
    if dtype == "fp16":
        model = model.half()

    def pooled(i, m):
        hidden = model(input_ids=i, attention_mask=m).last_hidden_state
        w = m.unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * w).sum(1) / w.sum(1).clamp(min=1e-9), dim=1)

    fn = pooled if mode == "eager" else torch.compile(pooled, mode=mode.removeprefix("compile-"))
    ids, mask = (torch.from_numpy(a).cuda() for a in inputs())
    mark = getattr(torch.compiler, "cudagraph_mark_step_begin", None) if mode != "eager" else None

    def call():
        if mark is not None:
            mark()
        with torch.inference_mode():
            fn(ids, mask)
        torch.cuda.synchronize()
    return call, {"attn_implementation": getattr(cfg, "_attn_implementation", None)}


def planctl_call(out: Path):
    """A zero-argument function running one synchronized call of planctl's promoted artifact
    (planctl.lowering.vm, the VM callable apply measures with)."""
    from planctl.lowering.vm import vm_callable

    manifest = json.loads((out / "manifest.json").read_text())
    ids, mask = inputs()
    call = vm_callable(out / manifest["artifact"], manifest["input_names"], "cuda").bound(
        {"input_ids": ids, "attention_mask": mask})
    return call, {"artifact": manifest["artifact"], "verdict": manifest["verdict"]}


def worker(args) -> dict:
    name = args.worker
    start = time.perf_counter()
    if name.startswith("torch_"):
        call, info = torch_call(name, args.config)
    else:
        call, info = planctl_call(args.out if name == "planctl_fp16" else args.fp32_out)
    call()
    first = time.perf_counter() - start
    for _ in range(args.warmup - 1):
        call()
    samples = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1e3)
    from planctl.measure.stats import LatencyStats

    s = LatencyStats.from_samples(samples)
    return {"p50_ms": s.p50, "p90_ms": s.p90, "p99_ms": s.p99, "mean_ms": s.mean, "min_ms": s.min,
            "stdev_ms": s.stdev, "n": s.n, "first_call_s": first, **info}


# ------------------------------------------------------------------ orchestration
def run_contender(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--config", str(args.config), "--warmup", str(args.warmup),
           "--calls", str(args.calls)]
    if args.out:
        cmd += ["--out", str(args.out)]
    if args.fp32_out:
        cmd += ["--fp32-out", str(args.fp32_out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "engine"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1][:300] if (done.stderr or done.stdout)
                else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def environment() -> dict:
    import torch

    from planctl.versions import installed

    found = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
             "torch": torch.__version__, "cuda_runtime": torch.version.cuda,
             **installed(("transformers", "apache-tvm", "apache-tvm-ffi"))}   # None: not installed
    try:
        found["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                         capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001
        found["driver"] = None
    return found


def headline(results: dict) -> dict:
    """Per precision: the best torch peer (lowest p50) and planctl's p50 over it."""
    out = {}
    for dtype in ("fp16", "fp32"):
        peers = {n: r for n, r in results.items() if n.startswith(f"torch_{dtype}_") and "p50_ms" in r}
        mine = results.get(f"planctl_{dtype}", {})
        if not peers or "p50_ms" not in mine:
            continue
        best = min(peers, key=lambda n: peers[n]["p50_ms"])
        out[dtype] = {"best_peer": best, "best_peer_p50_ms": peers[best]["p50_ms"], "planctl_p50_ms": mine["p50_ms"],
                      "ratio_planctl_over_best_peer": mine["p50_ms"] / peers[best]["p50_ms"],
                      "ratio_p99_planctl_over_best_peer": mine["p99_ms"] / peers[best]["p99_ms"],
                      "ratio_vs_each_peer": {n: mine["p50_ms"] / r["p50_ms"] for n, r in peers.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder of plans/minilm-embed-h200.yaml")
    parser.add_argument("--fp32-out", type=Path, default=None, help="output folder of the fp32 plan")
    parser.add_argument("--config", type=Path, required=True, help="the model's config.json")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--only", default="", help="comma-separated contenders (default: all)")
    parser.add_argument("--timeout", type=float, default=420.0, help="seconds per contender process")
    parser.add_argument("--results", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    names = ([*(["planctl_fp16"] if args.out else []), *(["planctl_fp32"] if args.fp32_out else []), *TORCH_CONTENDERS]
             if not args.only else args.only.split(","))
    results = {}
    for name in names:
        results[name] = run_contender(name, args)
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    report = {"benchmark": "minilm_gpu", "batch": 32, "seq": 128, "contenders": results,
              "headline": headline(results), "environment": environment(),
              "method": f"each contender alone in its own process: {args.warmup} warm-up calls, then {args.calls} "
                        "calls timed on the host, device synchronize after every call; torch: transformers' default "
                        "attention (sdpa), TF32 off"}
    text = json.dumps(report, indent=2)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
