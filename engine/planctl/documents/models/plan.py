"""The ``OptimizationPlan`` document (``plans/*.yaml``).

One plan = one workload, the measured bottleneck it targets, the layer that owns it, the techniques
applied in order, the correctness envelope, the fallback switch and the targets. Field names follow
the field's optimization checklist (bottleneck, envelope, parity, p50/p99, TTFT/TPOT).
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, StringConstraints

from planctl.documents.models.common import (ENV_VAR_PATTERN, ApiVersion, Date, Float, Frozen, Int,
                                             Metadata, Name, NonNegativeFloat, PositiveFloat,
                                             PositiveInt, RepoPath, Seed, Sha256)
from planctl.documents.models.target import DType

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.:/\-]*$", max_length=256)]
DimName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]


# ---------------------------------------------------------------- workload
DataSha256 = dict[Annotated[str, StringConstraints(min_length=1, max_length=4096)], Sha256]


class ModelRef(Frozen):
    """The model file (repository-relative) and its sha256; the sha256 of each file the model
    stores tensors in (ONNX external data, e.g. ``model.onnx.data``: the ``.onnx`` file's digest
    does not cover its weights); optionally a ``module:function`` that returns a
    ``torch.export.ExportedProgram`` (named, never evaluated by validate or check)."""

    onnx: RepoPath
    sha256: Sha256
    data_sha256: DataSha256 | None = Field(
        default=None, description="external data file (its `location` in the model, relative to the model's "
                                  "folder) -> its sha256; required when the model stores tensors outside the "
                                  ".onnx file (rule PLN216)")
    torch_export: Annotated[str, StringConstraints(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")] | None = None


class IntegerRange(Frozen):
    """Integers in ``[min, max]`` inclusive (token ids: ``[0, vocab_size - 1]``)."""

    kind: Literal["integer-range"]
    min: Int
    max: Int


class FloatRange(Frozen):
    """Floats in ``[min, max]``; NaN, ±Inf and subnormals are excluded unless allowed."""

    kind: Literal["float-range"]
    min: Float
    max: Float
    allow_nan: bool = False
    allow_infinity: bool = False
    allow_subnormal: bool = False


class Enumerated(Frozen):
    """A fixed set of values."""

    kind: Literal["enum"]
    values: list[Union[Float, Int]] = Field(min_length=1)


class AttentionMask(Frozen):
    """An attention mask: ones for the first ``length`` positions of each row, zeros after
    (right padding), with ``length`` at least ``min_length``."""

    kind: Literal["attention-mask"]
    min_length: PositiveInt = 1


Domain = Annotated[Union[IntegerRange, FloatRange, Enumerated, AttentionMask], Field(discriminator="kind")]


class InputSpec(Frozen):
    """One model input: ``shape`` mixes integers and named symbolic dims (``[batch, 128]``)."""

    name: Identifier
    dtype: DType
    shape: list[Union[PositiveInt, DimName]] = Field(min_length=0, max_length=16)
    domain: Domain
    pad: Union[Int, Float, None] = Field(None, description=(
        "The value the runtime writes into the positions it adds when it pads a call up to its "
        "shape bucket (the tokenizer's pad token id for token ids); the attention mask marks them "
        "0, so they must not change the outputs (apply checks that). Attention masks pad with 0 and "
        "need none."))


class DimValue(Frozen):
    """One value a symbolic dim takes in production, with the share of calls that meet it: the
    calls whose dim is above the dim's next smaller listed value and at most this one."""

    value: PositiveInt
    share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, description=(
        "fraction of calls, in (0, 1]; the shares of one dim add up to 1"))]


class DimRange(Frozen):
    """Production range of one symbolic dim: ``min <= opt <= max``; ``values`` are the
    representative values seen in production (each inside the range), each a plain number or a
    ``{value, share}`` pair when its share of the traffic is known (shares on every value or on
    none)."""

    min: PositiveInt = Field(description="the smallest size production sends")
    opt: PositiveInt = Field(description="the most frequent size (the bench's and the parity gate's shape)")
    max: PositiveInt = Field(description="the largest size production sends")
    values: list[Union[PositiveInt, DimValue]] = Field(default_factory=list)


class Buckets(Frozen):
    """How apply groups the production shapes into builds (planctl.documents.shapes.choose_buckets):
    at most ``max`` static builds, chosen among the declared dim values to minimise the expected
    padded work of a call over the traffic mix; the runtime pads each call up to the smallest
    bucket that fits it."""

    max: PositiveInt = Field(4, le=16, description="most buckets (builds, tunings, gates) apply makes")


