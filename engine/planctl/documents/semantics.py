"""Semantic checks of one document that the schema cannot express (PLN110-PLN115).

They read the plain data defensively (a value of the wrong type is skipped: the schema check already
reports it), so they run even when the model did not validate and one run shows every problem.
Each check yields ``(rule, pointer, message, help)``; :func:`check` places them in the source.
"""
from __future__ import annotations

import posixpath
from typing import Any, Iterator

from planctl.documents.positions import SourceIndex, join
from planctl.documents.source import Issue

Found = tuple[str, str, str, "str | None"]

_WORKLOAD = "/spec/workload"


def check(kind: str, data: Any, index: SourceIndex) -> list[Issue]:
    """Every semantic issue of a document of ``kind`` (only plans and locks have any)."""
    checks = {"OptimizationPlan": (_shape_ranges, _inputs, _domains, _plan_paths),
              "Lock": (_lock_paths,)}.get(kind, ())
    issues = []
    for fn in checks:
        for rule, pointer, message, hint in fn(data):
            line, col, end_line, end_col = index.locate(pointer)
            issues.append(Issue(rule, message, line, col, pointer, hint, end_line, end_col))
    return issues


def _get(data: Any, *path) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dims(data: Any) -> dict:
    dims = _get(data, "spec", "workload", "production_shapes")
    return dims if isinstance(dims, dict) else {}


def _shape_ranges(data: Any) -> Iterator[Found]:
    """PLN110 min <= opt <= max; PLN113 each representative value inside [min, max]."""
    for dim, rng in _dims(data).items():
        if not isinstance(rng, dict):
            continue
        at = join(f"{_WORKLOAD}/production_shapes", dim)
        lo, opt, hi = rng.get("min"), rng.get("opt"), rng.get("max")
        if all(_is_int(v) for v in (lo, opt, hi)) and not lo <= opt <= hi:
            yield ("PLN110", at, f"production shape `{dim}` has min {lo}, opt {opt}, max {hi}; "
                   "it needs min <= opt <= max", "swap the values or fix the typo")
        values = rng.get("values")
        if not (_is_int(lo) and _is_int(hi) and isinstance(values, list)):
            continue
        for i, value in enumerate(values):
            if _is_int(value) and not lo <= value <= hi:
                yield ("PLN113", join(f"{at}/values", i), f"representative value {value} of `{dim}` "
                       f"is outside its range [{lo}, {hi}]", "widen the range or drop the value")


def _inputs(data: Any) -> Iterator[Found]:
    """PLN111 duplicate input names; PLN112 symbolic dims missing from production_shapes."""
    inputs = _get(data, "spec", "workload", "inputs")
    if not isinstance(inputs, list):
        return
    dims, seen = _dims(data), {}
    for i, spec in enumerate(inputs):
        if not isinstance(spec, dict):
            continue
        name = spec.get("name")
        if isinstance(name, str):
            if name in seen:
                yield ("PLN111", f"{_WORKLOAD}/inputs/{i}/name", f"input `{name}` is declared twice "
                       f"(first as input {seen[name]})", "give each input a unique name")
            seen.setdefault(name, i)
        shape = spec.get("shape")
        for j, dim in enumerate(shape if isinstance(shape, list) else []):
            if isinstance(dim, str) and dim not in dims:
                yield ("PLN112", f"{_WORKLOAD}/inputs/{i}/shape/{j}",
                       f"symbolic dim `{dim}` is not declared in `spec.workload.production_shapes`",
                       f"add `{dim}: {{min: ..., opt: ..., max: ..., values: [...]}}` under "
                       "production_shapes")


def _domains(data: Any) -> Iterator[Found]:
    """PLN114 integer-range / float-range with min > max."""
    inputs = _get(data, "spec", "workload", "inputs")
    for i, spec in enumerate(inputs if isinstance(inputs, list) else []):
        domain = _get(spec, "domain")
        if not isinstance(domain, dict) or domain.get("kind") not in ("integer-range", "float-range"):
            continue
        lo, hi = domain.get("min"), domain.get("max")
        if _is_num(lo) and _is_num(hi) and lo > hi:
            yield ("PLN114", f"{_WORKLOAD}/inputs/{i}/domain/min",
                   f"{domain['kind']} of input {i} has min {lo} > max {hi}: no value fits",
                   "swap min and max")


def _plan_paths(data: Any) -> Iterator[Found]:
    yield from _path("/spec/workload/model/onnx", _get(data, "spec", "workload", "model", "onnx"))
    yield from _path("/spec/envelope/quality/dataset", _get(data, "spec", "envelope", "quality", "dataset"))
    techniques = _get(data, "spec", "optimizations")
    for i, tech in enumerate(techniques if isinstance(techniques, list) else []):
        yield from _path(f"/spec/optimizations/{i}/records", _get(tech, "records"))
        yield from _path(f"/spec/optimizations/{i}/calibration/dataset",
                         _get(tech, "calibration", "dataset"))


def _lock_paths(data: Any) -> Iterator[Found]:
    yield from _path("/spec/plan", _get(data, "spec", "plan"))


def _path(pointer: str, value: Any) -> Iterator[Found]:
    """PLN115 when ``value`` is absolute (``/x``, ``~/x``, ``C:\\x``) or climbs out through ``..``."""
    if not isinstance(value, str) or not value:
        return
    text = value.replace("\\", "/")
    absolute = text.startswith(("/", "~")) or (len(text) > 1 and text[1] == ":")
    if absolute:
        yield ("PLN115", pointer, f"path `{value}` is absolute", "use a path relative to the "
               "repository root so the plan means the same on every checkout")
    elif posixpath.normpath(text).split("/")[0] == "..":
        yield ("PLN115", pointer, f"path `{value}` leaves the repository through `..`",
               "keep models, records and datasets inside the repository")
