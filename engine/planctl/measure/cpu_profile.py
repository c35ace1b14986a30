"""Per-kernel CPU profile of a built artifact: where each call's time goes, from TVM's VM.

TVM 0.27's Relax VM has no ``profile`` entry point any more; its instrumentation hook
(``VirtualMachine.set_instrument``) is called before and after every ``Call`` instruction of the
VM's bytecode: each kernel (a PrimFunc, by its symbol) and each VM builtin (``vm.builtin.*``:
storage and tensor allocations, shape checks, tuple and reshape helpers). Timing both sides of
each call with ``time.perf_counter_ns`` gives per call of ``main``: the time of each kernel, its
share of the instrumented call, its launches, and its GFLOP/s where the kernel's FLOPs are known
(``planctl.lowering.flops``: TVM's estimate, counted before the build); and how many allocations
the VM makes per call (after static memory planning they come from the VM's pooled allocator, so
their count is what is left to check, not their time).

The hook costs a Python call on each side of each instruction, so the instrumented call is longer
than a plain one: the profile reports both (``instrumented_ms`` and ``plain_ms``, medians) and the
rows' shares are of the instrumented call's kernel time. Run as
``python -m planctl.measure.cpu_profile OUT_DIR`` to print the profile of an emitted artifact.
"""
from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass

__all__ = ["CpuKernelRow", "profile_vm", "profile_artifact", "ALLOCATING_BUILTINS"]

# VM builtins that allocate (storage from the VM's allocator, or a tensor view or fresh tensor on it)
ALLOCATING_BUILTINS = ("vm.builtin.alloc_storage", "vm.builtin.alloc_tensor")
WARMUP_CALLS = 5
MIN_CALLS = 3   # under a time budget: still a median of three, never a single call


@dataclass
class CpuKernelRow:
    name: str          # PrimFunc symbol, or the VM builtin's name
    kind: str          # "kernel" | "builtin"
    launches_per_call: float
    ms_per_call: float
    share: float       # of the instrumented call's time in kernels and builtins
    flops_per_call: float
    gflops: float | None

    def to_dict(self) -> dict:
        return asdict(self)


# TVM's SplitLayoutRewritePreproc (weight prepacking, applied after tuning) renames each kernel whose
# weight layout it splits out to ``<name>_prepacked``; its FLOPs are those of ``<name>``
RENAMED_SUFFIXES = ("_prepacked",)


def _flops_by_kernel(flops: dict | None) -> dict[str, float]:
    return {k["name"]: float(k.get("flops", 0.0)) for k in (flops or {}).get("kernels", [])}


def _kernel_flops(per_kernel: dict[str, float], symbol: str) -> float:
    """The FLOPs counted before the build for kernel ``symbol`` (0.0 when unknown)."""
    if symbol in per_kernel:
        return per_kernel[symbol]
    for suffix in RENAMED_SUFFIXES:
        if symbol.endswith(suffix):
            return per_kernel.get(symbol[: -len(suffix)], 0.0)
    # a library route's calls (planctl.lowering.cpu_library) are counted per problem size, labelled
    # ``<symbol> M=.. N=.. K=..``; the VM times them under the one symbol
    return sum(f for name, f in per_kernel.items() if name.startswith(symbol + " "))


def profile_vm(vm, args: list, flops: dict | None = None, calls: int = 20, warmup: int = WARMUP_CALLS,
               max_seconds: float | None = None) -> dict:
    """Profile ``vm["main"](*args)``: ``warmup`` plain calls, ``calls`` plain timed calls, then ``calls``
    instrumented calls (each kernel and builtin timed on both sides of its ``Call`` instruction).

    ``vm``: a ``tvm.relax.VirtualMachine`` on the CPU; ``args``: ``main``'s arguments as TVM tensors;
    ``flops``: ``planctl.lowering.flops.workload_flops`` of the module that was built (FLOP per call
    of ``main`` summed over a kernel's launches). Returns ``{"available": True, "rows": [...] slowest
    first, "plain_ms", "instrumented_ms", "kernel_ms", "builtin_ms", "allocations_per_call":
    {builtin: count}, "launches_per_call", "calls", "method"}``. ``max_seconds``: a time budget for
    the whole profile; the first call's time scales ``calls`` (at least :data:`MIN_CALLS`) and
    ``warmup`` down to fit it, so a bucket whose calls take seconds costs seconds, not minutes.
    """
    from tvm import relax

    main = vm["main"]
    start = time.perf_counter_ns()
    main(*args)
    if max_seconds is not None:
        per_call = max((time.perf_counter_ns() - start) / 1e9, 1e-6)
        calls = max(MIN_CALLS, min(calls, int(max_seconds / (2 * per_call))))
        warmup = max(1, min(warmup, int(max_seconds / (4 * per_call))))
    for _ in range(warmup - 1):
        main(*args)
    plain = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        main(*args)
        plain.append((time.perf_counter_ns() - start) / 1e6)

    spent: dict[str, int] = defaultdict(int)
    launches: dict[str, int] = defaultdict(int)
    started: dict[str, int] = {}
    no_op = relax.VMInstrumentReturnKind.NO_OP

    def instrument(_func, symbol, before_run, _ret, *_args):
        now = time.perf_counter_ns()
        if before_run:
            started[symbol] = now
        else:
            spent[symbol] += now - started.pop(symbol, now)
            launches[symbol] += 1
        return no_op

    vm.set_instrument(instrument)
    instrumented = []
    try:
        for _ in range(calls):
            start = time.perf_counter_ns()
            main(*args)
            instrumented.append((time.perf_counter_ns() - start) / 1e6)
    finally:
        vm.set_instrument(_pass_through)
    return summarize(spent, launches, calls, flops, plain, instrumented, warmup)


