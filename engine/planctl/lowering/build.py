"""Baseline and candidate builds.

- baseline: the imported module through ``tvm.compile`` (TVM's default pipeline, no plan technique).
- candidate: the plan's graph passes in order, then its dispatch techniques (CUDA kernel routes),
  then legalization (and fusion when the plan asks), then the tuned schedules from the database,
  then TVM's own dataflow-lowering and finalize passes (the same lists ``tvm.compile`` uses, from
  ``relax.pipeline``), built with ``relax.build`` (planctl.lowering.backend).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from planctl.documents.techniques import autotuning
from planctl.lowering import techniques as tech
from planctl.lowering.backend import backend_pipeline, compile_scheduled, dlight_schedules, is_gpu
from planctl.lowering.cuda_library import linked_executable, read_routes, uses_extension
from planctl.lowering.instrument import PassRecord, make_recorder

__all__ = ["LoweredCandidate", "apply_database", "backend_pipeline", "build_baseline", "build_candidate",
           "dlight_schedules", "is_gpu", "lower_candidate", "make_target", "prepack_passes"]


@dataclass
class LoweredCandidate:
    """The candidate module ready for tuning: ``mod`` is legalized (and fused), ``passes`` the evidence."""

    mod: object
    passes: list[PassRecord] = field(default_factory=list)
    routes: list[dict] = field(default_factory=list)  # kernel routes of the dispatch techniques


def make_target(tvm_dict: dict):
    import tvm

    host = tvm_dict.get("host")
    spec = {k: v for k, v in tvm_dict.items() if k != "host"}
    return tvm.target.Target(spec, host=host) if host else tvm.target.Target(spec)


def build_baseline(mod, target, instruments: Sequence = ()):
    """TVM's default build of the imported module (``tvm.compile``); returns a VMExecutable.
    ``instruments``: PassInstruments that see its passes (under TVM's default PassContext settings)."""
    import tvm

    with tvm.transform.PassContext(instruments=list(instruments)):
        return tvm.compile(mod, target)


def lower_candidate(mod, target, techniques, instruments: Sequence = ()) -> LoweredCandidate:
    """Run the plan's passes in order under a PassContext with the per-pass recorder (and
    ``instruments``, e.g. planctl.lowering.failures.pass_tracker)."""
    import tvm
    from tvm import relax

    records: list[PassRecord] = []
    graph = tech.passes_for(techniques, "graph", target)
    dispatch = tech.passes_for(techniques, "dispatch", target)  # library GEMMs, fused attention
    legalize = [*backend_pipeline(target).library_dispatch_passes(target), relax.transform.LegalizeOps(),
                relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant()]
    fuse = tech.passes_for(techniques, "lowering", target) + prepack_passes(techniques)[:PREPACK_BEFORE_TUNING]
    with target, tvm.transform.PassContext(opt_level=3, instruments=[make_recorder(records), *instruments]):
        for p in [*graph, *dispatch]:
            mod = p(mod)
        routes = read_routes(mod)
        for p in [*legalize, *fuse]:
            mod = p(mod)
    return LoweredCandidate(mod=mod, passes=records, routes=routes)


PREPACK_BEFORE_TUNING = 2  # prepack_passes: how many of them run before tuning


def prepack_passes(techniques) -> list:
    """[before tuning..., after tuning...] passes of weight prepacking, or [] when the plan has none.
    Before tuning: mark constant operands layout-free, except a gather's table
    (planctl.lowering.gathers.keep_gather_layouts); after: split the layout rewrites out and fold them.

    Weights are Relax constants here, so the layout transforms that SplitLayoutRewritePreproc
    splits out are folded into new constants by FoldConstant (no ``main_transform_params``).
    """
    from tvm import relax

    tuning = autotuning(techniques)
    if tuning is None or not tuning.prepack_weights:
        return []
    from planctl.lowering.gathers import keep_gather_layouts

    return [relax.transform.AttachAttrLayoutFreeBuffers(), keep_gather_layouts(),
            relax.transform.SplitLayoutRewritePreproc(), relax.transform.FoldConstant()]


def apply_database(mod, target, database, instruments: Sequence = ()):
    """Swap in the database's best schedule for each PrimFunc; returns (mod, scheduled, total)
    (scheduled: the kernels marked ``tirx.is_scheduled``, by a record or written by hand)."""
    import tvm
    from tvm import relax, tirx

    from planctl.lowering import int8_kernels

    int8_kernels.register()  # records of int8 kernels replay their tensor intrinsics
    with target, database, tvm.transform.PassContext(opt_level=3, instruments=list(instruments)):
        mod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)
    funcs = [f for f in mod.functions.values() if isinstance(f, tirx.PrimFunc)]
    return mod, len(funcs) - len(unscheduled(mod)), len(funcs)


def unscheduled(mod) -> list[str]:
    """The names of ``mod``'s PrimFuncs without ``tirx.is_scheduled`` (TVM's default schedule), sorted."""
    from tvm import tirx

    return sorted(gv.name_hint for gv, f in mod.functions.items()
                  if isinstance(f, tirx.PrimFunc) and (f.attrs is None or "tirx.is_scheduled" not in f.attrs))


def _run_beside_blockless_kernels(mod, passes):
    """Run ``passes`` on ``mod`` less its hand-written PrimFuncs without a root block
    (planctl.lowering.cpu_attention), then put those back.

    Why: TVM's SplitLayoutRewritePreproc (weight prepacking) visits every PrimFunc of the module
    and stops with "The body of the primfunc should be a root block" on one without
    (split_tir_layout_rewrite.cc); such a kernel has no layout rewrite to split out anyway."""
    import tvm
    from tvm import tirx

    hidden = {gv: f for gv, f in mod.functions.items()
              if isinstance(f, tirx.PrimFunc) and type(f.body).__name__ != "SBlockRealize"}
    if hidden:
        mod = tvm.IRModule({g: f for g, f in mod.functions.items() if g not in hidden}, attrs=mod.attrs)
    for p in passes:
        mod = p(mod)
    for gv, func in hidden.items():
        mod[gv] = func
    return mod


def build_candidate(mod, target, techniques, disabled_passes: Sequence[str] = (), instruments: Sequence = ()):
    """Lower a scheduled module to a VMExecutable (dlight fallback schedules on GPU targets);
    ``disabled_passes``: TVM pass names left out (planctl.lowering.techniques.disabled_passes).
    A module with library routes (planctl.lowering.cuda_library) comes back linked, so the
    in-memory build runs as shipped."""
    import tvm

    with target, tvm.transform.PassContext(opt_level=3, instruments=list(instruments)):
        mod = _run_beside_blockless_kernels(mod, prepack_passes(techniques)[PREPACK_BEFORE_TUNING:])
    # RewriteCUDAGraph is in TVM's CUDA finalize passes and acts only under this config
    config = {"relax.backend.use_cuda_graph": True} if tech.has(techniques, "cuda-graphs") else {}
    executable = compile_scheduled(mod, target, config=config, disabled_passes=disabled_passes,
                                   instruments=instruments)
    # library routes are C++ compiled at export: link now so the in-memory build runs as shipped
    return linked_executable(executable, needs_cuda=is_gpu(target)) if uses_extension(mod) else executable
