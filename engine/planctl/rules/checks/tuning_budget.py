"""PLN209 tuning-budget."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN209", "tuning-budget", "error")
def check(ctx):
    """Autotuning stays within the repository's trial and wall-clock limits.

    What it checks
        Every ``autotuning`` technique has a budget with both ``trials`` and ``wall_clock_s``
        (the schema requires both), ``trials`` is at most ``max_trials`` and ``wall_clock_s`` at
        most ``max_wall_clock_s``, and ``trials_per_task``, when set, is not above ``trials``.
        Limits come from ``planctl.toml`` (or ``[tool.planctl]`` in ``pyproject.toml``) at the
        repository root; defaults 20,000 trials and 14,400 s.

    Why
        Autotuning cost must be governed: an unbounded search holds a CI runner or a device farm
        for hours, and its records then have to be reviewed.

    Example
        ``budget: {trials: 100000, wall_clock_s: 86400}`` with the default limits.

    Fix
        Lower the budget, reuse reviewed records (``records:``), or raise the limit in the
        repository configuration after review.
    """
    config = ctx.config
    for pointer, technique, _ in ctx.techniques():
        if technique.technique != "autotuning":
            continue
        budget = technique.budget
        if budget.trials > config.max_trials:
            yield Violation(pointer + "/budget/trials", f"autotuning budget of {budget.trials} "
                            f"trials is above the repository limit of {config.max_trials}",
                            help="lower it or raise max_trials in planctl.toml")
        if budget.wall_clock_s > config.max_wall_clock_s:
            yield Violation(pointer + "/budget/wall_clock_s", f"autotuning wall clock of "
                            f"{budget.wall_clock_s:g} s is above the repository limit of "
                            f"{config.max_wall_clock_s:g} s",
                            help="lower it or raise max_wall_clock_s in planctl.toml")
        if budget.trials_per_task and budget.trials_per_task > budget.trials:
            yield Violation(pointer + "/budget/trials_per_task",
                            f"trials_per_task ({budget.trials_per_task}) is above the total "
                            f"trials ({budget.trials})")
