"""The production shapes a plan builds, verifies and measures: one static build per shape env.

A shape env assigns each symbolic dim of ``spec.workload.production_shapes`` one value
(``{"batch": 2, "seq": 128}``); ``shape_tag`` names it in file names and stage names. No TVM,
numpy or hypothesis here: every stage after the documents uses these.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Mapping

# Above this many combinations the dims are explored one at a time around ``opt`` (see below).
MAX_SHAPE_PRODUCT = 16


def dim_points(dim_range: Any) -> list[int]:
    """The distinct production values of one dim, ascending: ``{min, opt, max} ∪ values``."""
    return sorted({dim_range.min, dim_range.opt, dim_range.max, *dim_range.values})


def production_shape_envs(plan_spec: Any) -> list[dict[str, int]]:
    """The dim assignments to build and verify, one static artifact each (``plan_spec``: a
    ``PlanSpec`` or the ``OptimizationPlan`` holding it).

    One dim: each of its distinct points (``dim_points``). Several dims: the full cartesian product of
    their points when it has at most ``MAX_SHAPE_PRODUCT`` combinations (small plans: every production
    corner is tested); otherwise one-factor-at-a-time around ``opt`` (every dim takes each of its points
    while the others stay at ``opt``) plus the all-min and all-max corners, which is linear in the number
    of points and still covers each dim's extremes and the largest shape (memory ceiling).
    No symbolic dims: ``[{}]`` (one static shape). Order is deterministic (dims in plan order).
    """
    shapes = getattr(plan_spec, "spec", plan_spec).workload.production_shapes
    if not shapes:
        return [{}]
    names = list(shapes)
    points = [dim_points(shapes[n]) for n in names]
    if math.prod(len(p) for p in points) <= MAX_SHAPE_PRODUCT:
        return [dict(zip(names, combo)) for combo in itertools.product(*points)]
    opt = {n: shapes[n].opt for n in names}
    envs = [{n: shapes[n].min for n in names}, opt, {n: shapes[n].max for n in names}]
    for name, pts in zip(names, points):
        envs += [{**opt, name: p} for p in pts]
    return _distinct(envs)


def _distinct(envs: list[dict[str, int]]) -> list[dict[str, int]]:
    seen, out = set(), []
    for env in envs:
        key = tuple(sorted(env.items()))
        if key not in seen:
            seen.add(key)
            out.append(env)
    return out


def shape_text(shape_env: Mapping[str, int] | None) -> str:
    """A shape env as people write it, in reports, verdicts and progress lines:
    ``{"batch": 2, "seq": 128}`` -> ``batch=2, seq=128``; ``{}`` or None -> ``static``."""
    return ", ".join(f"{name}={value}" for name, value in (shape_env or {}).items()) or "static"


def shape_tag(shape_env: Mapping[str, int]) -> str:
    """File-name tag of a shape env: ``{"batch": 2, "seq": 128}`` -> ``batch-2_seq-128``;
    ``{}`` -> ``static``."""
    return "_".join(f"{k}-{v}" for k, v in shape_env.items()) or "static"
