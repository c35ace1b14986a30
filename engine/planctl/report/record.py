"""The run record: ``report.json``, one per ``planctl apply``, the only input of every rendering.

Each apply stage returns its evidence as one of the frozen models below (``extra="forbid"``);
:class:`RunRecord` is assembled from them by the report stage (planctl.apply.stages.report) and
is the schema of ``report.json`` (``schemas/report.schema.json``, written by ``planctl schema
dump``; a test fails when it is stale, and every report.json the test suite writes is validated
against it). Versioned by ``report_version`` (:data:`REPORT_VERSION`): a change that removes or
renames a key bumps it; new optional keys do not.

Units: seconds (``seconds``), milliseconds (latency, ``best_ms``), MiB (``peak_rss_mb``), bytes
(``planned_bytes``, ``bytes``), FLOP per call (``flops``); digests are hex sha256; paths are as
written at apply time (repository-relative where the plan names them).
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

REPORT_VERSION = 1
Statistic = Literal["p50", "p90", "p95", "p99", "mean", "min", "max"]
Verdict = Literal["promote", "partial", "rollback", "inconclusive", "reject"]
BucketVerdict = Literal["promote", "rollback", "inconclusive", "reject"]


class Evidence(BaseModel):
    """Base of every record model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------- documents
class PlanRef(Evidence):
    name: str = Field(description="metadata.name of the plan")
    path: str = Field(description="the plan file as given to apply")
    sha256: str


class TargetRef(Evidence):
    name: str = Field(description="the target document's name (targets/<name>.yaml)")
    tvm: dict[str, Any] = Field(description="the TVM target dict, as passed to tvm.target.Target")
    sha256: str


class ModelRef(Evidence):
    path: str = Field(description="repository-relative ONNX file")
    sha256: str


class LegalityFinding(Evidence):
    """One finding of ``planctl check``'s engine on the plan (planctl.findings.Finding)."""

    rule: str
    severity: Literal["error", "warning", "note"]
    message: str
    file: str
    line: int
    col: int
    waived: bool = False


class Legality(Evidence):
    """The legality rules run on the plan and its targets before lowering, as ``planctl check``
    runs them (same engine, same waivers); an unwaived error stops apply, so a report has none."""

    findings: list[LegalityFinding] = Field(default_factory=list)
    errors: int = Field(0, description="unwaived findings of severity error")


# ------------------------------------------------------------------------------- lowering
class Environment(Evidence):
    """Where the run happened (planctl.report.environment.collect_environment)."""

    python: str
    tvm: Optional[str]
    tvm_ffi: Optional[str]
    onnxruntime: Optional[str]
    numpy: Optional[str]
    cpu: str = Field(description="CPU model name from /proc/cpuinfo")
    cores: int = Field(description="CPUs this process may run on")
    env: dict[str, str] = Field(description="TVM_NUM_THREADS, OMP_NUM_THREADS, ... as set (absent when unset)")
    packages: dict[str, str] = Field(default_factory=dict, description="other installed versions (torch, onnx)")


class StageTime(Evidence):
    name: str = Field(description="documents, legality, import[<shape>], baseline-build[<shape>], passes[<shape>], "
                                  "tuning[<shape>], candidate-build[<shape>], verify[<shape>], quality[<shape>], "
                                  "bisect[<shape>], gpu-profile[<shape>], measure")
    seconds: float


class PassEvidence(Evidence):
    """One top-level TVM pass (planctl.lowering.instrument.PassRecord): wall time and IR size."""

    name: str = Field(description="TVM PassInfo.name")
    seconds: float
    bindings_before: int
    bindings_after: int = Field(description="Relax bindings: before - after = graph nodes removed")
    prim_funcs_before: int
    prim_funcs_after: int = Field(description="TIR PrimFuncs: before - after = kernels merged by fusion")
    ops_before: int
    ops_after: int = Field(description="Relax operator calls other than call_tir")


class KernelFlops(Evidence):
    name: str
    calls: int
    flops: float = Field(description="FLOP per call of the workload, summed over this kernel's launches")
    bytes: int = Field(description="compulsory bytes moved by its launches")


