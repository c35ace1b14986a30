"""MiniLM on an NVIDIA GPU: planctl's promoted artifact against torch eager fp32, fp16 and
torch.compile, batch 32 x seq 128, same inputs, one process.

GPU contenders share one process (no CPU thread pools to fight over; the GPU runs one kernel
stream at a time anyway), interleaved call by call after warm-up; every call ends with a device
synchronize so the time covers the kernels. torch runs the same architecture built from the
model's config.json: weights do not change the timing, so this needs no weight file (the parity
and quality of planctl's artifact are in its apply report). Prints JSON with medians, p90, p99
and the p50 ratios ``ratio_vs_torch_fp16`` / ``ratio_vs_torch_fp32`` (goal <= 1.0 each).

Usage: python bench/minilm_gpu.py --out out/minilm-embed-h200/nvidia-h200 --config DIR/config.json
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def torch_contenders(config_path: Path, ids, mask) -> dict:
    import torch
    from transformers import AutoConfig, AutoModel

    sys_path = str(REPO / "examples" / "minilm")
    import sys

    sys.path.insert(0, sys_path)
    config = AutoConfig.from_pretrained(str(config_path.parent))
    config._attn_implementation = "eager"
    base = AutoModel.from_config(config).eval()

    def wrap(module):
        def pooled(i, m):
            hidden = module(input_ids=i, attention_mask=m).last_hidden_state
            w = m.unsqueeze(-1).to(hidden.dtype)
            return torch.nn.functional.normalize((hidden * w).sum(1) / w.sum(1).clamp(min=1e-9), dim=1)
        return pooled

    t_ids, t_mask = torch.from_numpy(ids).cuda(), torch.from_numpy(mask).cuda()
    fp32 = wrap(base.cuda())
    fp16 = wrap(AutoModel.from_config(config).eval().cuda().half())
    out = {}
    for name, fn in {"torch_fp32": fp32, "torch_fp16": fp16}.items():
        def run(fn=fn):
            with torch.inference_mode():
                fn(t_ids, t_mask)
            torch.cuda.synchronize()
        out[name] = run
    try:
        compiled = torch.compile(fp16, mode="max-autotune-no-cudagraphs")

        def run_compiled():
            with torch.inference_mode():
                compiled(t_ids, t_mask)
            torch.cuda.synchronize()
        for _ in range(3):
            run_compiled()
        out["torch_compile_fp16"] = run_compiled
    except Exception as exc:  # noqa: BLE001 - torch.compile is optional here; say why it is absent
        out["_compile_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "out" / "minilm-embed-h200" / "nvidia-h200")
    parser.add_argument("--config", type=Path, required=True, help="the model's config.json")
    parser.add_argument("--fp32-out", type=Path, default=None,
                        help="output of plans/minilm-embed-h200-fp32.yaml, measured as planctl_fp32")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    import numpy as np

    from planctl.lowering.vm import vm_callable
    from planctl.measure.latency import measure_latency

    manifest = json.loads((args.out / "manifest.json").read_text())
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30522, size=(32, 128), dtype=np.int64)
    mask = np.ones((32, 128), dtype=np.int64)
    mask[1::2, 80:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    contenders = {"planctl": vm_callable(args.out / manifest["artifact"], manifest["input_names"], "cuda").bound(inputs)}
    if args.fp32_out:
        fp32 = json.loads((args.fp32_out / "manifest.json").read_text())
        contenders["planctl_fp32"] = vm_callable(args.fp32_out / fp32["artifact"], fp32["input_names"],
                                                 "cuda").bound(inputs)
    extra = torch_contenders(args.config, ids, mask)
    error = extra.pop("_compile_error", None)
    contenders.update(extra)
    stats = measure_latency(contenders, warmup=20, repeats=args.repeats, interleave=True)
    p50 = {n: s.p50 for n, s in stats.items()}
    import torch

    print(json.dumps({
        "benchmark": "minilm_gpu", "artifact": manifest["artifact"], "verdict": manifest["verdict"],
        "contenders": {n: {"p50_ms": s.p50, "p90_ms": s.p90, "p99_ms": s.p99, "min_ms": s.min,
                           "stdev_ms": s.stdev, "n": s.n} for n, s in stats.items()},
        "ratio_vs_torch_fp16": p50["planctl"] / p50["torch_fp16"],
        "ratio_vs_torch_fp32": p50["planctl"] / p50["torch_fp32"],
        "ratio_fp32_plan_vs_torch_fp32": p50["planctl_fp32"] / p50["torch_fp32"] if "planctl_fp32" in p50 else None,
        "fp32_plan": {"artifact": fp32["artifact"], "verdict": fp32["verdict"]} if args.fp32_out else None,
        "ratio_vs_torch_compile_fp16": p50["planctl"] / p50["torch_compile_fp16"] if "torch_compile_fp16" in p50 else None,
        "torch_compile_error": error,
        "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "method": f"one process, interleaved call by call, {args.repeats} calls each after 20 warm-up, cuda sync per call",
    }, indent=2))


if __name__ == "__main__":
    main()
