"""PLN213 speculation-evidence."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN213", "speculation-evidence", "error")
def check(ctx):
    """Speculative decoding has a measured acceptance rate and a concurrency ceiling.

    What it checks
        A ``speculative-decoding`` technique sets ``acceptance_rate`` (measured on production
        traffic) and ``concurrency_ceiling`` (the load above which speculation is turned off).

    Why
        Drafting only pays when acceptance is high; under saturated, high-concurrency load
        speculation spends compute and memory that more requests needed, and TPOT gets worse.

    Example
        ``technique: speculative-decoding`` with ``draft_model: tiny`` and nothing else.

    Fix
        Measure acceptance on production prompts and set both fields.
    """
    for pointer, technique, _ in ctx.techniques():
        if technique.technique != "speculative-decoding":
            continue
        if technique.acceptance_rate is None:
            yield Violation(pointer, "speculative decoding without a measured acceptance rate",
                            key="acceptance", help="add acceptance_rate, measured on production "
                            "traffic")
        if technique.concurrency_ceiling is None:
            yield Violation(pointer, "speculative decoding without a concurrency ceiling",
                            key="ceiling", help="add concurrency_ceiling")