class WorkloadFlops(Evidence):
    """planctl.lowering.flops.workload_flops of the lowered candidate module."""

    flops: float
    bytes: int
    intensity: Optional[float] = Field(description="FLOP per byte")
    launches: int
    kernels: list[KernelFlops]
    unestimated: list[str]
    method: str


class KernelRoute(Evidence):
    """planctl.lowering.cuda_library.RouteDecision: how one kind of site of a CUDA build runs, as a
    dispatch technique (library-dispatch, fused-attention, fused-layer-norm) decided it."""

    kind: Literal["gemm", "attention", "layer_norm"]
    signature: str = Field(description="what decides the route: problem size, dtypes, epilogue or mask")
    sites: int = Field(description="sites of this signature in the module")
    route: str = Field(description="cublaslt | tvm | tir-fused-attention | tir-fused-layer-norm | tvm (fallback)")
    library_ms: Optional[float] = Field(description="median ms of the library call on the device (None: not measured)")
    tvm_ms: Optional[float] = Field(description="median ms of TVM's kernel for the same site (None: not measured)")
    reason: str = Field(description="why this route; for a fallback, what the kernel does not support")


class PlannedMemory(Evidence):
    """planctl.lowering.memory.planned_memory of the scheduled candidate module."""

    planned_bytes: int = Field(description="activation storage StaticPlanBlockMemory reserves; with static "
                                           "planning off, the total of the per-tensor allocations")
    storages: int
    output_bytes: int
    dynamic_storages: int
    static_planning: bool = Field(True, description="False when the plan disables static-memory-planning")


class TVMFailureRecord(Evidence):
    """planctl.lowering.failures.TVMFailure: an exception TVM raised while making the candidate
    (finding PLN500)."""

    code: Literal["PLN500"] = "PLN500"
    stage: str = Field(description="import | baseline-build | passes | tuning | candidate-build | export | verify")
    shape: Optional[str] = Field(None, description="the production shape's tag")
    passes: list[str] = Field(default_factory=list, description="the passes running when TVM raised, outermost first")
    pass_name: Optional[str] = Field(None, description="the innermost of them (TVM's Sequential wrapper left out)")
    node: Optional[str] = Field(None, description="the ONNX node, where known")
    error: str = Field(description="the exception's type")
    detail: str = Field(description="TVM's message")
    log: Optional[str] = Field(None, description="the crash log with the traceback")
    technique: Optional[str] = Field(None, description="the plan technique reported as the cause")


# ------------------------------------------------------------------------------- tuning
class Budget(Evidence):
    trials: int
    wall_clock_s: float
    trials_per_task: int
    max_tasks: Optional[int] = Field(None, description="tasks of most FLOPs searched per build (None: every task)")
    capped_by: list[str] = Field(description="repository limits that lowered the plan's budget")


TaskSource = Literal["cache", "committed", "other-devices", "re-measure", "drift", "search", "default"]  # tuning.census.SOURCES


class TuningTask(Evidence):
    """planctl.tuning.search.TaskReport."""

    name: str
    workload_hash: str
    cached: bool
    trials: int
    best_ms: Optional[float]
    best_ms_before: Optional[float] = Field(None, description="--refine: the serving record's time before this "
                                                               "search (ms; best_ms is the time after it), timed "
                                                               "here: the record is re-measured first, beside the "
                                                               "candidates")
    before_measured_on: Optional[str] = Field(None, description="--refine: the device that measured the record "
                                                                "re-measured here for best_ms_before (None: the "
                                                                "search re-measured nothing for it)")
    best_ms_stored: Optional[float] = Field(None, description="--refine: that record's own stored time (ms), "
                                                              "measured on another day or device; best_ms_before "
                                                              "is its time re-measured in this search")
    best_new_ms: Optional[float] = Field(None, description="--refine: the best of the candidates this search "
                                                            "measured (ms), faster than best_ms_before or not")
    confirm_runs: int = Field(0, description="--refine: how many more times the old record and the best new "
                                             "candidate were each timed, alternately, before the faster served "
                                             "(0: no candidate beat the old record; best_ms_before and "
                                             "best_new_ms are then the search's times)")
    confirm_failed: Optional[str] = Field(None, description="--refine: set when the best new candidate failed to "
                                                            "build or run in the confirmation (the old record "
                                                            "serves): where the search log says why")
    best_transfer_ms: Optional[float] = Field(None, description="the best schedule this search transferred from "
                                                                 "the same kernel at another shape (ms; "
                                                                 "planctl.tuning.transfer), kept or not")
    best_transfer_from: Optional[str] = Field(None, description="the shape of the workload that schedule came "
                                                                "from (its first buffer, e.g. '8 x 128 x 1536')")
    best_sweep_ms: Optional[float] = Field(None, description="the best candidate of this search's register-tile "
                                                              "sweep (ms; planctl.tuning.sweep), kept or not")
    served_by: Optional[str] = Field(description="exact | compatible:<target> | remeasured | searched | None")
    source: Optional[TaskSource] = Field(None, description="where the schedule came from, decided before any search "
                                                           "(planctl.tuning.census)")
    measured_on: Optional[str] = Field(None, description="'this CPU' (this CPU model, ISA and runner settings), "
                                                         "or the device whose record serves the task")
    budget_share: Optional[float]
    drift_records: int
    candidates: int
    build_errors: int
    run_errors: int
    errors: dict[str, int] = Field(description="'build: <reason>' / 'run: <reason>' -> count (top 5)")


