"""Decide, at every shape bucket: promote, roll back, call it inconclusive, or reject, from that
bucket's envelope (parity, task quality, memory ceiling, padding), its performance gate, and
whether the baseline it would roll back to passed parity there (planctl.apply.decide). A bucket
that fails rolls back alone; the run's verdict sums them up (planctl.apply.decide.overall)."""
from __future__ import annotations

from typing import Optional

from planctl.apply.context import RunContext
from planctl.apply.stages.build import Builds
from planctl.apply.stages.measure import Measured
from planctl.apply.stages.verify import Verification
from planctl.report.record import BucketDecision, Decision, Evidence, Memory


class Decided(Evidence):
    decision: Decision
    memory: Memory   # measured peak RSS of the first bucket with the planned bytes of its candidate


def run(ctx: RunContext, verification: Verification, measured: Measured, builds: Builds) -> Decided:
    from planctl.apply.decide import decide, overall
    from planctl.documents.shapes import shape_text

    envelope = ctx.spec.envelope
    buckets = []
    for i, work in enumerate(ctx.shapes):
        built, done = builds.shapes[i], measured.buckets[i]
        planned = built.planned_memory
        memory = (done.memory if done is not None else Memory(peak_rss_mb=None)).model_copy(
            update={"planned_bytes": planned.planned_bytes if planned is not None else None})
        quality = [q.model_dump() for q in verification.quality if q.shape_env == work.shape_env]
        failures = [f.model_dump() for f in verification.failures if f.shape == work.tag]
        padding = verification.padding[i]
        found = decide([verification.parity[i].model_dump()], done.speedup.model_dump() if done else None, envelope,
                       quality, memory.model_dump(), fallback=[verification.fallback[i].model_dump()],
                       failures=failures, padding=padding.model_dump() if padding is not None else None)
        serves = {"promote": "candidate", "reject": None}.get(found["verdict"], "baseline")
        buckets.append(BucketDecision(shape_env=work.shape_env, tag=work.tag, verdict=found["verdict"], serves=serves,
                                      reasons=found["reasons"]))
    verdict, reasons = overall([b.model_dump() for b in buckets], shape_text)
    first = measured.first
    planned = builds.shapes[0].planned_memory
    memory = (first.memory if first is not None else Memory(peak_rss_mb=None)).model_copy(
        update={"planned_bytes": planned.planned_bytes if planned is not None else None})
    return Decided(decision=Decision(verdict=verdict, reasons=reasons, buckets=buckets), memory=memory)


def serving(decided: Optional[Decided]) -> dict[str, Optional[str]]:
    """Bucket tag -> the build its calls run (candidate, baseline, or None: refused)."""
    return {b.tag: b.serves for b in decided.decision.buckets} if decided is not None else {}