class Telemetry(Frozen):
    """The production measurement that motivated the plan."""

    date: Date
    source: str = Field(min_length=1, description="dashboard, trace or benchmark the figures come from")
    p50_ms: PositiveFloat | None = None
    p99_ms: PositiveFloat | None = None
    throughput_per_s: PositiveFloat | None = None
    peak_memory_mb: PositiveFloat | None = None
    notes: str | None = None


class Workload(Frozen):
    model: ModelRef
    inputs: list[InputSpec] = Field(min_length=1)
    outputs: list[Identifier] = Field(default_factory=list)
    production_shapes: dict[DimName, DimRange] = Field(default_factory=dict)
    buckets: Buckets | None = Field(None, description="default: at most 4 buckets")
    baseline_telemetry: Telemetry | None = None


# ---------------------------------------------------------------- bottleneck
BottleneckKind = Literal["compute", "memory-bandwidth", "launch-overhead", "allocation", "peak-memory",
                         "host-overhead", "queueing", "serving-utilization", "repeated-prefill",
                         "decode-steps", "locality"]
Layer = Literal["graph", "kernel", "runtime", "serving"]


class Bottleneck(Frozen):
    kind: BottleneckKind
    evidence: str = Field(min_length=1, description="what was measured, where, and what it showed")
    layer: Layer


# ---------------------------------------------------------------- optimizations
class Precision(Frozen):
    """Precision named separately for weights, activations and KV cache (``none`` when the model
    has no KV cache)."""

    weights: DType
    activations: DType
    # one Literal (not DType | Literal["none"]) so a bad value gets one error listing every choice
    kv_cache: Literal[DType, "none"]


class Calibration(Frozen):
    dataset: RepoPath
    samples: PositiveInt
    method: Literal["minmax", "percentile", "entropy", "mse"] = "minmax"


class TechniqueBase(Frozen):
    enabled: bool = Field(True, description="Switch to disable this technique alone.")


class ConstantFolding(TechniqueBase):
    technique: Literal["constant-folding"]


class DeadCodeElimination(TechniqueBase):
    technique: Literal["dead-code-elimination"]


class CommonSubexpressionElimination(TechniqueBase):
    technique: Literal["common-subexpression-elimination"]


class OperatorFusion(TechniqueBase):
    technique: Literal["operator-fusion"]


class HorizontalFusion(TechniqueBase):
    """Matmuls that read the same input through constant weights (Q, K, V) become one matmul."""

    technique: Literal["horizontal-fusion"]


class TuningBudget(Frozen):
    """Autotuning budget: both a trial count and a wall-clock limit (seconds)."""

    trials: PositiveInt = Field(description="the candidates MetaSchedule measures in the whole search, all "
                                            "buckets and tasks together")
    wall_clock_s: PositiveFloat = Field(description="the search's wall-clock limit in seconds")
    trials_per_task: PositiveInt | None = None
    max_tasks: PositiveInt | None = Field(None, description=(
        "search only the tasks of most FLOPs per inference (TVM's estimate x call count), at most this many per "
        "build; the others keep TVM's default schedule and are never searched (the census says so): where a "
        "budget cannot cover every task of every shape bucket, the kernels that dominate latency get it"))


class Autotuning(TechniqueBase):
    """MetaSchedule search within ``budget``; ``records`` names reviewed tuning records committed
    beside the plan that are loaded into the cache first."""

    technique: Literal["autotuning"]
    budget: TuningBudget
    records: RepoPath | None = None
    # MetaSchedule draws a fresh random seed for a negative one (the search would not be
    # reproducible), and its random state is 32-bit
    seed: Seed = Field(0, description="MetaSchedule's search seed (0 to 2**31 - 1): the same seed, "
                                      "budget and records give the same search")
    prepack_weights: bool = Field(False, description=(
        "Let MetaSchedule choose the layout of constant weights (AttachAttrLayoutFreeBuffers); the "
        "layout transforms are folded into the constants at build time, so the interface is unchanged."))


class FastMath(TechniqueBase):
    """Fast approximations of exp, erf, tanh, softmax and GELU (``topi.fast_*``); the output must
    stay inside the parity envelope, so no quality review is needed."""

    technique: Literal["fast-math"]


class StaticMemoryPlanning(TechniqueBase):
    technique: Literal["static-memory-planning"]


class MixedPrecision(TechniqueBase):
    technique: Literal["mixed-precision"]
    precision: Precision
    accumulate: DType = "float32"
    keep_fp32_ops: list[str] = Field(default_factory=lambda: ["softmax", "layer_norm", "sum", "mean"])