class Tuning(Evidence):
    """planctl.tuning.search.TuningReport of one production shape."""

    cache_dir: str
    tasks: list[TuningTask]
    trials_spent: int = Field(description="records this apply added within the trial budget (searched, "
                                          "transferred, re-measured)")
    confirm_runs: int = Field(0, description="--refine: measurements the confirmation added beyond the trial "
                                             "budget (each refined task's old and best new record, timed again "
                                             "alternately, planctl.tuning.worker.confirm)")
    seconds: float
    timed_out: bool
    stopped_by: Optional[str] = Field(description="trials | tasks | wall-clock | killed (None: nothing searched)")
    imported_records: int
    scheduled_funcs: int = Field(description="kernels with a schedule: from a tuning record, or written by hand")
    total_funcs: int
    unscheduled_funcs: list[str] = Field(default_factory=list, description="the kernels left on TVM's default "
                                         "schedule (the gathers, tasks without a valid record)")
    budget: Budget
    key: dict[str, Any] = Field(description="the validity key: target dict and TVM versions "
                                            "(planctl.tuning.keys.CacheKey.to_dict)")
    device: dict[str, Any] = Field(default_factory=dict, description="the device that measures here: provenance, "
                                                                     "not validity (planctl.tuning.keys.Device.to_dict)")
    policy: Literal["serve", "re-measure", "search"] = Field(
        "serve", description="the target's other_device_records: what records measured on another device do")
    census: dict[TaskSource, int] = Field(default_factory=dict, description="tasks per source before the search")
    farm: Optional[dict[str, Any]] = Field(None, description=(
        "the RPC farm that measured the candidates: tracker, device_key, servers_at_start, servers_at_end, "
        "left (servers that left during the search), candidates_by_server (planctl.tuning.farm.summarize)"))
    session: Optional[str]
    notes: list[str]
    integrity: list[str]
    reused: bool = Field(description="every task came from the cache; no new trials")


# ------------------------------------------------------------------------------- verify
class OutputParity(Evidence):
    """planctl.verify.parity.OutputParity (non-finite errors are null; tolerances are always finite:
    the documents stage refuses any other)."""

    max_abs: Optional[float]
    max_rel: Optional[float]
    rtol: FiniteFloat
    atol: FiniteFloat
    passed: bool
    nonfinite: int = 0


class Parity(Evidence):
    """planctl.verify.parity.ParityResult of one production shape."""

    passed: bool
    shape_env: dict[str, int]
    examples: int
    outputs: dict[str, OutputParity]
    counterexample: Optional[str] = Field(None, description="the shrunk failing example (.npz) in the output folder")
    replay: Optional[str] = Field(None, description="the command that reruns it")
    reason: Optional[str] = None
    seed: int = 0
    shrink_calls: int = 0
    corners: int = Field(0, description="domain-corner examples among `examples` (min, max, near both, rows "
                                        "of equal values, rows of large magnitude)")
    note: Optional[str] = Field(None, description="why fewer examples ran than the envelope asks (the untuned "
                                                  "fallback's time budget per bucket), where its corners ran, and "
                                                  "how often the reference itself returned NaN or Inf")


