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

from planctl.documents.techniques import enabled
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


@technique("horizontal-fusion", "graph")
def _horizontal_fusion(_t, _target):
    """planctl.HorizontalFusion: matmuls reading the same input through constant weights (Q, K, V)
    become one matmul over the concatenated weights and one slice per projection
    (planctl.lowering.horizontal)."""
    from planctl.lowering.horizontal import horizontal_fusion_pass
    return [horizontal_fusion_pass()]


@technique("fast-math", "graph")
def _fast_math(_t, _target):
    """FastMathTransform extended to GELU (planctl.lowering.fast_math): vectorizable exp/erf/tanh."""
    from planctl.lowering.fast_math import fast_math_pass
    return [fast_math_pass()]


@technique("mixed-precision", "graph")
def _mixed_precision(t, _target):
    """relax.transform.ToMixedPrecision: weights and activations in float16, accumulation in
    ``accumulate`` (float32); then planctl.KeepFloat32 computes ``keep_fp32_ops`` in float32."""
    from tvm import relax

    from planctl.lowering.mixed_precision import keep_float32
    if t.precision.activations != "float16" or t.precision.weights != "float16":
        raise LoweringError(
            f"mixed-precision to {t.precision.weights}/{t.precision.activations}: TVM 0.27's "
            "ToMixedPrecision only produces float16", hint="use weights: float16, activations: float16")
    return [relax.transform.ToMixedPrecision(out_dtype=t.accumulate), keep_float32(t.keep_fp32_ops)]


@technique("quantization", "graph")
def _quantization(t, target):
    """planctl.Quantize: each matmul with a constant weight becomes int8 weights, an activation
    quantize kernel, an int8 dot-product matmul with int32 accumulation (AVX-512 VNNI, AVX-512 BW or
    AVX2 by the target) and a dequantize epilogue; ``keep_float`` operators stay float32
    (planctl.lowering.quantize)."""
    from planctl.lowering.quantize import quantization_pass
    return [quantization_pass(t, target)]


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
    """relax.transform.StaticPlanBlockMemory (in every build's finalize passes; ``enabled: false``
    takes it out)."""
    return []


@technique("cuda-graphs", "build")
def _cuda_graphs(_t, _target):
    """relax.transform.RewriteCUDAGraph: capture static launch sequences (CUDA targets)."""
    return []


@technique("library-dispatch", "dispatch")
def _library_dispatch(t, target):
    """Dense matmuls (+ bias, + residual) to a GEMM library through R.call_dps_packed: cuBLASLt where
    measured faster on CUDA (planctl.lowering.cuda_library), OpenBLAS's sgemm on CPU targets
    (planctl.lowering.cpu_library); the decisions go to the record's kernel routes."""
    wanted = "openblas" if target.kind.name == "llvm" else "cublaslt"
    if t.libraries is not None and wanted not in t.libraries:
        raise LoweringError(f"technique 'library-dispatch' lists {', '.join(t.libraries)}; a "
                            f"{target.kind.name} target's route calls {wanted}",
                            hint=f"add {wanted} to `libraries`, or leave `libraries` out for the target's library")
    if target.kind.name == "llvm":
        from planctl.lowering.cpu_library import library_dispatch_pass as cpu_pass
        return [cpu_pass()]
    _require_cuda(target, "library-dispatch")
    from planctl.lowering.cuda_library import library_dispatch_pass
    return [library_dispatch_pass(target, measure_on_device=t.select == "measured",
                                  gelu_tanh=t.gelu == "tanh-approximation")]


@technique("fused-attention", "dispatch")
def _fused_attention(_t, target):
    """softmax(Q.K^T * scale + mask) . V as one TIR kernel per attention: CUDA
    (planctl.lowering.cuda_attention) or CPU (planctl.lowering.cpu_attention) targets."""
    if target.kind.name == "llvm":
        from planctl.lowering.cpu_attention import fused_attention_pass as cpu_pass
        return [cpu_pass(target)]
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


# TVM passes every build runs that a plan switches off by listing their technique with
# ``enabled: false`` (a technique left out of the plan keeps TVM's default)
DEFAULT_PASSES = {"static-memory-planning": ("StaticPlanBlockMemory",)}


def enabled_techniques(plan_spec) -> list:
    """The plan's techniques whose ``enabled`` switch is on, in plan order.

    Raises LoweringError for a technique planctl apply cannot lower yet (named, with a hint).
    """
    chosen = enabled(plan_spec)
    for t in chosen:
        if t.technique not in REGISTRY:
            raise LoweringError(
                f"technique '{t.technique}' is not lowered by planctl apply yet",
                hint=f"disable it for this apply (enabled: false); lowered techniques: {', '.join(sorted(REGISTRY))}")
    return chosen


def disabled_passes(plan_spec) -> list[str]:
    """Names of the default TVM passes the plan switches off (:data:`DEFAULT_PASSES`), for
    ``PassContext(disabled_pass=...)``."""
    return [name for t in plan_spec.optimizations if not t.enabled for name in DEFAULT_PASSES.get(t.technique, ())]


def check_techniques(plan, techniques) -> None:
    """Refuse, at their line in the plan document, settings of the enabled ``techniques`` that
    apply could not honour: a ``keep_fp32_ops`` name that is no Relax operator, and cuda-graphs
    with static memory planning switched off (RewriteCUDAGraph captures only planned storage).
    Raises LoweringError."""
    from planctl.documents.references import position
    from planctl.lowering.mixed_precision import relax_op_name

    spec = plan.model.spec
    for i, t in enumerate(spec.optimizations):
        if not any(t is chosen for chosen in techniques):
            continue
        for j, name in enumerate(getattr(t, "keep_fp32_ops", None) or []):
            if relax_op_name(name) is None:
                raise LoweringError(f"keep_fp32_ops: '{name}' is not a Relax operator",
                                    file=str(plan.path), **position(plan, f"/spec/optimizations/{i}/keep_fp32_ops/{j}"),
                                    hint="name operators as Relax does without the namespace: softmax, "
                                         "layer_norm, sum, mean, ...")
        if t.technique == "cuda-graphs" and "StaticPlanBlockMemory" in disabled_passes(spec):
            raise LoweringError("cuda-graphs needs static-memory-planning, which the plan disables",
                                file=str(plan.path), **position(plan, f"/spec/optimizations/{i}"),
                                hint="enable static-memory-planning, or disable cuda-graphs")


def describe_techniques(plan_spec, tvm_target=None) -> list[dict]:
    """Each technique of the plan: ``{technique, enabled, stage, doc[, passes | passes_error]}``;
    the TVM pass names when ``tvm_target`` is given (what ``planctl plan`` lists)."""
    out = []
    for t in plan_spec.optimizations:
        impl = REGISTRY.get(t.technique)
        entry = {"technique": t.technique, "enabled": t.enabled,
                 "stage": impl.stage if impl else "not lowered by apply", "doc": impl.doc if impl else ""}
        if impl is not None and tvm_target is not None and t.enabled:
            try:
                entry["passes"] = [p.info.name for p in impl.passes(t, tvm_target)]
            except Exception as exc:  # noqa: BLE001 - a pass that cannot be built is shown, not fatal
                entry["passes_error"] = f"{type(exc).__name__}: {exc}"
        out.append(entry)
    return out


def passes_for(techniques, stage: str, target) -> list:
    return [p for t in techniques if REGISTRY[t.technique].stage == stage
            for p in REGISTRY[t.technique].passes(t, target)]


def has(techniques, name: str) -> bool:
    return any(t.technique == name for t in techniques)
