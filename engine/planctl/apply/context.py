"""The typed context one apply runs over: its options, its documents, where its output goes, the
tuning cache it holds, the work each production shape carries from stage to stage, and the clock
that times the stages.

Names used throughout apply (each names one thing):

- ``plan_file``: the plan's path; ``plan``: the plan *document* (``Loaded[OptimizationPlan]``, with
  positions and sha256); ``spec``: its ``PlanSpec``.
- ``target_name``: the name given with ``--target``; ``target``: the target *document*
  (``Loaded[Target]``); ``tvm_target``: the ``tvm.target.Target`` built from its ``spec.tvm``.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from planctl.documents.load import Loaded
from planctl.documents.models import OptimizationPlan, Target
from planctl.documents.models.plan import PlanSpec, Technique
from planctl.errors import raise_if_interrupted
from planctl.report.record import StageTime

if TYPE_CHECKING:
    import tvm
    from tvm.relax import VMExecutable

    from planctl.lowering.external_data import ExternalData
    from planctl.lowering.failures import TVMFailure
    from planctl.lowering.importer import ImportedModel
    from planctl.tuning.governed import GovernedCache
    from planctl.verify.padding import Layout

Progress = Callable[[str], None]   # told each stage's name as it starts


@dataclass(frozen=True)
class ApplyOptions:
    """Inputs of one apply. ``root`` is the repository root every plan path is resolved against."""

    plan_file: Path
    target_name: str
    root: Path = Path(".")
    out_root: Path = Path("out")
    cache_dir: str | Path | None = None  # a folder or a postgresql:// URL (planctl.tuning.store.location)
    replay: bool = False
    allow_version_drift: bool = False  # apply records of another TVM version after re-measuring
    measure_repeats: int = 50
    # per bucket: the untuned baseline's random parity examples (timed: they are also its latency
    # samples) stop once the next call would pass this; at least one runs (planctl.apply.stages.verify)
    baseline_max_seconds: float = 15.0
    # per bucket and round: the candidate's and onnxruntime's sampled calls stop past this (at least 3)
    measure_max_seconds: float = 2.0
    force: bool = False  # rebuild even when the live output was made from the same inputs
    # `planctl tune --refine`: "[BUCKET:]TASK" globs of served tasks to search again (planctl.tuning.search)
    refine: tuple[str, ...] = ()
    command: str = "apply"  # the CLI command running these stages: it names their progress lines


@dataclass(frozen=True)
class OutputFolder:
    """Where this run's output goes, computed once from the options and the plan's name.

    ``live``: ``OUT/<plan>/<target>/``, what the runtime loads; ``rejected``: beside it, where a run
    that is not promoted goes while a promoted output stays live; ``staging``: the folder every
    stage writes into, renamed to the destination at the end (planctl.apply.emit)."""

    live: Path
    staging: Path | None = None

    @property
    def rejected(self) -> Path:
        return self.live.with_name(self.live.name + ".rejected")

    def destination(self, promote: bool, live_is_promoted: bool) -> Path:
        """``live`` unless this run is not promoted and the live output is (that one stays)."""
        return self.live if promote or not live_is_promoted else self.rejected

    def published(self, path: str | None, destination: Path) -> str | None:
        """``path`` inside the staging folder, as it will be after the rename to ``destination``."""
        if path is None or self.staging is None:
            return path
        return path.replace(str(self.staging), str(destination))


@dataclass
class ShapeWork:
    """What one production shape carries between stages (TVM objects; evidence goes to results)."""

    shape_env: dict[str, int]
    tag: str
    imported: Optional["ImportedModel"] = None
    baseline: Optional["VMExecutable"] = None          # TVM's default build of the imported module
    lowered: Optional["tvm.IRModule"] = None           # after the plan's passes (legalized, fused)
    scheduled: Optional["tvm.IRModule"] = None         # lowered, with the tuned schedules applied
    candidate: Optional["VMExecutable"] = None
    libraries: dict[str, Path] = field(default_factory=dict)   # baseline / candidate .so in staging
    workloads: list[str] = field(default_factory=list)         # workload hashes of its tuning tasks
    failure: Optional["TVMFailure"] = None   # TVM raised while making the candidate: no candidate then
    baseline_ms: list[float] = field(default_factory=list)   # the baseline's timed calls while verified
    baseline_warmup: int = 0
    baseline_rss_mb: Optional[float] = None

    @property
    def has_candidate(self) -> bool:
        return self.failure is None and self.candidate is not None


@dataclass
class SharedBaseline:
    """The one dynamic-shape baseline build that serves every bucket (planctl.apply.stages.lowering)."""

    imported: "ImportedModel"
    executable: "VMExecutable"
    library: Optional[Path] = None   # exported once into the staging folder (planctl.apply.stages.build)

    TAG = "dynamic"


@dataclass
class StageClock:
    """Times each stage into ``stages`` and tells ``progress`` it started."""

    progress: Optional[Progress] = None
    stages: list[StageTime] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        raise_if_interrupted()   # a signal's exception lost inside a library still stops the run here
        if self.progress:
            self.progress(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages.append(StageTime(name=name, seconds=round(time.perf_counter() - start, 3)))


@dataclass
class RunContext:
    """One apply: set by the documents stage, then filled in by the stages in order."""

    options: ApplyOptions
    plan: Loaded[OptimizationPlan]
    target: Loaded[Target]
    model_file: Path
    output: OutputFolder
    clock: StageClock
    inputs: dict[str, Any]   # planctl.apply.inputs.components, taken before any stage changes the env
    external_data: list["ExternalData"] = field(default_factory=list)   # the model's data files, checked
    techniques: list[Technique] = field(default_factory=list)   # the plan's enabled ones, in order
    tvm_target: Optional["tvm.target.Target"] = None
    device_kind: str = "cpu"                            # where builds run: cpu | cuda
    cache: Optional["GovernedCache"] = None             # the governed tuning cache, once opened
    shared_baseline: Optional[SharedBaseline] = None    # one dynamic baseline for every bucket, or None
    layout: Optional["Layout"] = None   # where the symbolic dims sit; None: fixed shapes, no padding
    shapes: list[ShapeWork] = field(default_factory=list)   # one per shape bucket
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> PlanSpec:
        return self.plan.model.spec

    @property
    def plan_name(self) -> str:
        return self.plan.model.metadata.name

    @property
    def threads(self) -> int:
        """Threads TVM and the measured contenders use: the target's ``num-cores``, else one per
        physical core (planctl.host.physical_cores, the runtime's default too)."""
        from planctl.host import physical_cores

        return int(self.target.model.spec.tvm.get("num-cores") or physical_cores())

    @property
    def staging(self) -> Path:
        if self.output.staging is None:
            raise RuntimeError("the staging folder is made by planctl.apply.emit.staging before any build")
        return self.output.staging