class PaddingCheck(Evidence):
    """That padding a call up to this bucket leaves its outputs unchanged (the attention mask makes
    the padded positions inert, rows are independent): the reference run on calls of the shapes
    this bucket serves, unpadded and padded up to the bucket (planctl.apply.stages.verify)."""

    passed: bool
    shapes: list[dict[str, int]] = Field(description="the call shapes checked (each served by this bucket)")
    examples: int
    max_abs: Optional[float]
    reason: Optional[str] = None


class QualityReference(Evidence):
    """What quality is measured against (planctl.verify.quality.describe_reference)."""

    model: str = Field(description="repository-relative ONNX file")
    sha256: str
    runtime: str = Field(description="e.g. 'onnxruntime 1.32.0 (CPUExecutionProvider)'")
    declared: bool = Field(description="True: envelope.quality.reference; False: the plan's own model")


class Quality(Evidence):
    """planctl.verify.quality.QualityResult of one production shape (per-example scores left out)."""

    metric: Literal["cosine-similarity", "top1-agreement", "accuracy"]
    dataset: str
    dataset_sha256: str
    examples: int
    value: Optional[float] = Field(description="the candidate's metric (mean over examples); None when it raised")
    worst: Optional[float] = Field(description="lowest per-example score")
    baseline: dict[str, Any] = Field(description="{value, source, examples, baseline_build: {examples, batches, value}}")
    goal: dict[str, Any] = Field(description="{type: threshold|max-degradation|percent-max-degradation, value}")
    passed: bool
    reason: str
    shape_env: dict[str, int]
    reference: Optional[QualityReference] = Field(None, description="the model and runtime the outputs are "
                                                                     "compared with")


class Probe(Evidence):
    techniques: list[str]
    violates: bool


class Bisect(Evidence):
    """planctl.apply.bisect.Bisection at the first failing shape, and what was violated there."""

    culprits: list[str] = Field(description="techniques whose removal makes the envelope hold")
    passing_plan: list[str] = Field(description="the enabled techniques without the culprits (built and checked)")
    probes: list[Probe] = Field(description="subsets built, in order")
    note: Optional[str] = None
    violated: list[Literal["parity", "quality", "build"]]
    shape_env: dict[str, int]


# ------------------------------------------------------------------------------- quantization
class QuantizedOperator(Evidence):
    """One matmul with a constant weight, as planctl.lowering.quantize left it."""

    name: str = Field(description="ONNX MatMul/Gemm node name (what keep_float lists), else matmul_<i>")
    weight_shape: list[int] = Field(description="[K, N]: input channels, output channels")
    quantized: bool
    reason: str = Field(description="why it stayed float32 ('' when quantized)")
    weight_format: str
    weight_granularity: str = Field(description="scale granularity of the weights")
    activation_format: str
    activation_granularity: str = Field(description="per token (dynamic) or per tensor (calibrated)")
    accumulation: str = Field(description="int32, or float32 for weight-only")
    calibration: Optional[dict[str, Any]] = Field(description="{dataset, samples, method, range: [lo, hi]} when static")
    outliers: str = Field(description="outlier treatment")
    kernel: Optional[dict[str, Any]] = Field(description="{path, intrinsic, instructions}")
    weight_bytes: dict[str, int] = Field(description="{float32: bytes, int8: bytes with scales}")


class KernelPath(Evidence):
    """What the int8 kernels run on, and the proof: the instructions counted in the candidate's
    machine code (``inspect_source('asm')`` of its LLVM module)."""

    path: Optional[str] = Field(description="avx512-vnni | avx512bw | avx2 | None (weight-only)")
    intrinsic: Optional[str]
    instructions: list[str] = Field(description="the instructions the path uses")
    activation_levels: Optional[int] = Field(description="256 (8-bit) or 128 (7-bit, vpmaddubsw saturation)")
    int8_kernels: int = Field(description="scheduled kernels holding an int8 matmul")
    tensorized_kernels: int = Field(description="... whose schedule applied the intrinsic (tuned record)")
    machine_code: dict[str, dict[str, int]] = Field(description="kernel -> {instruction: count} in the library")


