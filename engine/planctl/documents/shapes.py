"""The production shapes a plan builds, verifies and measures, and the traffic it expects.

A shape env assigns each symbolic dim of ``spec.workload.production_shapes`` one value
(``{"batch": 8, "seq": 16}``); ``shape_tag`` names it in file names and stage names.

Apply does not build every production shape: it groups them into at most ``spec.workload.buckets.max``
**buckets** (:func:`choose_buckets`), one static build each, and the runtime pads every call up to
the smallest bucket that fits it (planctl.runtime.dispatch). The choice minimises the expected
padded work of a call over the declared traffic mix (:func:`traffic_mix`), where the work of a
call is the element count of its padded inputs, i.e. the product of its symbolic dims: a
transformer encoder's cost is linear in its tokens (batch x sequence) up to the attention term,
which is 4*seq/(24*hidden) of the rest (5% for MiniLM at seq 128). No TVM, numpy or hypothesis
here: validate, check and every stage after the documents use these.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

# Above this many combinations the dims are explored one at a time around ``opt`` (see below).
MAX_SHAPE_PRODUCT = 16
DEFAULT_MAX_BUCKETS = 4
# Above this many candidate subsets the choice is greedy (see choose_buckets).
MAX_EXHAUSTIVE_SUBSETS = 200_000


def value_of(entry: Any) -> int:
    """The dim value of one ``values`` entry: a plain int or a ``{value, share}`` pair."""
    return int(getattr(entry, "value", entry) if not isinstance(entry, Mapping) else entry["value"])


def share_of(entry: Any) -> float | None:
    """The traffic share of one ``values`` entry, None for a plain value."""
    if isinstance(entry, Mapping):
        return entry.get("share")
    return getattr(entry, "share", None)


def dim_values(dim_range: Any) -> list[int]:
    """The declared representative values of one dim, in order written (no duplicates)."""
    return list(dict.fromkeys(value_of(v) for v in dim_range.values))


def dim_points(dim_range: Any) -> list[int]:
    """The distinct production values of one dim, ascending: ``{min, opt, max} ∪ values``."""
    return sorted({dim_range.min, dim_range.opt, dim_range.max, *dim_values(dim_range)})


def _shapes(plan_spec: Any) -> dict:
    return getattr(plan_spec, "spec", plan_spec).workload.production_shapes


def production_shape_envs(plan_spec: Any) -> list[dict[str, int]]:
    """The dim assignments that cover the production range (``plan_spec``: a ``PlanSpec`` or the
    ``OptimizationPlan`` holding it): what parity coverage reasons about.

    One dim: each of its distinct points (``dim_points``). Several dims: the full cartesian product of
    their points when it has at most ``MAX_SHAPE_PRODUCT`` combinations (small plans: every production
    corner is tested); otherwise one-factor-at-a-time around ``opt`` (every dim takes each of its points
    while the others stay at ``opt``) plus the all-min and all-max corners, which is linear in the number
    of points and still covers each dim's extremes and the largest shape (memory ceiling).
    No symbolic dims: ``[{}]`` (one static shape). Order is deterministic (dims in plan order).
    """
    shapes = _shapes(plan_spec)
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


# ------------------------------------------------------------------------------ traffic and buckets
@dataclass(frozen=True)
class TrafficPoint:
    """One shape of the declared traffic mix and its share of calls (shares add up to 1)."""

    shape_env: dict[str, int]
    share: float


def dim_traffic(dim_range: Any) -> list[tuple[int, float]]:
    """``[(value, share)]`` of one dim, ascending: the declared shares (renormalised to add up to
    exactly 1), equal shares over the declared values when no share is given, or over its
    ``{min, opt, max}`` points when no value is declared. Shares given on some values only
    (refused by validate, PLN122) count as equal shares."""
    declared = [(value_of(v), share_of(v)) for v in dim_range.values]
    if not declared:
        return [(p, 1.0 / len(dim_points(dim_range))) for p in dim_points(dim_range)]
    merged: dict[int, float] = {}
    known = all(share is not None for _, share in declared)
    for value, share in declared:
        merged[value] = merged.get(value, 0.0) + (float(share) if known else 1.0)
    total = sum(merged.values())
    return [(value, merged[value] / total) for value in sorted(merged)]


def traffic_mix(plan_spec: Any) -> list[TrafficPoint]:
    """The declared traffic mix over every combination of the dims' values, the dims taken as
    independent (the share of a combination is the product of its values' shares); ``[]`` for a
    plan without symbolic dims. Order: dims in plan order, values ascending."""
    shapes = _shapes(plan_spec)
    if not shapes:
        return []
    names = list(shapes)
    per_dim = [dim_traffic(shapes[n]) for n in names]
    return [TrafficPoint(dict(zip(names, (v for v, _ in combo))), math.prod(s for _, s in combo))
            for combo in itertools.product(*per_dim)]


def work(shape_env: Mapping[str, int]) -> int:
    """The padded work of a call at ``shape_env``: the product of its symbolic dims (elements of a
    [batch, seq] input); 1 for a static shape."""
    return math.prod(shape_env.values()) if shape_env else 1


def fits(shape_env: Mapping[str, int], bucket: Mapping[str, int]) -> bool:
    """Whether a call of ``shape_env`` fits ``bucket`` (every dim at most the bucket's)."""
    return all(shape_env[d] <= bucket[d] for d in bucket)


def bucket_for(shape_env: Mapping[str, int], buckets: Iterable[Mapping[str, int]]) -> dict[str, int] | None:
    """The bucket that serves a call: the one with the least work among those it fits (ties: the
    first in the order given); None when it fits none."""
    fitting = [dict(b) for b in buckets if fits(shape_env, b)]
    return min(fitting, key=work) if fitting else None


def expected_work(buckets: list[dict[str, int]], mix: list[TrafficPoint]) -> float:
    """Expected padded work per call of ``mix`` served by ``buckets`` (math.inf when a point fits
    none of them)."""
    total = 0.0
    for point in mix:
        bucket = bucket_for(point.shape_env, buckets)
        if bucket is None:
            return math.inf
        total += point.share * work(bucket)
    return total


def max_buckets(plan_spec: Any) -> int:
    buckets = getattr(plan_spec, "spec", plan_spec).workload.buckets
    return buckets.max if buckets is not None else DEFAULT_MAX_BUCKETS


def padded_work_by_max(plan_spec: Any, more: int = 3) -> list[dict[str, Any]]:
    """What raising ``buckets.max`` would buy: ``[{max, buckets, expected_work}]`` for the plan's max
    and each of the next ``more`` values (while the grid has more points than that), the buckets
    :func:`choose_buckets` would pick and their expected padded work per call over the traffic mix
    (elements). Each extra bucket is one more build to tune, ship and load. Empty without symbolic
    dims or a traffic mix."""
    shapes, mix = _shapes(plan_spec), traffic_mix(plan_spec)
    if not shapes or not mix:
        return []
    grid_size = math.prod(len(dim_points(shapes[n])) for n in shapes)
    out, most = [], max_buckets(plan_spec)
    for limit in range(most, max(most, min(most + more, grid_size)) + 1):
        chosen = choose_buckets(plan_spec, limit)
        out.append({"max": limit, "buckets": chosen, "expected_work": expected_work(chosen, mix)})
    return out


def padded_work_text(by_max: list[dict], build_mb: float | None = None) -> str | None:
    """``391 padded elements (batch x seq) per call at buckets.max 5; against that, max 6: 330 (-16%;
    +32x32); ...``, or None. ``build_mb``: the size of one build (its weights), the cost
    of each extra bucket on disk and in memory."""
    if not by_max:
        return None
    first, steps = by_max[0], []
    for before, after in zip(by_max, by_max[1:]):
        changed = [f"+{_compact(b)}" for b in after["buckets"] if b not in before["buckets"]]
        changed += [f"-{_compact(b)}" for b in before["buckets"] if b not in after["buckets"]]
        steps.append(f"max {after['max']}: {after['expected_work']:.0f} "
                     f"({after['expected_work'] / first['expected_work'] - 1:+.0%}; {', '.join(changed)})")
    size = (f", ~{build_mb:.0f} MB each" if build_mb >= 1 else ", under 1 MB each") if build_mb else ""
    more = (f"; against that, {'; '.join(steps)}; each bucket is one more build to tune, ship and load{size}"
            if steps else "")
    names = " x ".join(by_max[0]["buckets"][0]) if by_max[0]["buckets"] else "elements"
    return f"{first['expected_work']:.0f} padded elements ({names}) per call at buckets.max {first['max']}{more}"


def _compact(shape_env: Mapping[str, int]) -> str:
    """``{"batch": 32, "seq": 16}`` -> ``32x16`` (the dims' names are said once, beside)."""
    return "x".join(str(v) for v in shape_env.values())


def choose_buckets(plan_spec: Any, limit: int | None = None) -> list[dict[str, int]]:
    """The shape buckets apply builds, verifies, gates and ships (one static build each), in
    ascending work.

    Candidates are the grid of every dim's points (:func:`dim_points`); the all-max point is
    always a bucket (every production shape must fit one). When the grid has at most
    ``buckets.max`` points, every point is a bucket (each production shape is built exactly, as
    before buckets existed). Otherwise the ``buckets.max`` points that minimise
    :func:`expected_work` over :func:`traffic_mix`: an exhaustive search over the subsets when
    there are at most ``MAX_EXHAUSTIVE_SUBSETS`` of them, else greedy (add the bucket that lowers
    the expected work most, repeatedly). Ties go to the subset whose sorted bucket list comes first
    (deterministic). ``[{}]`` for a plan without symbolic dims. ``limit``: another max than the
    plan's (:func:`padded_work_by_max`).
    """
    shapes = _shapes(plan_spec)
    if not shapes:
        return [{}]
    names = list(shapes)
    grid = [dict(zip(names, combo)) for combo in itertools.product(*(dim_points(shapes[n]) for n in names))]
    limit = limit or max_buckets(plan_spec)
    if len(grid) <= limit:
        return sorted(grid, key=_order)
    top = {n: shapes[n].max for n in names}
    rest = [g for g in grid if g != top]
    mix = traffic_mix(plan_spec)
    if math.comb(len(rest), limit - 1) <= MAX_EXHAUSTIVE_SUBSETS:
        subsets = (sorted([top, *c], key=_order) for c in itertools.combinations(rest, limit - 1))
        best = min(subsets, key=lambda s: (expected_work(s, mix), [_order(b) for b in s]))
        return best
    chosen = [top]
    while len(chosen) < limit:
        pick = min(rest, key=lambda g: (expected_work([*chosen, g], mix), _order(g)))
        chosen.append(pick)
        rest.remove(pick)
    return sorted(chosen, key=_order)


def _order(env: Mapping[str, int]) -> tuple:
    return (work(env), tuple(env.values()))


def shape_text(shape_env: Mapping[str, int] | None) -> str:
    """A shape env as people write it, in reports, verdicts and progress lines:
    ``{"batch": 2, "seq": 128}`` -> ``batch=2, seq=128``; ``{}`` or None -> ``static``."""
    return ", ".join(f"{name}={value}" for name, value in (shape_env or {}).items()) or "static"


def shape_tag(shape_env: Mapping[str, int]) -> str:
    """File-name tag of a shape env: ``{"batch": 2, "seq": 128}`` -> ``batch-2_seq-128``;
    ``{}`` -> ``static``."""
    return "_".join(f"{k}-{v}" for k, v in shape_env.items()) or "static"
