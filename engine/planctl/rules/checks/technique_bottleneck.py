"""PLN201 technique-bottleneck."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


def addresses(info, table, present: set[str]) -> set[str] | str:
    """The bottleneck kinds a technique acts on in this plan: its own, plus those of the
    techniques it enables when they are in the plan too."""
    if info.addresses == "any":
        return "any"
    kinds = set(info.addresses)
    for other in info.enables:
        if other in present:
            kinds |= set(table.technique(other).addresses)
    return kinds


@rule("PLN201", "technique-bottleneck", "error")
def check(ctx):
    """Every technique addresses the plan's measured bottleneck.

    What it checks
        Each technique in ``spec.optimizations`` must act on ``spec.bottleneck.kind`` according to
        the capability table: fusion on memory traffic and launch overhead; tiling and autotuning
        on compute and locality; quantization and mixed precision on memory and compute; static
        memory planning on allocation and peak memory; batching on serving utilization and
        queueing; prefix reuse on repeated prefill; speculative decoding on decode steps.

        Graph cleanups (constant folding, dead-code and common-subexpression elimination) address
        any bottleneck: they only remove work or normalise patterns, are low risk (parity, no
        tuning cost) and are what later passes match on. A technique that *enables* another
        (operator fusion enables autotuning: the fused epilogues are what the tuner schedules)
        also addresses what the enabled technique addresses when both are in the plan.

    Why
        An optimization that does not target the measured bottleneck moves cost into another
        layer (register pressure, compile time, memory) without improving the workload metric.

    Example
        ``bottleneck: {kind: allocation}`` with ``technique: autotuning``: tuning schedules cannot
        remove allocations from the critical path.

    Fix
        Drop the technique, or measure again and declare the bottleneck it really addresses (in a
        separate plan if the layer differs).
    """
    kind = ctx.spec.bottleneck.kind
    present = {t.technique for t in ctx.spec.optimizations}
    for pointer, technique, info in ctx.techniques():
        kinds = addresses(info, ctx.table, present)
        if kinds == "any" or kind in kinds:
            continue
        yield Violation(pointer + "/technique",
                        f"{technique.technique} does not address a {kind} bottleneck "
                        f"(it addresses {', '.join(sorted(kinds))})",
                        help="remove it, or put it in a plan for the bottleneck it addresses")
