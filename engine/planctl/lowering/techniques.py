"""The technique registry: plan technique name → the TVM passes that implement it.

Explicit registry (decorator → dict), so ``planctl plan`` can list what ``apply`` would run and the
rules can see which techniques apply knows how to lower. A technique's ``stage`` orders it:
``graph`` passes run in plan order on the imported Relax module, ``dispatch`` ones then route
op chains to library calls or hand-written kernels (before legalization), ``lowering`` ones shape the
legalize/fuse step, ``tuning`` the schedule search, ``build`` the final lowering; ``serving``
techniques are configuration that apply records, not passes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from planctl.errors import LoweringError


@dataclass(frozen=True)
class TechniqueImpl:
    name: str
    stage: str  # graph | dispatch | lowering | tuning | build | serving
    passes: Callable  # (technique_model, target) -> list[tvm.transform.Pass]
    doc: str


REGISTRY: dict[str, TechniqueImpl] = {}


def technique(name: str, stage: str):
    def register(fn):
        REGISTRY[name] = TechniqueImpl(name, stage, fn, (fn.__doc__ or "").strip())
        return fn
    return register


@technique("constant-folding", "graph")
def _constant_folding(_t, _target):
    """relax.transform.FoldConstant: evaluates subgraphs whose inputs are all constants."""
    from tvm import relax
    return [relax.transform.FoldConstant()]


@technique("dead-code-elimination", "graph")
def _dce(_t, _target):
    """relax.transform.DeadCodeElimination: removes bindings and functions nothing uses."""
    from tvm import relax
    return [relax.transform.DeadCodeElimination()]


@technique("common-subexpression-elimination", "graph")
def _cse(_t, _target):
    """relax.transform.EliminateCommonSubexpr: binds repeated pure expressions once."""
    from tvm import relax
    return [relax.transform.EliminateCommonSubexpr()]


@technique("fast-math", "graph")
def _fast_math(_t, _target):
    """FastMathTransform extended to GELU (planctl.lowering.fast_math): vectorizable exp/erf/tanh."""
    from planctl.lowering.fast_math import fast_math_pass
    return [fast_math_pass()]


@technique("mixed-precision", "graph")
def _mixed_precision(t, _target):
    """relax.transform.ToMixedPrecision: weights and activations in float16, accumulation in
    ``accumulate`` (float32), softmax/layer norm/reductions left in float32 by TVM's op policy."""
    from tvm import relax
    if t.precision.activations != "float16" or t.precision.weights != "float16":
        raise LoweringError(
            f"mixed-precision to {t.precision.weights}/{t.precision.activations}: TVM 0.27's "
            "ToMixedPrecision only produces float16", hint="use weights: float16, activations: float16")
    return [relax.transform.ToMixedPrecision(out_dtype=t.accumulate)]


@technique("operator-fusion", "lowering")
def _fusion(_t, _target):
    """FuseOps + FuseTIR after legalization: producer-consumer regions become one kernel."""
    from tvm import relax
    return [relax.transform.FuseOps(), relax.transform.FuseTIR()]


@technique("autotuning", "tuning")
def _autotuning(_t, _target):
    """MetaSchedule search of each fused kernel within the budget; MetaScheduleApplyDatabase."""
    return []


@technique("static-memory-planning", "build")
def _static_memory(_t, _target):
    """relax.transform.StaticPlanBlockMemory (part of every build's finalize passes)."""
    return []


@technique("cuda-graphs", "build")
def _cuda_graphs(_t, _target):
    """relax.transform.RewriteCUDAGraph: capture static launch sequences (CUDA targets)."""
    return []


@technique("library-dispatch", "dispatch")
def _library_dispatch(t, target):
    """Dense matmuls (+ bias, + residual) to cuBLASLt through R.call_dps_packed where measured faster
    (planctl.lowering.cuda_library); the decisions go to the record's kernel routes."""
    _require_cuda(target, "library-dispatch")
    from planctl.lowering.cuda_library import library_dispatch_pass
    return [library_dispatch_pass(target, measure_on_device=t.select == "measured",
                                  gelu_tanh=t.gelu == "tanh-approximation")]


@technique("fused-attention", "dispatch")
def _fused_attention(_t, target):
    """softmax(Q.K^T * scale + mask) . V as one TIR kernel per attention (planctl.lowering.cuda_attention)."""
    _require_cuda(target, "fused-attention")
    from planctl.lowering.cuda_attention import fused_attention_pass
    return [fused_attention_pass()]


@technique("fused-layer-norm", "dispatch")
def _fused_layer_norm(_t, target):
    """layer_norm and its float16 cast as one TIR kernel writing both (planctl.lowering.cuda_layer_norm)."""
    _require_cuda(target, "fused-layer-norm")
    from planctl.lowering.cuda_layer_norm import fused_layer_norm_pass
    return [fused_layer_norm_pass()]


def _require_cuda(target, name: str) -> None:
    if target.kind.name != "cuda":
        raise LoweringError(f"technique '{name}' needs a CUDA target, not '{target.kind.name}'",
                            hint="disable it for this target (enabled: false) or plan it for a CUDA target only")


for _serving in ("continuous-batching", "prefix-caching", "speculative-decoding"):
    REGISTRY[_serving] = TechniqueImpl(_serving, "serving", lambda _t, _g: [],
                                       "serving-layer configuration, emitted, not lowered")


def enabled_techniques(plan_spec) -> list:
    """The plan's techniques whose ``enabled`` switch is on, in plan order.

    Raises LoweringError for a technique planctl apply cannot lower yet (named, with a hint).
    """
    chosen = [t for t in plan_spec.optimizations if t.enabled]
    for t in chosen:
        if t.technique not in REGISTRY:
            raise LoweringError(
                f"technique '{t.technique}' is not lowered by planctl apply yet",
                hint=f"disable it for this apply (enabled: false); lowered techniques: {', '.join(sorted(REGISTRY))}")
    return chosen


def passes_for(techniques, stage: str, target) -> list:
    return [p for t in techniques if REGISTRY[t.technique].stage == stage
            for p in REGISTRY[t.technique].passes(t, target)]


def has(techniques, name: str) -> bool:
    return any(t.technique == name for t in techniques)