class Quantization(TechniqueBase):
    """Integer weights, and activations unless they stay float (weight-only).

    ``precision.weights``: the weight format (int8); ``precision.activations``: ``uint8``
    (asymmetric, with a zero point), ``int8`` (symmetric) or a float dtype (weight-only);
    ``scheme`` and ``granularity`` (with ``group_size`` for ``per-group``) are the weights';
    ``activation_scales`` says where integer activations get their ranges: ``static-per-tensor``
    from the ``calibration`` dataset before the build, or ``dynamic-per-token`` measured on each
    row at run time (no calibration). ``keep_float`` names the operators (ONNX MatMul node names)
    that stay float32, e.g. as chosen by the sensitivity search of ``planctl apply``."""

    technique: Literal["quantization"]
    precision: Precision
    scheme: Literal["symmetric", "asymmetric"] = "symmetric"
    granularity: Literal["per-tensor", "per-channel", "per-group"] = "per-channel"
    group_size: PositiveInt | None = None
    calibration: Calibration | None = None
    activation_scales: Literal["static-per-tensor", "dynamic-per-token"] = "static-per-tensor"
    keep_float: list[Identifier] = Field(default_factory=list, description=(
        "Operators kept in float32, by ONNX node name (the report lists every quantizable one)."))


class Pruning(TechniqueBase):
    technique: Literal["pruning"]
    sparsity: float = Field(gt=0, lt=1, allow_inf_nan=False)
    pattern: Literal["unstructured", "2:4", "block"] = "2:4"


class Codebook(TechniqueBase):
    technique: Literal["codebook"]
    bits: PositiveInt = Field(le=8)


class CudaGraphs(TechniqueBase):
    technique: Literal["cuda-graphs"]


class LibraryDispatch(TechniqueBase):
    """Dense matmuls with their bias and residual epilogues run in a GEMM library: cuBLASLt on CUDA
    targets (fp32 accumulation) where that measured faster than TVM's kernel on the device, OpenBLAS's
    sgemm on CPU targets (float32 matmuls); the route taken for each kind of matmul is recorded in
    the report."""

    technique: Literal["library-dispatch"]
    libraries: list[Literal["cublaslt", "openblas"]] | None = Field(None, min_length=1, description=(
        "the target's library when unset: cublaslt on CUDA targets, openblas on CPU targets"))
    select: Literal["measured", "always"] = Field("measured", description=(
        "CUDA: measured: time the library call and TVM's kernel side by side on the device and keep the "
        "faster; always: take the library route without measuring. CPU: every float32 matmul takes the "
        "route, and the bucket's performance gate times the build"))
    gelu: Literal["keep", "tanh-approximation"] = Field("keep", description=(
        "keep: a GELU after a routed matmul stays TVM's (erf form); tanh-approximation: fuse it into "
        "the GEMM epilogue in cuBLASLt's tanh form (Hendrycks & Gimpel 2016), within 5e-4 absolute of "
        "the erf form; the parity and quality gates judge the result as usual"))


class FusedAttention(TechniqueBase):
    """softmax(Q.K^T * scale + mask) . V as one IO-aware kernel (FlashAttention-style, TIR); the
    attentions it cannot run keep TVM's route and the report says why."""

    technique: Literal["fused-attention"]


class FusedLayerNorm(TechniqueBase):
    """layer_norm with the float16 cast mixed precision puts after it, as one kernel that writes
    both outputs (one warp per row); unsupported shapes keep TVM's kernels, reported."""

    technique: Literal["fused-layer-norm"]


class ServingSlo(Frozen):
    ttft_p95_ms: PositiveFloat | None = None
    ttft_p99_ms: PositiveFloat | None = None
    tpot_p95_ms: PositiveFloat | None = None
    tpot_p99_ms: PositiveFloat | None = None


class ContinuousBatching(TechniqueBase):
    technique: Literal["continuous-batching"]
    max_batch: PositiveInt
    slo: ServingSlo | None = None


class PrefixCaching(TechniqueBase):
    technique: Literal["prefix-caching"]
    tenant_scope: Literal["per-tenant", "per-user", "global"] | None = None
    retention: str | None = Field(None, description="e.g. '15m', or a policy name")


class SpeculativeDecoding(TechniqueBase):
    technique: Literal["speculative-decoding"]
    draft_model: str
    acceptance_rate: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                          description="measured on production traffic")
    concurrency_ceiling: PositiveInt | None = None


