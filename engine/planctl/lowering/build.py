"""Baseline and candidate builds.

- baseline: the imported module through ``tvm.compile`` (TVM's default pipeline, no plan technique).
- candidate: the plan's graph passes in order, then legalization (and fusion when the plan asks),
  then the tuned schedules from the database, then TVM's own dataflow-lowering and finalize passes
  (the same lists ``tvm.compile`` uses, from ``relax.pipeline``), built with ``relax.build``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from planctl.documents.techniques import autotuning
from planctl.lowering import techniques as tech
from planctl.lowering.instrument import PassRecord, make_recorder


@dataclass
class LoweredCandidate:
    """The candidate module ready for tuning: ``mod`` is legalized (and fused), ``passes`` the evidence."""

    mod: object
    passes: list[PassRecord] = field(default_factory=list)


def make_target(tvm_dict: dict):
    import tvm

    host = tvm_dict.get("host")
    spec = {k: v for k, v in tvm_dict.items() if k != "host"}
    return tvm.target.Target(spec, host=host) if host else tvm.target.Target(spec)


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


def build_baseline(mod, target):
    """TVM's default build of the imported module (``tvm.compile``); returns a VMExecutable."""
    import tvm

    return tvm.compile(mod, target)


def lower_candidate(mod, target, techniques) -> LoweredCandidate:
    """Run the plan's passes in order under a PassContext with the per-pass recorder."""
    import tvm
    from tvm import relax

    records: list[PassRecord] = []
    graph = tech.passes_for(techniques, "graph", target)
    legalize = [*backend_pipeline(target).library_dispatch_passes(target), relax.transform.LegalizeOps(),
                relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant()]
    fuse = tech.passes_for(techniques, "lowering", target) + prepack_passes(techniques)[:1]
    with target, tvm.transform.PassContext(opt_level=3, instruments=[make_recorder(records)]):
        for p in [*graph, *legalize, *fuse]:
            mod = p(mod)
    return LoweredCandidate(mod=mod, passes=records)


def prepack_passes(techniques) -> list:
    """[before tuning, after tuning...] passes of weight prepacking, or [] when the plan has none.

    Weights are Relax constants here, so the layout transforms that SplitLayoutRewritePreproc
    splits out are folded into new constants by FoldConstant (no ``main_transform_params``).
    """
    from tvm import relax

    tuning = autotuning(techniques)
    if tuning is None or not tuning.prepack_weights:
        return []
    return [relax.transform.AttachAttrLayoutFreeBuffers(), relax.transform.SplitLayoutRewritePreproc(),
            relax.transform.FoldConstant()]


def apply_database(mod, target, database):
    """Swap in the database's best schedule for each PrimFunc; returns (mod, scheduled, total)."""
    import tvm
    from tvm import relax, tirx

    from planctl.lowering import int8_kernels

    int8_kernels.register()  # records of int8 kernels replay their tensor intrinsics
    with target, database, tvm.transform.PassContext(opt_level=3):
        mod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)
    funcs = [f for f in mod.functions.values() if isinstance(f, tirx.PrimFunc)]
    scheduled = sum(1 for f in funcs if f.attrs is not None and "tirx.is_scheduled" in f.attrs)
    return mod, scheduled, len(funcs)


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


def build_candidate(mod, target, techniques, disabled_passes: Sequence[str] = ()):
    """Lower a scheduled module to a VMExecutable (dlight fallback schedules on GPU targets);
    ``disabled_passes``: TVM pass names left out (planctl.lowering.techniques.disabled_passes)."""
    import tvm
    from tvm import relax

    with target, tvm.transform.PassContext(opt_level=3):
        for p in prepack_passes(techniques)[1:]:
            mod = p(mod)
    backend = backend_pipeline(target)
    finish = [*backend.dataflow_lower_passes(target), *backend.finalize_passes(target)]
    if is_gpu(target):
        finish = [dlight_schedules(target), *finish]
    # RewriteCUDAGraph is in TVM's CUDA finalize passes and acts only under this config
    config = {"relax.backend.use_cuda_graph": True} if tech.has(techniques, "cuda-graphs") else {}
    pipeline = tvm.transform.Sequential(finish)
    with target, tvm.transform.PassContext(opt_level=3, config=config, disabled_pass=list(disabled_passes)):
        return relax.build(mod, target=target, relax_pipeline=pipeline)
