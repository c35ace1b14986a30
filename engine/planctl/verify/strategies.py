"""Hypothesis strategies for a plan's workload inputs, drawn from the production shapes and value domains.

A plan says, per input, a dtype, a shape mixing integers and named symbolic dims (``[batch, 128]``) and
a value domain; ``production_shapes`` gives each symbolic dim's production range. ``inputs_strategy``
draws ``{input name: np.ndarray}`` dicts from exactly that space, so parity is checked on the inputs
production sends and nothing else (out-of-domain inputs would report violations no user can hit).

Errors: ``VerificationError`` when a symbolic dim has no value (not in ``shape_env`` nor in
``production_shapes``), when a dtype has no numpy equivalent (bfloat16, float8, int4) or when a
domain cannot be drawn for the shape (attention mask longer than its sequence axis).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from planctl.documents.shapes import MAX_SHAPE_PRODUCT, dim_points, production_shape_envs  # noqa: F401 (re-exported)
from planctl.errors import VerificationError

# Arrays with at most this many elements draw every element (see ``input_array``).
MAX_DRAWN_ELEMENTS = 2048

# DType names of documents/models/target.py that numpy cannot hold (no ml_dtypes dependency).
_NO_NUMPY = {"bfloat16", "float8_e4m3fn", "float8_e5m2", "int4", "uint4"}


def plan_spec_of(plan: Any) -> Any:
    """Accept an ``OptimizationPlan`` or its ``PlanSpec``; return the spec."""
    return getattr(plan, "spec", plan)


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of a plan DType name; ``VerificationError`` when numpy has none."""
    if name in _NO_NUMPY:
        raise VerificationError(f"dtype {name} has no numpy equivalent; parity inputs cannot be generated",
                                hint="declare the model input in a numpy dtype (float32, float16, int64, ...)")
    return np.dtype(name)


def inputs_strategy(plan_spec: Any, shape_env: dict[str, int] | None = None) -> st.SearchStrategy:
    """Strategy of ``{input name: np.ndarray}`` for ``spec.workload.inputs``.

    ``shape_env`` pins symbolic dims (one static artifact per production shape); dims it does not pin
    are drawn with ``sampled_from(dim_points(...))``, one value per dim shared by every input.
    Each array has the input's dtype and resolved shape; values come from its ``domain``.
    Raises ``VerificationError`` (see module docstring) when the strategy is built, not when drawn.
    """
    spec = plan_spec_of(plan_spec)
    shape_env = dict(shape_env or {})
    free = free_dims(spec, shape_env)
    if not free:
        return _arrays_for(spec.workload.inputs, shape_env)
    dims = st.fixed_dictionaries({n: st.sampled_from(dim_points(spec.workload.production_shapes[n]))
                                  for n in free})
    # Validate once at the largest point so errors surface here rather than inside hypothesis.
    _arrays_for(spec.workload.inputs, {**shape_env, **{n: max(dim_points(spec.workload.production_shapes[n]))
                                                       for n in free}})
    return dims.flatmap(lambda drawn: _arrays_for(spec.workload.inputs, {**shape_env, **drawn}))


def free_dims(spec: Any, shape_env: dict[str, int]) -> list[str]:
    """The symbolic dims of the inputs that ``shape_env`` leaves unbound, in order of first use;
    VerificationError for one that production_shapes does not declare either."""
    free: list[str] = []
    for inp in spec.workload.inputs:
        for d in inp.shape:
            if isinstance(d, str) and d not in shape_env and d not in free:
                if d not in spec.workload.production_shapes:
                    raise VerificationError(
                        f"input {inp.name}: symbolic dim {d!r} has no value",
                        hint=f"add {d} to spec.workload.production_shapes or pin it in the shape env")
                free.append(d)
    return free


def resolve_shape(inp: Any, shape_env: dict[str, int]) -> tuple[int, ...]:
    """The static shape of one input under ``shape_env``; ``VerificationError`` for an unbound dim."""
    try:
        return tuple(d if isinstance(d, int) else int(shape_env[d]) for d in inp.shape)
    except KeyError as exc:
        raise VerificationError(f"input {inp.name}: symbolic dim {exc.args[0]!r} has no value",
                                hint="pin it in the shape env or add it to production_shapes") from None


def _arrays_for(inputs: list[Any], shape_env: dict[str, int]) -> st.SearchStrategy:
    return st.fixed_dictionaries({inp.name: input_array(inp, resolve_shape(inp, shape_env))
                                  for inp in inputs})


