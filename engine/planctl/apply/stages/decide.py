"""Decide: promote, roll back or call it inconclusive, from the envelope (parity, task quality,
memory ceiling) and the performance gate (planctl.apply.decide)."""
from __future__ import annotations

from planctl.apply.context import RunContext
from planctl.apply.stages.build import Builds
from planctl.apply.stages.measure import Measured
from planctl.apply.stages.verify import Verification
from planctl.report.record import Decision, Evidence, Memory


class Decided(Evidence):
    decision: Decision
    memory: Memory   # measured peak RSS with the planned bytes of the first (measured) shape


def run(ctx: RunContext, verification: Verification, measured: Measured, builds: Builds) -> Decided:
    from planctl.apply.decide import decide

    memory = measured.memory.model_copy(update={"planned_bytes": builds.shapes[0].planned_memory.planned_bytes})
    decision = decide([p.model_dump() for p in verification.parity], measured.speedup.model_dump(),
                      ctx.spec.envelope, [q.model_dump() for q in verification.quality], memory.model_dump())
    return Decided(decision=Decision(**decision), memory=memory)
