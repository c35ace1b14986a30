"""PLN211 batching-slo."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule

SLOS = ("ttft_p95_ms", "ttft_p99_ms", "tpot_p95_ms", "tpot_p99_ms")


@rule("PLN211", "batching-slo", "error")
def check(ctx):
    """Continuous batching declares TTFT and TPOT SLOs at p95 and p99.

    What it checks
        A ``continuous-batching`` technique has ``slo`` with all of ``ttft_p95_ms``,
        ``ttft_p99_ms``, ``tpot_p95_ms`` and ``tpot_p99_ms``.

    Why
        A larger batch raises utilization and throughput and can hide a worse time to first token
        (TTFT) or time per output token (TPOT) in the tail; batching is judged on goodput under
        those SLOs, not on throughput.

    Example
        ``technique: continuous-batching`` with ``max_batch: 64`` and no ``slo``.

    Fix
        Add ``slo: {ttft_p95_ms, ttft_p99_ms, tpot_p95_ms, tpot_p99_ms}`` from the product's
        latency targets.
    """
    for pointer, technique, _ in ctx.techniques():
        if technique.technique != "continuous-batching":
            continue
        missing = [s for s in SLOS if technique.slo is None or getattr(technique.slo, s) is None]
        if missing:
            yield Violation(pointer, f"continuous batching without SLOs {', '.join(missing)}",
                            help="add slo: {ttft_p95_ms, ttft_p99_ms, tpot_p95_ms, tpot_p99_ms}")
