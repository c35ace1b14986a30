"""The tuning budget an apply may spend: the plan's, capped by the repository-wide ceiling
(``max_trials`` / ``max_wall_clock_s`` of planctl.toml or ``[tool.planctl]``, the same limits rule
PLN209 checks; the caller reads them with planctl.rules.config.load_config). Trials are
MetaSchedule measurements; seconds are wall clock of the search process."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol


class Ceiling(Protocol):
    """The repository's limits (planctl.rules.config.CheckConfig has them)."""

    max_trials: int
    max_wall_clock_s: float


@dataclass(frozen=True)
class Budget:
    trials: int
    wall_clock_s: float
    trials_per_task: int
    max_tasks: int | None = None      # search only this many tasks of most FLOPs per build (None: all)
    capped_by: tuple[str, ...] = ()   # which limits the ceiling lowered

    def to_dict(self) -> dict:
        data = asdict(self)
        data["capped_by"] = list(self.capped_by)
        return data


def effective_budget(plan_budget, ceiling: Ceiling) -> Budget:
    """``plan_budget`` is the plan's TuningBudget (trials, wall_clock_s, trials_per_task)."""
    trials = min(plan_budget.trials, ceiling.max_trials)
    seconds = min(float(plan_budget.wall_clock_s), float(ceiling.max_wall_clock_s))
    capped = tuple(name for name, lowered in (("max_trials", trials < plan_budget.trials),
                                              ("max_wall_clock_s", seconds < plan_budget.wall_clock_s)) if lowered)
    per_task = min(plan_budget.trials_per_task or trials, trials)
    return Budget(trials=trials, wall_clock_s=seconds, trials_per_task=per_task,
                  max_tasks=getattr(plan_budget, "max_tasks", None), capped_by=capped)