def _pass_through(*_args):  # set_instrument takes no None; a hook that does nothing
    from tvm import relax

    return relax.VMInstrumentReturnKind.NO_OP


def summarize(spent: dict[str, int], launches: dict[str, int], calls: int, flops: dict | None,
              plain_ms: list[float], instrumented_ms: list[float], warmup: int = WARMUP_CALLS) -> dict:
    """The profile from per-symbol nanoseconds and launch counts summed over ``calls`` calls."""
    per_kernel = _flops_by_kernel(flops)
    total_ns = sum(spent.values()) or 1
    rows = []
    for symbol, ns in spent.items():
        kind = "builtin" if symbol.startswith("vm.builtin.") or "." in symbol else "kernel"
        ms = ns / 1e6 / calls
        work = _kernel_flops(per_kernel, symbol)
        rows.append(CpuKernelRow(symbol, kind, launches[symbol] / calls, ms, ns / total_ns, work,
                                 work / (ms * 1e6) if work and ms else None))
    rows.sort(key=lambda r: -r.ms_per_call)
    allocations = {name: launches[name] / calls for name in sorted(launches) if name in ALLOCATING_BUILTINS}
    kernel_ms = sum(r.ms_per_call for r in rows if r.kind == "kernel")
    return {"available": True, "calls": calls, "rows": [r.to_dict() for r in rows],
            "plain_ms": statistics.median(plain_ms), "instrumented_ms": statistics.median(instrumented_ms),
            "kernel_ms": kernel_ms, "builtin_ms": sum(r.ms_per_call for r in rows if r.kind == "builtin"),
            "kernel_gflops": (sum(r.flops_per_call for r in rows) / (kernel_ms * 1e6)
                              if kernel_ms and per_kernel else None),
            "allocations_per_call": allocations,
            "launches_per_call": sum(r.launches_per_call for r in rows if r.kind == "kernel"),
            "method": f"TVM VM instrument (set_instrument) around each Call instruction, summed over {calls} "
                      f"calls after {warmup} warm-up calls; medians of {calls} plain calls beside them"}


def profile_artifact(library, input_names: list[str], inputs: dict, flops: dict | None = None,
                     calls: int = 20, max_seconds: float | None = None) -> dict:
    """:func:`profile_vm` of an exported library (``.so`` path) or a ``VMExecutable`` on the CPU."""
    import os

    import tvm
    from tvm import relax

    executable = tvm.runtime.load_module(str(library)) if isinstance(library, (str, os.PathLike)) else library
    vm = relax.VirtualMachine(executable, tvm.cpu())
    args = [tvm.runtime.tensor(inputs[name], device=tvm.cpu()) for name in input_names]
    return profile_vm(vm, args, flops, calls=calls, max_seconds=max_seconds)


def _main(argv: list[str]) -> None:
    """``python -m planctl.measure.cpu_profile OUT_DIR [CALLS]``: profile OUT_DIR's promoted artifact
    on the plan's example inputs (seed 0) and print the profile as JSON."""
    import json
    from pathlib import Path

    import numpy as np

    out = Path(argv[0])
    manifest = json.loads((out / "manifest.json").read_text())
    report = json.loads((out / "report.json").read_text())
    flops = (report.get("builds") or [{}])[0].get("flops")
    rng = np.random.default_rng(0)
    inputs = {}
    for spec in manifest["inputs"]:
        domain = spec["domain"]
        if domain.get("kind") == "integer-range":
            inputs[spec["name"]] = rng.integers(domain["min"], domain["max"] + 1, size=spec["shape"]).astype(spec["dtype"])
        else:
            inputs[spec["name"]] = np.ones(spec["shape"], dtype=spec["dtype"])
    found = profile_artifact(out / manifest["artifact"], manifest["input_names"], inputs, flops,
                             calls=int(argv[1]) if len(argv) > 1 else 20)
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
