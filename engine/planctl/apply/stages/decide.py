"""Decide: promote, roll back, call it inconclusive, or reject, from the envelope (parity, task
quality, memory ceiling), the performance gate, and whether the baseline a rollback would deploy
passed parity itself (planctl.apply.decide)."""
from __future__ import annotations

from typing import Optional

from planctl.apply.context import RunContext
from planctl.apply.stages.build import Builds
from planctl.apply.stages.measure import Measured
from planctl.apply.stages.verify import Verification
from planctl.report.record import Decision, Evidence, Memory


class Decided(Evidence):
    decision: Decision
    memory: Memory   # measured peak RSS with the planned bytes of the first (measured) shape


def run(ctx: RunContext, verification: Verification, measured: Optional[Measured], builds: Builds) -> Decided:
    from planctl.apply.decide import decide

    planned = builds.shapes[0].planned_memory
    memory = (measured.memory if measured is not None else Memory(peak_rss_mb=None)).model_copy(
        update={"planned_bytes": planned.planned_bytes if planned is not None else None})
    decision = decide([p.model_dump() for p in verification.parity],
                      measured.speedup.model_dump() if measured is not None else None,
                      ctx.spec.envelope, [q.model_dump() for q in verification.quality], memory.model_dump(),
                      fallback=[p.model_dump() for p in verification.fallback],
                      failures=[f.model_dump() for f in verification.failures])
    return Decided(decision=Decision(**decision), memory=memory)
