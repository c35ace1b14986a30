"""``planctl apply``: the stages in the order they run, over one typed context.

documents (load → legality → references) → lowering → tuning → build → verify → profile → measure →
decide → emit → report

Each stage is a module of :mod:`planctl.apply.stages`: a function of the context
(:class:`planctl.apply.context.RunContext`) that returns its evidence as a frozen model; the run
record is built from those results alone. Everything is written into a staging folder beside the
output, which is renamed into place last, so an interrupted or failed apply leaves nothing half
written.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from planctl.apply import inputs
from planctl.apply.context import ApplyOptions, Progress, RunContext
from planctl.apply.stages import build, decide, documents, emit, lowering, measure, profile, report, tuning, verify
from planctl.report.write import json_safe

__all__ = ["ApplyOptions", "ApplyResult", "TuneResult", "run_apply", "run_tune"]


@dataclass
class ApplyResult:
    """Where the output went and its run record (report.json's data). A run skipped as up to date
    returns the live output's record with ``up_to_date: true`` and ``up_to_date_since``."""

    out_dir: Path
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.record.get("decision", {}).get("verdict", "rollback")


def run_apply(options: ApplyOptions, progress: Progress | None = None) -> ApplyResult:
    """Run every stage; return where the output went and the record.

    When the live output was made from the same inputs (planctl.apply.inputs) and its libraries are
    intact, nothing runs (unless ``options.force``). Raises LegalityError when ``planctl check``
    rejects the plan, another PlanctlError subclass for bad input (nothing is written then); a plan
    that fails its envelope is not an error: the result's verdict says ``rollback`` (or ``reject``
    when not even the baseline build is verified).
    """
    ctx, found, checked = documents.run(options, progress)   # check's rules first: they stop it, exit 1
    previous = None if options.force else inputs.live_output(ctx.output.live, inputs.digest(ctx.inputs))
    if previous is not None:
        since = {"up_to_date_since": previous["created"]} if previous.get("created") else {}
        return ApplyResult(out_dir=ctx.output.live, record={**previous, "up_to_date": True, **since})
    with _exclusive(ctx), _staging(ctx):
        measure.prepare(ctx)
        lowered = lowering.run(ctx)
        tuned = tuning.run(ctx)
        built = build.run(ctx)
        verified = verify.run(ctx)
        profiled = profile.run(ctx, lowered)
        measured = measure.run(ctx)
        decided = decide.run(ctx, verified, measured, built)
        emitted = emit.run(ctx, decided, verified)
        record = report.run(ctx, found, checked, lowered, tuned, built, verified, profiled, measured, decided,
                            emitted)
        _publish(ctx, Path(emitted.destination))
    return ApplyResult(out_dir=Path(emitted.destination), record=json_safe(record))


@dataclass
class TuneResult:
    """What ``planctl tune`` searched and kept: per bucket (its tag) the tasks, the valid records
    serving them and the trials spent; ``records_file`` when the best records were written."""

    buckets: dict[str, dict[str, Any]]
    records_file: Path | None = None


def run_tune(options: ApplyOptions, progress: Progress | None = None, write_records: bool = False,
             notice: Progress | None = None) -> TuneResult:
    """The stages of apply up to tuning (documents with legality, lowering, tuning): every bucket's tasks
    are served from the cache or searched within the plan's budget (per bucket). With
    ``write_records`` the record serving each task of every bucket (the best valid one, else the
    failure mark that keeps apply from searching a task whose every candidate fails) replaces
    ``<records>/<target>.jsonl`` of the plan's autotuning technique. Nothing is built or
    measured; raises like :func:`run_apply`, and TuningError when the plan does not tune.
    ``notice`` is told, whatever the verbosity, what a long silent step is doing (the lowering that
    ``--refine``'s patterns wait for)."""
    import tempfile

    from planctl.documents.references import records_path
    from planctl.errors import TuningError

    ctx, _, _ = documents.run(options, progress)
    tuning.refuse_unknown_buckets(ctx)
    with _exclusive(ctx), tempfile.TemporaryDirectory(prefix="planctl-tune-") as folder:
        ctx.output = dataclasses.replace(ctx.output, staging=Path(folder))
        if options.refine and notice is not None:   # a typo is refused only after this, tens of seconds on MiniLM
            notice(tuning.refine_notice(ctx))
        lowering.run(ctx, baselines=False)
        tuned = tuning.run(ctx)
        if ctx.cache is None:
            raise TuningError(f"{ctx.plan_name} has no enabled autotuning technique: nothing to tune")
        buckets = {work.tag: tuning.served_summary(ctx, work, report)
                   for work, report in zip(ctx.shapes, tuned.shapes)}
        target_file = None
        if write_records:
            folder_or_file = records_path(ctx.plan, options.root)
            if folder_or_file is None:
                raise TuningError("the plan's autotuning names no `records:` to write",
                                  hint="add records: <folder> to the autotuning technique")
            target_file = (folder_or_file / f"{options.target_name}.jsonl" if folder_or_file.suffix != ".jsonl"
                           else folder_or_file)
            tuning.write_serving_records(ctx, target_file)
    return TuneResult(buckets=buckets, records_file=target_file)


def _exclusive(ctx: RunContext) -> contextlib.AbstractContextManager[None]:
    """One apply of a plan for a target at a time per output root (a lock file beside the output,
    removed with the output root when this run created it and left it empty)."""
    from planctl.apply.exclusive import exclusive

    out_root = ctx.options.out_root
    return exclusive(out_root, f".{ctx.plan_name}.{ctx.options.target_name}.lock",
                     busy=f"another planctl apply of {ctx.plan_name} for {ctx.options.target_name} is "
                          f"writing to {out_root}", hint="wait for it, or use --out DIR")


@contextlib.contextmanager
def _staging(ctx: RunContext) -> Iterator[None]:
    """The staging folder every stage writes into, beside the live output; removed unless published."""
    from planctl.apply.emit import staging

    with staging(ctx.output.live) as folder:
        ctx.output = dataclasses.replace(ctx.output, staging=folder)
        yield


def _publish(ctx: RunContext, destination: Path) -> None:
    from planctl.apply.emit import publish

    publish(ctx.staging, destination)
