"""The run record: one JSON document per ``planctl apply``, the only input of every report.

Versioned by ``report_version`` (``REPORT_VERSION``); a change that removes or renames a key bumps it.
Every section except ``report_version`` and ``decision`` is optional: a run that failed or rolled back
early records only the stages it reached, and the renderers show what is there.

The TypedDicts below are the documentation of the shape (``total=False``: keys may be absent); the
record itself is a plain ``dict`` assembled by ``planctl.apply``. Units: seconds (``seconds``), ms
(latency), MiB (``peak_rss_mb``), bytes (``planned_bytes``); digests are hex sha256.
"""
from __future__ import annotations

from typing import Literal, TypedDict

REPORT_VERSION = 1


class PlanRef(TypedDict, total=False):
    name: str            # metadata.name
    path: str            # repository-relative plan file
    sha256: str


class TargetRef(TypedDict, total=False):
    name: str
    tvm: dict            # the TVM target dict as passed to tvm.target.Target
    sha256: str


class ModelRef(TypedDict, total=False):
    path: str
    sha256: str


class Environment(TypedDict, total=False):
    python: str
    tvm: str | None
    tvm_ffi: str | None
    onnxruntime: str | None
    numpy: str | None
    cpu: str
    cores: int
    env: dict[str, str]  # TVM_NUM_THREADS, OMP_NUM_THREADS, ... as set (absent when unset)


class Stage(TypedDict):
    name: str            # import, baseline-build, passes, tuning, build, verify, measure, emit
    seconds: float


class PassRecord(TypedDict, total=False):
    name: str            # TVM pass name (PassInfo.name)
    seconds: float
    bindings_before: int
    bindings_after: int  # Relax bindings: before - after = graph nodes removed
    prim_funcs_before: int
    prim_funcs_after: int  # TIR PrimFuncs (kernels): before - after = kernels merged by fusion


class TuningTask(TypedDict, total=False):
    name: str
    trials: int
    best_ms: float | None
    scheduled: bool      # a tuned schedule was applied (False: default / dlight schedule)


class Tuning(TypedDict, total=False):
    cache_dir: str
    trials_spent: int
    records_used: int
    tasks: list[TuningTask]
    seconds: float
    reused: bool         # every task came from the cache; no new trials


class Latency(TypedDict, total=False):
    baseline: dict       # LatencyStats.to_dict()
    candidate: dict
    onnxruntime: dict


class Speedup(TypedDict, total=False):
    statistic: Literal["p50", "p90", "p95", "p99", "mean"]
    value: float         # baseline / candidate
    ci_low: float        # percentile bootstrap (planctl.measure.compare)
    ci_high: float
    gate: float          # envelope.performance.min_speedup


class Memory(TypedDict, total=False):
    peak_rss_mb: float
    planned_bytes: int   # StaticPlanBlockMemory storage total (planctl.lowering.memory), first shape


class Quality(TypedDict, total=False):
    """planctl.verify.quality.QualityResult.to_dict(), one per production shape."""
    metric: Literal["cosine-similarity", "top1-agreement", "accuracy"]
    dataset: str         # repository-relative JSONL
    dataset_sha256: str
    examples: int
    value: float         # the candidate's metric (mean over examples)
    worst: float         # lowest per-example score
    baseline: dict       # {value, source, examples, baseline_build: {examples, batches, value}}
    goal: dict           # {type: threshold|max-degradation|percent-max-degradation, value}
    passed: bool
    reason: str
    shape_env: dict


class Bisect(TypedDict, total=False):
    """planctl.apply.bisect.Bisection.to_dict() plus what was violated, at the first failing shape."""
    culprits: list[str]      # techniques whose removal makes the envelope hold
    passing_plan: list[str]  # the enabled techniques without the culprits (built and checked)
    probes: list[dict]       # {techniques: [...], violates: bool}, in the order they were built
    note: str | None
    violated: list[str]      # parity, quality
    shape_env: dict


class Roofline(TypedDict, total=False):
    """planctl.report.roofline.placement(): the measured workload against the target's peaks."""
    flops: float             # per call, sum over kernel launches (estimate_tir_flops)
    bytes: float             # compulsory kernel traffic per call
    intensity: float         # FLOP / byte
    statistic: str           # latency statistic the rate is computed from (p50)
    achieved_gflops: float
    baseline_achieved_gflops: float
    peak_gflops: float
    percent_of_peak: float
    attainable_gflops: float  # min(peak, intensity * bandwidth)
    percent_of_attainable: float
    ridge_intensity: float
    bound: Literal["compute", "memory"]
    dtype: str
    source: str


class Decision(TypedDict):
    verdict: Literal["promote", "rollback", "inconclusive"]
    reasons: list[str]


class Artifacts(TypedDict, total=False):
    library: str
    records: str
    report_md: str
    report_json: str


class Inputs(TypedDict, total=False):
    """planctl.apply.inputs: what the output depends on; an apply whose digest equals the live
    output's (and whose libraries match the manifest's ``sha256``) is skipped as up to date."""
    digest: str          # sha256 of the canonical JSON of ``components``
    components: dict     # plan, target, model, files, versions, host, options[, budget,
                         # compatible_targets, tuning_cache (records count after the run)]


class RunRecord(TypedDict, total=False):
    report_version: int  # REPORT_VERSION
    plan: PlanRef
    target: TargetRef
    model: ModelRef
    environment: Environment
    stages: list[Stage]
    passes: list[PassRecord]
    tuning: Tuning
    parity: list[dict]   # ParityResult.to_dict(), one per production shape
    latency: Latency
    speedup: Speedup
    memory: Memory
    quality: list[Quality]
    bisect: Bisect
    roofline: Roofline
    builds: list[dict]   # per production shape: tuning, parity, quality, flops, planned_memory, libraries
    decision: Decision
    artifacts: Artifacts
    inputs: Inputs
    up_to_date: bool     # only in an ApplyResult of a skipped run, never written to report.json
    up_to_date_since: str  # the skipped-to output's ``created``
