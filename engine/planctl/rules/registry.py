"""The rule registry: ``@rule(...)`` adds a function to ``REGISTRY`` (a plain dict, no metaclass).

A rule is a function ``(ctx: PlanContext) -> Iterable[Violation]``; its docstring is its
documentation page, with the sections What it checks / Why / Example / Fix. Ids are never reused;
a renamed rule keeps its old names as ``aliases``. Registering a rule also enters its id in the one
code catalogue, ``planctl.codes`` (stage ``check``), where an id or name can be taken only once.
"""
from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from planctl import codes
from planctl.findings import Severity

ID_PATTERN = re.compile(r"^PLN[0-9]{3}$")
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DOC_SECTIONS = ("What it checks", "Why", "Example", "Fix")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    check: Callable[..., Iterable]
    aliases: tuple[str, ...] = ()
    waivable: bool = True   # False: a waiver rule (never waived itself; off with --no-waivers)
    unwaivable: str = ""    # why no waiver may accept this rule's finding (apply cannot go on without it)

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.check.__doc__ or "")

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0]


REGISTRY: dict[str, Rule] = {}


def rule(id: str, name: str, severity: str, *, aliases: tuple[str, ...] = (),
         waivable: bool = True, unwaivable: str = ""):
    """Register the decorated function as rule ``id`` (``PLN###``) named ``name`` (kebab-case);
    ``unwaivable``: why a waiver for it is invalid (PLN219)."""
    if not ID_PATTERN.match(id) or not NAME_PATTERN.match(name):
        raise ValueError(f"bad rule id or name: {id} {name}")
    if id in REGISTRY:
        raise ValueError(f"rule id {id} is already registered")

    def register(func):
        entry = Rule(id, name, Severity(severity), func, tuple(aliases), waivable, unwaivable)
        codes.register(codes.Code(id, name, entry.summary, entry.doc, entry.severity.value,
                                  stage="check", aliases=entry.aliases))
        REGISTRY[id] = entry
        return func

    return register


def load_rules() -> dict[str, Rule]:
    """Import every rule module (the explicit list in ``planctl.rules.checks``) once."""
    from planctl.rules.checks import MODULES

    for module in MODULES:
        importlib.import_module(f"planctl.rules.checks.{module}")
    return REGISTRY


def lookup(key: str) -> Rule | None:
    """A rule by id, name or alias (case-insensitive)."""
    rules = load_rules()
    wanted = key.strip()
    if wanted.upper() in rules:
        return rules[wanted.upper()]
    for r in rules.values():
        if wanted.lower() == r.name or wanted.lower() in r.aliases:
            return r
    return None
