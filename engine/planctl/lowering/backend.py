"""TVM's backend for a target: its pass lists, dlight's default GPU schedules, and the final
``relax.build`` of a scheduled module.

The layer under :mod:`planctl.lowering.build` (candidate builds) and the modules that build probe
kernels of their own (planctl.lowering.cuda_library times a library call against TVM's kernel with
the same final build), so neither needs the other's technique handling.
"""
from __future__ import annotations

from typing import Sequence


def backend_pipeline(target):
    """TVM's per-backend pass lists (``tvm.relax.backend.<name>.pipeline``).

    Imported from the submodule because 0.27's ``relax.pipeline.dataflow_lower_passes`` reaches
    ``backend.cpu_generic.dataflow_lower_passes``, which that package's ``__init__`` does not export.
    """
    import importlib

    name = {"llvm": "cpu_generic", "cuda": "cuda", "rocm": "rocm"}.get(target.kind.name, "gpu_generic")
    return importlib.import_module(f"tvm.relax.backend.{name}.pipeline")


def is_gpu(target) -> bool:
    return "gpu" in [str(k) for k in target.keys]


def dlight_schedules(target):
    """A module pass: TVM's dlight default GPU schedules for every function not yet scheduled.

    They run under ``target`` with the arch's feature suffix dropped (``sm_90a`` -> ``sm_90``):
    dlight's Matmul rule uses tensor cores only when ``check_sm_version(arch) >= 70``, and that
    function (tvm/s_tir/dlight/gpu/matmul.py) returns -1 for an arch that is not all digits, so on
    ``sm_90a`` every fp16 matmul was scheduled without tensor cores (no mma in the CUDA source).
    Code generation still uses ``target`` itself.
    """
    import re

    import tvm
    from tvm.s_tir import dlight as dl

    rules = dl.ApplyDefaultSchedule(dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(),
                                    dl.gpu.GeneralReduction(), dl.gpu.Fallback())
    arch = str(target.attrs.get("arch", ""))
    plain = re.sub(r"^(sm_\d+)[a-z]$", r"\1", arch)
    schedule_target = target if plain == arch else tvm.target.Target({**dict(target.export()), "arch": plain})

    @tvm.transform.module_pass(opt_level=0, name="planctl.DlightSchedules")
    def apply(mod, _ctx):
        with schedule_target:
            return rules(mod)
    return apply


def compile_scheduled(mod, target, config: dict | None = None, disabled_passes: Sequence[str] = (),
                      instruments: Sequence = ()):
    """``relax.build`` of a legalized, scheduled module with TVM's dataflow-lowering and finalize
    passes of ``target``'s backend (dlight schedules first on GPU targets); ``config``: PassContext
    config (e.g. ``relax.backend.use_cuda_graph``); ``disabled_passes``: TVM pass names left out;
    ``instruments``: PassInstruments that see its passes. Returns a VMExecutable; raises TVM's errors unchanged."""
    import tvm
    from tvm import relax

    backend = backend_pipeline(target)
    finish = [*backend.dataflow_lower_passes(target), *backend.finalize_passes(target)]
    if is_gpu(target):
        finish = [dlight_schedules(target), *finish]
    pipeline = tvm.transform.Sequential(finish)
    with target, tvm.transform.PassContext(opt_level=3, config=config or {}, disabled_pass=list(disabled_passes),
                                           instruments=list(instruments)):
        return relax.build(mod, target=target, relax_pipeline=pipeline)


def cuda_source(executable) -> str | None:
    """The CUDA C source of a built executable's device module (None when it is not kept: a
    loaded library keeps only the binary, unless planctl.lowering.cuda_library kept it aside)."""
    kept = getattr(executable, "cuda_source", None)
    if kept:
        return kept
    mod = getattr(executable, "mod", executable)

    def walk(m):
        try:
            if m.kind == "cuda":
                return m.inspect_source() or None
        except Exception:  # noqa: BLE001 - a loaded module may keep only the binary
            return None
        for sub in m.imports:
            found = walk(sub)
            if found:
                return found
        return None
    return walk(mod)
