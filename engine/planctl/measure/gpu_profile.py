"""Per-kernel GPU profile of a built artifact: where each call's device time goes.

torch.profiler's CUDA activity (CUPTI) traces every kernel the process launches, TVM's and
cuBLASLt's included, and the CUDA runtime calls (``cudaGraphLaunch`` says the VM replays captured
CUDA graphs). planctl needs no torch otherwise: without torch, or without a CUDA device, the profile
is ``{"available": False, "reason": ...}`` and the report says so.

Each traced kernel is attributed to the call of the Relax ``main`` that launched it, walking both
sequences in program order (``call_plan``): a TVM kernel by its PrimFunc's name
(``<primfunc>_kernel[_N]``), any other kernel to the next library call. Per row: GPU time per
call, its share of the call's kernel time, launches per call, the FLOPs and compulsory bytes of
what it computes (``planctl.lowering.flops``' method), the achieved TFLOP/s and GB/s, and whether
it ran on tensor cores (TVM kernels: ``mma``/``wmma`` in their CUDA source; cuBLASLt: float16
operands, as CUBLAS_COMPUTE_32F without TF32 runs fp32 operands on CUDA cores).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass

from planctl.lowering.backend import cuda_source

__all__ = ["KernelRow", "PlannedCall", "attribute", "call_plan", "cuda_source", "profile_build", "trace", "unavailable"]

LIBRARY_PREFIX = "planctl_cublaslt"
_KERNEL_SUFFIX = re.compile(r"_kernel(_\d+)?$")


@dataclass(frozen=True)
class PlannedCall:
    """One call of ``main`` in program order: a PrimFunc (``tir``) or a library call."""

    name: str
    kind: str  # "tir" | "library"
    flops: float
    bytes: float
    tensor_cores: str  # "yes" | "no" | "unknown"


@dataclass
class KernelRow:
    name: str  # PrimFunc name, or the library call with its problem
    kernels: str  # the CUDA kernel names seen
    launches_per_call: float
    ms_per_call: float
    share: float
    flops_per_call: float
    bytes_per_call: float
    tflops: float | None
    gbps: float | None
    tensor_cores: str

    def to_dict(self) -> dict:
        return asdict(self)


def unavailable(reason: str) -> dict:
    return {"available": False, "reason": reason}


# ------------------------------------------------------------------ what main calls
def call_plan(mod, cuda_source: str | None = None, flops: dict | None = None) -> list[PlannedCall]:
    """The kernel calls of ``mod``'s ``main`` (a fused module) in program order. ``flops``: the
    ``workload_flops`` of the module counted before the build (a built module's tensorized PrimFuncs
    no longer show their multiply-adds to TVM's estimate); counted here when not given."""
    from tvm import relax, tirx

    from planctl.lowering import flops as fl

    per_func = {k["name"]: k for k in (flops or fl.workload_flops(mod))["kernels"]}
    prims = {gv.name_hint for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}
    calls: list[PlannedCall] = []

    def visit(expr):
        if not isinstance(expr, relax.Call) or not hasattr(expr.op, "name"):
            return
        if expr.op.name == "relax.call_tir" and expr.args[0].name_hint in prims:
            name = expr.args[0].name_hint
            info = per_func.get(name, {})
            n = max(info.get("calls", 1), 1)
            calls.append(PlannedCall(name, "tir", info.get("flops", 0.0) / n, info.get("bytes", 0.0) / n,
                                     _tir_tensor_cores(name, cuda_source)))
        elif expr.op.name == "relax.call_dps_packed" and str(expr.args[0].global_symbol).startswith(LIBRARY_PREFIX):
            flops, moved, dtype, label = fl.library_call_cost(expr)
            calls.append(PlannedCall(label, "library", flops, moved, "yes" if dtype == "float16" else "no"))

    relax.analysis.post_order_visit(mod["main"].body, visit)
    return calls


def _tir_tensor_cores(name: str, source: str | None) -> str:
    if not source:
        return "unknown"
    bodies = [m.start() for m in re.finditer(r'extern "C" __global__', source)] + [len(source)]
    found = False
    for start, end in zip(bodies, bodies[1:]):
        head = source[start:start + 400]
        match = re.search(r"void(?: __launch_bounds__\(\d+\))? (\w+)\(", head)
        if match and _KERNEL_SUFFIX.sub("", match.group(1)) == name:
            found = True
            if re.search(r"\bmma\b|mma_sync|mma\.sync|wgmma", source[start:end]):
                return "yes"
    return "no" if found else "unknown"


# ------------------------------------------------------------------ tracing
def trace(run, calls: int = 5, warmup: int = 20) -> dict:
    """Run ``run()`` (one synchronized call) ``warmup`` times, then ``calls`` times under
    torch.profiler. Returns ``{"kernels": [[name, start_us, duration_us], ...] of ONE call in launch
    order, "kernel_us_per_call", "graph_launches_per_call", "api_per_call"}`` or ``unavailable(...)``.
    """
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return unavailable("torch is not installed: its profiler (CUPTI) reads the kernels")
    if not torch.cuda.is_available():
        return unavailable("no CUDA device visible to torch")
    for _ in range(warmup):
        run()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            run()
    kernels, api = [], defaultdict(int)
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            duration = getattr(e, "device_time_total", None)
            if duration is None:
                duration = e.cuda_time_total
            kernels.append((e.name, float(e.time_range.start), float(duration)))
        elif e.name.startswith("cuda"):
            api[e.name] += 1
    kernels = [k for k in kernels if not k[0].startswith("Memcpy") and not k[0].startswith("Memset")]
    kernels.sort(key=lambda k: k[1])
    if not kernels:
        return unavailable("the profiler saw no kernels (CUPTI unavailable in this process?)")
    per_call = len(kernels) // calls
    return {"available": True, "calls": calls,
            "kernels": [list(k) for k in kernels[-per_call:]] if per_call else [],
            "kernel_us_per_call": sum(k[2] for k in kernels) / calls,
            "kernels_per_call": len(kernels) / calls,
            "graph_launches_per_call": api.get("cudaGraphLaunch", 0) / calls,
            "api_per_call": {n: c / calls for n, c in sorted(api.items(), key=lambda x: -x[1])[:8]}}


def attribute(kernels: list, plan: list[PlannedCall]) -> list[KernelRow]:
    """Rows for one call's ``kernels`` ([name, start_us, duration_us] in order) against ``plan``."""
    slots: list[list] = [[] for _ in plan]
    orphans: list = []
    pos = -1  # the call the last kernel went to
    for name, _start, duration in kernels:
        prim = _KERNEL_SUFFIX.sub("", name)
        library = not any(c.kind == "tir" and c.name == prim for c in plan)
        seen = {n for n, _ in slots[pos]} if pos >= 0 else set()
        if pos >= 0 and name not in seen and (
                (not library and plan[pos].name == prim)
                or (library and plan[pos].kind == "library" and "splitk" in name.lower())):
            j = pos  # another kernel of the same call (a PrimFunc's _kernel_1, cuBLAS' split-K reduce)
        else:
            j = next((i for i in range(pos + 1, len(plan))
                      if (plan[i].kind == "library" if library else plan[i].name == prim)), None)
        if j is None:
            orphans.append((name, duration))
            continue
        slots[j].append((name, duration))
        pos = j
    groups: dict[str, dict] = {}
    for call, seen in zip(plan, slots):
        if not seen:
            continue
        g = groups.setdefault(call.name, {"kernels": set(), "launches": 0, "us": 0.0, "flops": 0.0, "bytes": 0.0,
                                          "tc": call.tensor_cores})
        g["kernels"].update(n for n, _ in seen)
        g["launches"] += len(seen)
        g["us"] += sum(d for _, d in seen)
        g["flops"] += call.flops
        g["bytes"] += call.bytes
    for name, duration in orphans:
        g = groups.setdefault(f"(unattributed) {name}", {"kernels": {name}, "launches": 0, "us": 0.0, "flops": 0.0,
                                                          "bytes": 0.0, "tc": "unknown"})
        g["launches"] += 1
        g["us"] += duration
    total = sum(g["us"] for g in groups.values()) or 1.0
    rows = [KernelRow(name, ", ".join(sorted(g["kernels"]))[:160], g["launches"], g["us"] / 1e3, g["us"] / total,
                      g["flops"], g["bytes"], g["flops"] / (g["us"] * 1e6) if g["us"] and g["flops"] else None,
                      g["bytes"] / (g["us"] * 1e3) if g["us"] and g["bytes"] else None, g["tc"])
            for name, g in groups.items()]
    return sorted(rows, key=lambda r: -r.ms_per_call)


def profile_build(run, mod, cuda_src: str | None = None, calls: int = 5, flops: dict | None = None) -> dict:
    """The per-kernel profile of one build: ``trace`` then ``attribute`` against ``call_plan(mod)``.

    ``run``: one synchronized call of the build's ``main``; ``mod``: its scheduled module.
    Returns the trace summary plus ``rows`` (KernelRow dicts, slowest first), or ``unavailable``.
    """
    traced = trace(run, calls=calls)
    if not traced.get("available"):
        return traced
    plan = call_plan(mod, cuda_src, flops)
    rows = attribute(traced.pop("kernels"), plan)
    launches = sum(r.launches_per_call for r in rows)
    return {**traced, "rows": [r.to_dict() for r in rows], "launches_per_call": launches,
            "cuda_graphs": traced["graph_launches_per_call"] > 0,
            "method": "torch.profiler (CUPTI), kernels of the last of "
                      f"{calls} profiled calls after 20 warm-up calls, attributed to main's calls in order"}
