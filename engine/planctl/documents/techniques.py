"""Lookups in a plan's ``spec.optimizations`` that every stage makes (no TVM, no rules).

A technique is found by its ``technique`` name; a plan lists each technique at most once in
practice, and the first one wins when it does not.
"""
from __future__ import annotations

from typing import Iterable, Union

from planctl.documents.models.plan import Autotuning, PlanSpec

Techniques = Union[PlanSpec, Iterable]   # a plan spec, or a list of its technique models


def _listed(where: Techniques) -> list:
    return list(getattr(where, "optimizations", where))   # a PlanSpec, or its techniques


def enabled(where: Techniques) -> list:
    """The techniques whose ``enabled`` switch is on, in plan order."""
    return [t for t in _listed(where) if t.enabled]


def find(where: Techniques, name: str, *, enabled_only: bool = True):
    """The technique called ``name`` (the enabled one unless ``enabled_only`` is False), or None."""
    return next((t for t in _listed(where) if t.technique == name and (t.enabled or not enabled_only)), None)


def autotuning(where: Techniques, *, enabled_only: bool = True) -> Autotuning | None:
    """The plan's ``autotuning`` technique (budget, seed, committed ``records``), or None."""
    return find(where, "autotuning", enabled_only=enabled_only)