class ArtifactSize(Evidence):
    """The quantized build against the float one (TVM's default build of the same graph)."""

    candidate_library_bytes: Optional[int] = Field(description="the candidate library (None without a candidate)")
    float_library_bytes: int = Field(description="the baseline library: the fp32 weights embedded")
    weight_bytes_float32: int = Field(description="weights of the matmuls the plan quantizes, in float32")
    weight_bytes_quantized: int = Field(description="the same as stored: int8 plus scales (and zero points)")
    planned_bytes: Optional[int] = Field(description="activation memory the candidate plans (StaticPlanBlockMemory)")
    float_planned_bytes: Optional[int] = Field(description="... and the float32 graph, legalized and fused")
    peak_rss_mb: dict[str, float] = Field(description="peak RSS of each measurement process (candidate, baseline)")


class Sensitivity(Evidence):
    """planctl.apply.sensitivity: the smallest set of quantized operators to keep float."""

    metric: str
    method: str
    quantized: list[str] = Field(description="operators the candidate quantized")
    simulated_all: float = Field(description="the metric with all of them quantized, simulated")
    measured: Optional[float] = Field(description="the candidate's measured metric")
    margin: float = Field(description="simulated - measured (>= 0), added to every probe's goal")
    per_op: list[dict[str, Any]] = Field(description="{name, metric, gain}: the metric with that operator alone "
                                                     "kept float, most sensitive first")
    probes: list[dict[str, Any]] = Field(description="{keep_float, value, passed} of the bisection, in order")
    keep_float: list[str] = Field(description="the operators found (what --write-keep-float adds to the plan)")
    value: Optional[float] = Field(description="the simulated metric with them float")
    passed: bool
    note: Optional[str]
    plan_keep_float: list[str] = Field(description="operators the plan already keeps float")
    shape_env: dict[str, int]


class Quantization(Evidence):
    """The plan's quantization technique as lowered: every operator, the kernel path, the size and
    memory against the float build, and the sensitivity search when quality failed."""

    settings: dict[str, Any] = Field(description="the technique as the plan declares it")
    operators: list[QuantizedOperator]
    kernel: Optional[KernelPath] = Field(description="None without a candidate build")
    size: ArtifactSize
    sensitivity: Optional[Sensitivity] = None


# ------------------------------------------------------------------------------- measure
class LatencyStats(Evidence):
    """planctl.measure.stats.LatencyStats.to_dict (milliseconds)."""

    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    stdev: float
    min: float
    max: float
    n: int
    batch_size: int
    warmup: int
    interleaved: bool
    stopped_early: bool
    throughput_per_s: Optional[float] = Field(description="items per second at one call at a time")
    samples_ms: list[float]


class Measurement(Evidence):
    method: str
    rounds: int
    inputs: str


class Speedup(Evidence):
    statistic: Statistic
    gate: float = Field(description="envelope.performance.min_speedup")
    value: float = Field(description="baseline / candidate on the statistic")
    ci_low: Optional[float] = Field(description="95% percentile bootstrap (planctl.measure.compare)")
    ci_high: Optional[float]
    ci_omitted: Optional[str] = Field(None, description="why there is no interval: a side with fewer than "
                                      "planctl.measure.compare.MIN_BOOTSTRAP_SAMPLES samples")
    vs_onnxruntime: Optional[float] = Field(description="onnxruntime / candidate on the statistic")
    vs_onnxruntime_ci_low: Optional[float] = Field(None, description="95% percentile bootstrap of vs_onnxruntime")
    vs_onnxruntime_ci_high: Optional[float] = None


class Memory(Evidence):
    peak_rss_mb: Optional[float] = Field(description="of the candidate's measurement process")
    peak_rss_mb_by_contender: dict[str, float] = Field(default_factory=dict)
    planned_bytes: Optional[int] = Field(None, description="PlannedMemory.planned_bytes of the first shape")


class Roofline(Evidence):
    """planctl.report.roofline.placement: the measured workload against the target's peaks."""

    flops: float
    bytes: Optional[float]
    intensity: Optional[float]
    statistic: str
    seconds: float
    dtype: str
    achieved_gflops: float
    peak_gflops: float
    memory_bandwidth_gbs: Optional[float]
    ridge_intensity: Optional[float]
    attainable_gflops: float
    percent_of_peak: float
    percent_of_attainable: float
    bound: Optional[Literal["compute", "memory"]]
    source: Optional[str]
    baseline_achieved_gflops: Optional[float] = None