Technique = Annotated[Union[
    ConstantFolding, DeadCodeElimination, CommonSubexpressionElimination, OperatorFusion, HorizontalFusion,
    FastMath, Autotuning,
    StaticMemoryPlanning, MixedPrecision, Quantization, Pruning, Codebook, CudaGraphs, LibraryDispatch,
    FusedAttention, FusedLayerNorm,
    ContinuousBatching, PrefixCaching, SpeculativeDecoding,
], Field(discriminator="technique")]


# ---------------------------------------------------------------- envelope
class Tolerance(Frozen):
    """``|candidate - reference| <= atol + rtol * |reference|`` elementwise (numpy.allclose)."""

    rtol: NonNegativeFloat
    atol: NonNegativeFloat


class Parity(Frozen):
    # a bound, so that a typo (100000000) is a validate finding rather than an apply that never ends:
    # hypothesis' own ceiling is unbounded, and 10,000 examples of a MiniLM bucket is already hours
    examples: PositiveInt = Field(le=10_000, description="hypothesis examples per production shape (at most "
                                                         "10,000)")
    default: Tolerance
    outputs: dict[Identifier, Tolerance] = Field(default_factory=dict)
    reference: Literal["onnxruntime"] = "onnxruntime"


class QualityGoal(Frozen):
    """``threshold``: metric >= value; ``max-degradation``: baseline - metric <= value;
    ``percent-max-degradation``: (baseline - metric) / baseline * 100 <= value."""

    type: Literal["threshold", "max-degradation", "percent-max-degradation"]
    value: Float


class QualityReference(Frozen):
    """The model task quality is measured against, run by onnxruntime on the same inputs: for a
    plan whose model is already quantized, the float model it came from. Without one, the
    reference is the plan's own model (which then only shows the build matches onnxruntime).
    ``data_sha256`` pins its external data files, as ``workload.model``'s does."""

    onnx: RepoPath
    sha256: Sha256
    data_sha256: DataSha256 | None = Field(
        default=None, description="external data file (its `location` in the reference model, relative to its "
                                  "folder) -> its sha256; required when the reference stores tensors outside the "
                                  ".onnx file (rule PLN216)")


class Quality(Frozen):
    metric: Literal["cosine-similarity", "top1-agreement", "accuracy"]
    dataset: RepoPath
    goal: QualityGoal
    reference: QualityReference | None = None


class PeerGate(Frozen):
    """A second gate, against the runtime the team would otherwise deploy: onnxruntime (CPU execution
    provider, default graph optimizations, the run's threads) on the same model."""

    min_speedup: PositiveFloat = Field(
        description="onnxruntime's time over planctl's must reach this; 1.0: at least as fast")
    over: Literal["traffic-mix", "each-bucket"] = Field(
        "traffic-mix", description="traffic-mix: the expected latency of a call drawn from the declared mix, planctl "
                                   "padded up to its bucket and onnxruntime on the unpadded call (what the service "
                                   "spends per call); each-bucket: the gate's statistic at every bucket's own shape, "
                                   "beside the candidate")


class PerformanceGate(Frozen):
    statistic: Literal["p50", "p90", "p95", "p99", "mean"] = "p50"
    min_speedup: PositiveFloat = Field(description="baseline_statistic / candidate_statistic must reach this "
                                                   "(the baseline: TVM's untuned build of the same model)")
    versus_onnxruntime: PeerGate | None = Field(
        None, description="also gate on onnxruntime at the same statistic; unset: onnxruntime is reported, not gated")


class MemoryCeiling(Frozen):
    peak_rss_mb: PositiveFloat | None = None
    planned_bytes: PositiveInt | None = None


class Envelope(Frozen):
    parity: Parity
    quality: Quality | None = None
    performance: PerformanceGate
    memory: MemoryCeiling | None = None


# ---------------------------------------------------------------- fallback, review
class Fallback(Frozen):
    switch: Annotated[str, StringConstraints(pattern=ENV_VAR_PATTERN, max_length=128)] = Field(
        description="environment variable that, when set to 1, makes the runtime use the baseline")
    on_violation: Literal["rollback", "fail"] = "rollback"


class Review(Frozen):
    approver: str = Field(min_length=1)
    ticket: str = Field(min_length=1)
    date: Date | None = None


class PlanSpec(Frozen):
    workload: Workload
    bottleneck: Bottleneck
    optimizations: list[Technique] = Field(min_length=1)
    envelope: Envelope
    fallback: Fallback
    review: Review | None = None
    targets: list[Name] = Field(min_length=1, description=(
        "the target documents (targets/<name>.yaml) this plan is built for; `planctl targets` lists them"))


class OptimizationPlan(Frozen):
    apiVersion: ApiVersion
    kind: Literal["OptimizationPlan"]
    metadata: Metadata
    spec: PlanSpec
