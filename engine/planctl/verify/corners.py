"""The corners of each input's declared domain, as deterministic parity examples.

Random draws inside a domain rarely reach its edges all at once: a row of values near the
domain's maximum can overflow a float16 accumulation while a hundred random draws pass (issue 12
A). So parity (planctl.verify.parity) also runs these examples, each kind applied to every input
at once, after the random draws. Errors as in planctl.verify.strategies.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from planctl.documents.shapes import dim_points
from planctl.errors import VerificationError
from planctl.verify.strategies import (enum_values, free_dims, inward_bounds, numpy_dtype, plan_spec_of,
                                       resolve_shape)

CORNERS = ("min", "max", "near-min", "near-max", "equal-rows", "large-rows", "large-random-rows")


def corner_examples(plan_spec: Any, shape_env: dict[str, int] | None = None) -> list[dict[str, np.ndarray]]:
    """The corners of every input's domain at one static shape, as input dicts (duplicates
    dropped), in :data:`CORNERS` order:

    - ``min`` / ``max``: every element at the domain's minimum / maximum;
    - ``near-min`` / ``near-max``: one step inside them (the next representable float, the next
      integer or enum value, a mask one longer / shorter);
    - ``equal-rows``: each row (the last axis) holds one value, cycling through max, min, midpoint;
    - ``large-rows``: rows of the largest magnitudes with alternating signs (max, min, max, ...),
      shifted by one from row to row;
    - ``large-random-rows``: each element the domain's min or max, by a fixed pseudo-random choice.

    Attention masks map these onto mask lengths (``min_length`` .. the full row). Raises
    VerificationError like planctl.verify.strategies.inputs_strategy for an unbound dim or an unusable dtype.
    """
    spec = plan_spec_of(plan_spec)
    shape_env = dict(shape_env or {})
    # a dim the shape env leaves free takes its largest production value
    shape_env.update({d: max(dim_points(spec.workload.production_shapes[d])) for d in free_dims(spec, shape_env)})
    out: list[dict[str, np.ndarray]] = []
    for kind in CORNERS:
        example = {inp.name: _corner(inp, resolve_shape(inp, shape_env), kind) for inp in spec.workload.inputs}
        if not any(all(np.array_equal(a, b, equal_nan=True) for a, b in zip(example.values(), seen.values()))
                   for seen in out):
            out.append(example)
    return out


def _corner(inp: Any, shape: tuple[int, ...], kind: str) -> np.ndarray:
    dtype, domain = numpy_dtype(inp.dtype), inp.domain
    if domain.kind == "attention-mask":
        return _mask_corner(inp.name, dtype, shape, domain.min_length, kind)
    lo, near_lo, near_hi, hi = _edges(inp.name, domain, dtype)
    if kind in ("min", "max", "near-min", "near-max"):
        value = {"min": lo, "max": hi, "near-min": near_lo, "near-max": near_hi}[kind]
        return np.full(shape, value, dtype=dtype)
    rows, width = _rows(shape)
    if kind == "equal-rows":
        mid = _midpoint(lo, hi, dtype)
        values = np.array([hi, lo, mid], dtype=dtype)[np.arange(rows) % 3]
        return np.repeat(values[:, None], width, axis=1).reshape(shape)
    if kind == "large-rows":
        pick = (np.arange(rows)[:, None] + np.arange(width)[None, :]) % 2 == 0
    else:
        pick = np.random.default_rng(0).integers(0, 2, size=(rows, width)).astype(bool)
    return np.where(pick, dtype.type(hi), dtype.type(lo)).astype(dtype).reshape(shape)


def _rows(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, row length) of ``shape`` viewed as rows along its last axis (a scalar is one row of one)."""
    width = shape[-1] if shape else 1
    return (math.prod(shape) // width if width else 0), width


def _edges(name: str, domain: Any, dtype: np.dtype) -> tuple:
    """(min, one step above it, one step below max, max) of a domain, at ``dtype``."""
    if domain.kind == "integer-range":
        info = np.iinfo(dtype)
        lo, hi = max(domain.min, info.min), min(domain.max, info.max)
        return lo, min(lo + 1, hi), max(hi - 1, lo), hi
    if domain.kind == "enum":
        values = sorted(set(enum_values(name, domain.values, dtype)))
        return values[0], values[min(1, len(values) - 1)], values[max(len(values) - 2, 0)], values[-1]
    if dtype.kind != "f":
        raise VerificationError(f"float-range domain on a {dtype} input", hint="use integer-range or enum")
    lo, hi = inward_bounds(domain.min, domain.max, dtype)
    up, down = np.nextafter(dtype.type(lo), dtype.type(hi)), np.nextafter(dtype.type(hi), dtype.type(lo))
    if not domain.allow_subnormal:   # one step off zero is subnormal; step over it
        tiny = np.finfo(dtype).tiny
        up = dtype.type(tiny) if 0 < abs(float(up)) < tiny and lo == 0 else up
        down = dtype.type(-tiny) if 0 < abs(float(down)) < tiny and hi == 0 else down
    return lo, float(up), float(down), hi


def _midpoint(lo, hi, dtype: np.dtype):
    if dtype.kind == "f":
        return dtype.type(float(lo) / 2 + float(hi) / 2)   # halves first: lo + hi may overflow
    return dtype.type((int(lo) + int(hi)) // 2)


def _mask_corner(name: str, dtype: np.dtype, shape: tuple[int, ...], min_length: int, kind: str) -> np.ndarray:
    if not shape:
        raise VerificationError(f"input {name}: an attention mask needs at least one axis")
    seq, rows = shape[-1], math.prod(shape[:-1])
    shortest = min(min_length, seq)
    lengths = {"min": [shortest] * rows, "max": [seq] * rows,
               "near-min": [min(shortest + 1, seq)] * rows, "near-max": [max(seq - 1, shortest)] * rows,
               "equal-rows": [(shortest + seq) // 2] * rows,
               "large-rows": [seq if r % 2 == 0 else shortest for r in range(rows)],
               "large-random-rows": list(np.random.default_rng(0).integers(shortest, seq + 1, size=rows))}[kind]
    return (np.arange(seq) < np.asarray(lengths, dtype=np.int64).reshape(shape[:-1] + (1,))).astype(dtype)