class GpuKernel(Evidence):
    """planctl.measure.gpu_profile.KernelRow: one PrimFunc or library call of ``main``, per call."""

    name: str = Field(description="PrimFunc name, or the library call with its problem size")
    kernels: str = Field(description="the CUDA kernel names the profiler saw for it")
    launches_per_call: float
    ms_per_call: float = Field(description="GPU time per call of main")
    share: float = Field(description="fraction of the call's kernel time")
    flops_per_call: float
    bytes_per_call: float
    tflops: Optional[float] = Field(description="achieved TFLOP/s (None without a FLOP count)")
    gbps: Optional[float] = Field(description="achieved GB/s of compulsory traffic")
    tensor_cores: Literal["yes", "no", "unknown"]


class GpuProfile(Evidence):
    """planctl.measure.gpu_profile.profile_build of a candidate on its CUDA device."""

    available: Literal[True] = True
    calls: int = Field(description="calls profiled (after 20 warm-up calls)")
    kernel_us_per_call: float = Field(description="microseconds of kernel time per call")
    kernels_per_call: float
    graph_launches_per_call: float = Field(description="cudaGraphLaunch per call: > 0 when CUDA graphs are active")
    api_per_call: dict[str, float] = Field(description="CUDA runtime calls per call (the 8 most frequent)")
    rows: list[GpuKernel] = Field(description="slowest first")
    launches_per_call: float
    cuda_graphs: bool
    method: str


class GpuProfileUnavailable(Evidence):
    """Why a CUDA build has no profile (no torch or CUPTI, no device visible to torch, ...)."""

    available: Literal[False] = False
    reason: str


class CpuKernel(Evidence):
    """planctl.measure.cpu_profile.CpuKernelRow: one kernel (PrimFunc) or VM builtin of ``main``, per call."""

    name: str = Field(description="PrimFunc symbol, or the VM builtin's name")
    kind: Literal["kernel", "builtin"]
    launches_per_call: float
    ms_per_call: float = Field(description="time inside it per call of main (instrumented call)")
    share: float = Field(description="fraction of the instrumented call's time in kernels and builtins")
    flops_per_call: float = Field(description="FLOP per call of main summed over its launches (0: unknown)")
    gflops: Optional[float] = Field(description="achieved GFLOP/s (None without a FLOP count)")


class CpuProfile(Evidence):
    """planctl.measure.cpu_profile.profile_vm of a candidate on the CPU (TVM's VM instrument)."""

    available: Literal[True] = True
    calls: int = Field(description="instrumented calls summed (after warm-up calls)")
    rows: list[CpuKernel] = Field(description="slowest first")
    plain_ms: float = Field(description="median of plain (uninstrumented) calls, same process")
    instrumented_ms: float = Field(description="median of instrumented calls (the hook's cost included)")
    kernel_ms: float = Field(description="time in kernels per instrumented call")
    builtin_ms: float = Field(description="time in VM builtins per instrumented call")
    kernel_gflops: Optional[float] = Field(description="all kernels' FLOPs over their time")
    allocations_per_call: dict[str, float] = Field(description="allocating VM builtins per call "
                                                               "(vm.builtin.alloc_storage / alloc_tensor)")
    launches_per_call: float = Field(description="kernel launches per call")
    method: str


class CpuProfileUnavailable(Evidence):
    """Why a CPU build has no profile (the instrumented run raised)."""

    available: Literal[False] = False
    reason: str


# ------------------------------------------------------------------------------- decide, emit
class BucketDecision(Evidence):
    """The verdict of one shape bucket: promoted, or rolled back alone to its verified baseline
    (or nothing to serve it: reject), with the build its calls run."""

    shape_env: dict[str, int]
    tag: str
    verdict: BucketVerdict
    serves: Optional[Literal["candidate", "baseline"]] = Field(description="the build this bucket's calls run; None: "
                                                                           "refused (no verified build)")
    reasons: list[str]


