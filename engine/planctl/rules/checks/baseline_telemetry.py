"""PLN210 baseline-telemetry."""
from __future__ import annotations

from planctl.rules.checks.placeholder_text import is_placeholder
from planctl.rules.context import Violation
from planctl.rules.registry import rule

FIGURES = ("p50_ms", "p99_ms", "throughput_per_s", "peak_memory_mb")


@rule("PLN210", "baseline-telemetry", "error")
def check(ctx):
    """The baseline telemetry that motivated the plan is present and recent.

    What it checks
        ``workload.baseline_telemetry`` exists, holds at least one figure (p50, p99, throughput or
        peak memory; a ``TODO`` source without figures is ``PLN221``'s), is dated no later than today and no more than ``max_telemetry_age_days``
        (repository configuration, default 90) before today.

    Why
        Every optimization targets a *measured* bottleneck. Old telemetry describes a workload
        that may have moved (traffic mix, model version, hardware), and a plan argued from it
        optimizes the past.

    Example
        ``baseline_telemetry: {date: 2025-01-10, ...}`` checked a year later.

    Fix
        Measure the baseline again and update ``date`` and the figures.
    """
    telemetry = ctx.spec.workload.baseline_telemetry
    if telemetry is None:
        yield Violation("/spec/workload", "the plan has no baseline telemetry",
                        help="add workload.baseline_telemetry: {date, source, p50_ms, p99_ms}")
        return
    pointer = "/spec/workload/baseline_telemetry"
    if all(getattr(telemetry, f) is None for f in FIGURES) and not is_placeholder(telemetry.source):
        # (a placeholder source is PLN221's: the one to-do "measure the baseline" is reported once)
        yield Violation(pointer, "baseline telemetry has no figure", key="figures",
                        help=f"add one of: {', '.join(FIGURES)}")
    age = (ctx.today - telemetry.date).days
    limit = ctx.config.max_telemetry_age_days
    if age < 0:
        yield Violation(pointer + "/date", f"baseline telemetry is dated {telemetry.date}, after "
                        f"today ({ctx.today})", key="date")
    elif age > limit:
        yield Violation(pointer + "/date", f"baseline telemetry from {telemetry.date} is {age} "
                        f"days old (limit {limit})", key="date",
                        help="measure the baseline again, or raise max_telemetry_age_days")
