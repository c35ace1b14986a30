"""PLN203 quality-trade-review."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN203", "quality-trade-review", "error")
def check(ctx):
    """A technique that changes numerics beyond parity has a quality envelope and a review.

    What it checks
        When the plan has a technique whose numerics are a quality trade (mixed precision,
        quantization, pruning, codebooks), ``spec.envelope.quality`` (a task-quality metric with a
        goal on a named dataset) and ``spec.review`` (approver and ticket) are both present.

    Why
        Lower precision and compression change capacity and quality; parity tolerances alone
        cannot catch a task regression, and planctl does not own the permission to trade quality
        for speed: a person does, on the record.

    Example
        ``technique: quantization`` with only ``envelope.parity`` and no ``review``.

    Fix
        Add ``envelope.quality`` (metric, dataset, goal) and ``review`` (approver, ticket).
    """
    trades = [t.technique for _, t, info in ctx.techniques() if info.changes_numerics]
    if not trades:
        return
    names = ", ".join(dict.fromkeys(trades))
    if ctx.spec.envelope.quality is None:
        yield Violation("/spec/envelope", f"{names} changes numerics beyond parity but the "
                        "envelope has no task-quality metric", key="quality",
                        help="add envelope.quality: {metric, dataset, goal}")
    if ctx.spec.review is None:
        yield Violation("/spec", f"{names} trades quality for speed but the plan has no review "
                        "record", key="review", help="add review: {approver, ticket}")