class TrafficGate(Evidence):
    """The onnxruntime gate over the declared traffic mix (envelope.performance.versus_onnxruntime,
    ``over: traffic-mix``), judged once for the run (planctl.apply.decide.gate_on_mix)."""

    statistic: Statistic
    gate: float = Field(description="envelope.performance.versus_onnxruntime.min_speedup")
    value: Optional[float] = Field(description="onnxruntime / planctl on the statistic (mean: expected latency) of a "
                                               "call drawn from the mix (planctl.measure.traffic.mix_speedup); None: "
                                               "not measured")
    ci_low: Optional[float] = Field(None, description="95% percentile bootstrap, each point resampled on its own")
    ci_high: Optional[float] = None
    missing: Optional[str] = Field(None, description="why the mix could not be judged (the gate then fails)")
    verdict: Literal["promote", "rollback", "inconclusive"] = Field(
        description="what the gate allows: promote (met), rollback (not met or not measured), inconclusive "
                    "(its interval straddles the gate); every promoted bucket takes it")


class Decision(Evidence):
    verdict: Verdict = Field(description="promote: every bucket promoted; partial: some, the others rolled back "
                                         "alone; otherwise the verdict of the buckets (none promoted)")
    reasons: list[str]
    buckets: list[BucketDecision] = Field(default_factory=list, description="one per shape bucket")
    traffic_gate: Optional[TrafficGate] = Field(None, description="set when the plan gates on onnxruntime over "
                                                                  "its traffic mix")


class Libraries(Evidence):
    baseline: str
    candidate: Optional[str] = Field(None, description="None when TVM failed to build the candidate")


class Build(Evidence):
    """One production shape: its names, libraries and the evidence of each stage that built it."""

    shape_env: dict[str, int]
    tag: str
    input_names: list[str]
    output_names: list[str]
    tuning: Optional[Tuning]
    libraries: Libraries
    parity: Parity
    fallback_parity: Optional[Parity] = Field(None, description="TVM's baseline build under the same parity "
                                                                 "check: the fallback must pass it too")
    quality: Optional[Quality]
    flops: Optional[WorkloadFlops] = Field(description="None when the candidate's passes failed")
    planned_memory: Optional[PlannedMemory] = Field(description="None without a candidate")
    kernel_routes: list[KernelRoute] = Field(default_factory=list, description="CUDA targets: the routes of the "
                                             "plan's dispatch techniques")
    gpu_profile: Optional[Union[GpuProfile, GpuProfileUnavailable]] = Field(
        None, description="CUDA targets: the candidate's per-kernel profile (None on CPU targets)")
    padding: Optional[PaddingCheck] = Field(None, description="calls smaller than the bucket, padded: outputs "
                                                              "unchanged (None: the model runs fixed shapes only)")
    latency: dict[str, LatencyStats] = Field(default_factory=dict, description="baseline, candidate, onnxruntime "
                                             "at the bucket's shape (empty when nothing was measured)")
    speedup: Optional[Speedup] = None
    measurement: Optional[Measurement] = None
    traffic_share: Optional[float] = Field(None, description="share of the declared traffic this bucket serves")
    cpu_profile: Optional[Union[CpuProfile, CpuProfileUnavailable]] = Field(
        None, description="CPU targets: the candidate's per-kernel profile (None on CUDA targets)")


class Fallback(Evidence):
    """What the plan's fallback switch selects at run time (planctl.runtime.load)."""

    switch: str = Field(description="the environment variable (spec.fallback.switch)")
    library: Optional[str] = Field(description="the verified baseline library it runs; None when the baseline "
                                               "failed parity (the runtime then refuses the switch)")
    verified: bool
    reason: str
    buckets: dict[str, Optional[str]] = Field(default_factory=dict, description="bucket tag -> the verified "
                                              "baseline library the switch runs there (None: refused there)")


class Artifacts(Evidence):
    library: Optional[str] = Field(description="the deployed library (None when on_violation: fail, or on reject)")
    records: str
    report_json: str
    report_md: str
    report_html: str


class Inputs(Evidence):
    """planctl.apply.inputs: what the output depends on; an apply whose digest equals the live
    output's (and whose libraries match the manifest's ``sha256``) is skipped as up to date."""

    digest: str = Field(description="sha256 of the canonical JSON of components")
    components: dict[str, Any] = Field(description="plan, target, model, files, versions, host, options[, budget, "
                                                   "compatible_targets, tuning_cache (counted after the run)]")