def input_array(inp: Any, shape: tuple[int, ...]) -> st.SearchStrategy:
    """Strategy of one ``np.ndarray`` of ``shape`` and ``inp.dtype`` with values in ``inp.domain``."""
    dtype = numpy_dtype(inp.dtype)
    domain = inp.domain
    if domain.kind == "attention-mask":
        return _attention_mask(inp.name, dtype, shape, domain.min_length)
    if domain.kind == "integer-range":
        elements = st.integers(domain.min, domain.max)
    elif domain.kind == "enum":
        elements = st.sampled_from(enum_values(inp.name, domain.values, dtype))
    else:
        elements = _floats(domain, dtype)
    # Small arrays: every element drawn on its own (no fill), so shrinking reaches a minimal example
    # (one offending token among zeros rather than a whole array of it). Large arrays keep hypothesis's
    # default fill, which draws a few elements over a repeated value and stays within its data budget.
    fill = st.nothing() if math.prod(shape) <= MAX_DRAWN_ELEMENTS else None
    return hnp.arrays(dtype, shape, elements=elements, fill=fill)


def enum_values(name: str, values: list, dtype: np.dtype) -> list:
    """The enum values at ``dtype``; ``VerificationError`` for one that ``dtype`` cannot hold exactly."""
    cast = [dtype.type(v) for v in values]
    bad = [v for v, c in zip(values, cast) if float(c) != float(v)]
    if bad:
        raise VerificationError(f"input {name}: enum values {bad} are not representable as {dtype}")
    return cast


def _floats(domain: Any, dtype: np.dtype) -> st.SearchStrategy:
    """Floats in ``[min, max]`` at ``dtype`` width; NaN / ±Inf are separate branches because
    hypothesis forbids ``allow_nan`` or ``allow_infinity`` together with two finite bounds."""
    if dtype.kind != "f":
        raise VerificationError(f"float-range domain on a {dtype} input", hint="use integer-range or enum")
    lo, hi = inward_bounds(domain.min, domain.max, dtype)
    width = dtype.itemsize * 8
    finite = st.floats(lo, hi, width=width, allow_subnormal=domain.allow_subnormal)
    special = [math.nan] if domain.allow_nan else []
    special += [math.inf, -math.inf] if domain.allow_infinity else []
    return st.one_of(finite, st.sampled_from(special)) if special else finite


def inward_bounds(lo: float, hi: float, dtype: np.dtype) -> tuple[float, float]:
    """Round the bounds inward to values ``dtype`` represents exactly (hypothesis requires it)."""
    lo_t, hi_t = dtype.type(lo), dtype.type(hi)
    if float(lo_t) < lo:
        lo_t = np.nextafter(lo_t, dtype.type(math.inf))
    if float(hi_t) > hi:
        hi_t = np.nextafter(hi_t, dtype.type(-math.inf))
    return float(lo_t), float(hi_t)


def _attention_mask(name: str, dtype: np.dtype, shape: tuple[int, ...], min_length: int) -> st.SearchStrategy:
    """Right-padded masks: each row along the last axis is ``length`` ones then zeros,
    ``length`` in ``[min_length, seq]`` drawn per row (so shrinking moves towards more padding)."""
    if not shape:
        raise VerificationError(f"input {name}: an attention mask needs at least one axis")
    seq, rows = shape[-1], math.prod(shape[:-1])
    if min_length > seq:
        raise VerificationError(f"input {name}: attention-mask min_length {min_length} exceeds the "
                                f"sequence length {seq}", hint="lower min_length or the shape")
    lengths = st.lists(st.integers(min_length, seq), min_size=rows, max_size=rows)
    return lengths.map(lambda ls: (np.arange(seq) < np.asarray(ls, dtype=np.int64).reshape(
        shape[:-1] + (1,))).astype(dtype))


def example_inputs(plan_spec: Any, shape_env: dict[str, int] | None = None, *, seed: int = 0,
                   draws: int = 8) -> dict[str, np.ndarray]:
    """One deterministic input dict for measurement (same ``seed``, same arrays).

    Hypothesis draws its simplest example (all ids 0, shortest masks) first, which is not a
    representative workload, so this keeps the last of ``draws`` generated examples. Unlike
    ``SearchStrategy.example()`` it is reproducible and does not warn outside an interactive session.
    """
    kept: dict[str, dict[str, np.ndarray]] = {}

    @hypothesis_seed(seed)
    @settings(max_examples=draws, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @given(inputs_strategy(plan_spec, shape_env))
    def draw(inputs: dict[str, np.ndarray]) -> None:
        kept["inputs"] = inputs

    draw()
    return kept["inputs"]
