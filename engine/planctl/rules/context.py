"""What a rule sees: one loaded plan, its targets, the repository's other plans, the capability
table, the configuration and the clock (injected, so tests never depend on today's date)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from planctl.rules.capabilities import CapabilityTable, TechniqueInfo
from planctl.rules.config import CheckConfig


@dataclass(frozen=True)
class Violation:
    """What a rule yields: a JSON pointer into the plan and a message. The engine turns it into a
    ``Finding`` with the rule's id and severity and the pointer's line and column. ``key``
    tells apart two violations at one pointer (e.g. the target's name) for stable fingerprints."""

    pointer: str
    message: str
    help: str | None = None
    severity: str | None = None
    key: str = ""


@dataclass
class Repo:
    """Every plan of the repository, for the rules that compare plans (loaded on first use)."""

    root: Path
    given: dict[Path, Any]
    load_others: Callable[[], dict[Path, Any]] = dict
    _all: dict[Path, Any] | None = None
    _memo: dict[str, Any] = field(default_factory=dict)

    @property
    def plans(self) -> list[Any]:
        if self._all is None:
            self._all = {**self.load_others(), **self.given}
        return [self._all[p] for p in sorted(self._all)]

    def index(self, key: str, build: Callable[[list[Any]], Any]) -> Any:
        """``build(plans)``, computed once per run (else cross-file rules are quadratic)."""
        if key not in self._memo:
            self._memo[key] = build(self.plans)
        return self._memo[key]


@dataclass
class PlanContext:
    loaded: Any  # Loaded[OptimizationPlan]
    targets: dict[str, Any]  # name -> Loaded[Target], or None when missing/invalid
    repo: Repo
    table: CapabilityTable
    config: CheckConfig
    today: dt.date
    root: Path
    missing_targets: tuple[str, ...] = ()
    escaping_targets: tuple[str, ...] = ()  # target documents that are symlinks out of the root

    @property
    def plan(self):
        return self.loaded.model

    @property
    def spec(self):
        return self.loaded.model.spec

    def techniques(self) -> Iterator[tuple[str, Any, TechniqueInfo]]:
        """``(pointer, technique, info)`` for every technique, enabled or not: a disabled one
        must still be legal the day someone enables it."""
        for i, technique in enumerate(self.spec.optimizations):
            yield f"/spec/optimizations/{i}", technique, self.table.technique(technique.technique)

    def known_targets(self) -> Iterator[tuple[str, Any]]:
        for name, loaded in self.targets.items():
            if loaded is not None:
                yield name, loaded.model