class BucketChoice(Evidence):
    """How the production shapes were grouped into buckets (planctl.documents.shapes.choose_buckets)."""

    buckets: list[dict[str, int]]
    max: int = Field(description="spec.workload.buckets.max")
    rule: str
    expected_work: Optional[float] = Field(description="expected padded elements per call over the traffic mix")
    exact_work: Optional[float] = Field(description="... with a build for every declared shape (no padding)")
    max_only_work: Optional[float] = Field(description="... with one build at the largest shape")
    dynamic_baseline: bool = Field(description="one dynamic-shape baseline serves every bucket")
    by_max: list[dict[str, Any]] = Field(default_factory=list, description="what raising buckets.max would buy: "
                                         "{max, buckets, expected_work} for max and the next values "
                                         "(planctl.documents.shapes.padded_work_by_max)")
    build_mb: Optional[float] = Field(default=None, description="the model file's size, MB: about what each "
                                                                "bucket's build embeds")


class TrafficPoint(Evidence):
    """One shape of the declared traffic mix: planctl (the bucket serving it, padded) against
    onnxruntime on the unpadded inputs (dynamic shapes)."""

    shape_env: dict[str, int]
    share: float
    bucket: Optional[str] = Field(description="the tag of the bucket that serves it")
    planctl: Optional[LatencyStats] = Field(description="the serving bucket's deployed build at the bucket's shape")
    onnxruntime: Optional[LatencyStats] = Field(description="onnxruntime on the unpadded call")


class TrafficSummary(Evidence):
    """One contender over the traffic mix (planctl.measure.traffic)."""

    expected_ms: float = Field(description="mean latency of a call drawn from the mix: sum of share x mean")
    p50_ms: float = Field(description="median of the mix: the share-weighted pooled samples")
    p99_ms: float
    throughput_per_s: float = Field(description="items per second, one call at a time: sum(share x batch) / "
                                                "sum(share x mean s)")


class Traffic(Evidence):
    """Expected latency and throughput over the declared traffic mix."""

    points: list[TrafficPoint]
    contenders: dict[str, TrafficSummary] = Field(description="planctl, onnxruntime")
    ratio_vs_onnxruntime: Optional[float] = Field(description="planctl expected ms / onnxruntime expected ms")
    method: str


class RunRecord(Evidence):
    """``report.json``."""

    report_version: Literal[1] = REPORT_VERSION
    created: str = Field(description="ISO 8601 UTC time the run started")
    plan: PlanRef
    target: TargetRef
    model: ModelRef
    legality: Optional[Legality] = None
    environment: Environment
    techniques: list[str] = Field(description="enabled techniques, in plan order")
    stages: list[StageTime]
    passes: list[PassEvidence] = Field(description="the candidate's passes at the last production shape")
    builds: list[Build]
    failures: list[TVMFailureRecord] = Field(default_factory=list, description="PLN500: TVM failures of the "
                                                                               "candidate, each with its cause")
    parity: list[Parity] = Field(description="one per shape bucket")
    buckets: Optional[BucketChoice] = None
    traffic: Optional[Traffic] = None
    quality: list[Quality] = Field(default_factory=list, description="one per production shape, when the plan has "
                                                                     "a quality envelope")
    bisect: Optional[Bisect] = None
    quantization: Optional[Quantization] = Field(None, description="when the plan quantizes")
    latency: dict[str, LatencyStats] = Field(default_factory=dict, description="baseline, candidate, onnxruntime "
                                                  "at the first bucket (every bucket's: builds[].latency; empty when "
                                                  "there was no candidate to measure)")
    measurement: Optional[Measurement] = None
    speedup: Optional[Speedup] = Field(None, description="the first bucket's (every bucket's: builds[].speedup)")
    memory: Memory
    roofline: Optional[Roofline] = None
    decision: Decision
    fallback: Optional[Fallback] = None
    artifacts: Artifacts
    library_sha256: dict[str, str] = Field(description="library file -> sha256, as in manifest.json")
    inputs: Inputs
    notes: list[str]
