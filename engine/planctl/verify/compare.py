"""Elementwise comparison of one candidate output against its reference under a tolerance.

The envelope's rule (documents/models/plan.py ``Tolerance``, the numpy.allclose form):
``|c - r| <= atol + rtol * |r|`` for every element. Beyond it, whatever the tolerance:
- a non-finite candidate element (NaN, ±Inf) where the reference is finite is a violation;
- where the reference itself is non-finite the candidate must equal it (NaN for NaN, same-signed Inf),
  as ``numpy.testing.assert_allclose(equal_nan=True)`` does;
- a shape mismatch is a violation.

Errors are measured in float64 over the elements where both sides are finite:
``max_abs = max |c - r|`` and ``max_rel = max |c - r| / max(|r|, tiny)`` with ``tiny`` the smallest
normal float64 (``np.finfo(np.float64).tiny``), so a reference of exactly 0 gives a large but finite
relative error instead of a division by zero. ``max_rel`` is a diagnostic; the verdict is the rule above.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TINY = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class Comparison:
    """One output of one example: errors (float64, 0.0 when no finite pair), count of elements
    outside tolerance, count of non-finite mismatches, and the first reason it failed (None if it passed)."""

    max_abs: float
    max_rel: float
    violations: int
    nonfinite: int
    reason: str | None

    @property
    def passed(self) -> bool:
        return self.reason is None


def compare_output(name: str, candidate: np.ndarray, reference: np.ndarray, rtol: float,
                   atol: float) -> Comparison:
    """Compare one output pair; never raises for numeric content (a mismatch is a failed Comparison)."""
    c, r = np.asarray(candidate), np.asarray(reference)
    if c.shape != r.shape:
        return Comparison(0.0, 0.0, 0, 0, f"{name}: candidate shape {c.shape} != reference shape {r.shape}")
    c64, r64 = c.astype(np.float64), r.astype(np.float64)
    r_finite, c_finite = np.isfinite(r64), np.isfinite(c64)
    both = r_finite & c_finite
    nonfinite = int(np.count_nonzero(r_finite & ~c_finite)) + _special_mismatches(c64, r64, r_finite)
    diff = np.abs(c64[both] - r64[both])
    bound = atol + rtol * np.abs(r64[both])
    violations = int(np.count_nonzero(~(diff <= bound)))
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float((diff / np.maximum(np.abs(r64[both]), TINY)).max()) if diff.size else 0.0
    return Comparison(max_abs, max_rel, violations, nonfinite,
                      _reason(name, violations, nonfinite, max_abs, rtol, atol, c.size))


def _special_mismatches(c64: np.ndarray, r64: np.ndarray, r_finite: np.ndarray) -> int:
    """Count elements where the reference is NaN/Inf and the candidate is not the same special value."""
    special = ~r_finite
    if not special.any():
        return 0
    same = (np.isnan(c64) & np.isnan(r64)) | (c64 == r64)
    return int(np.count_nonzero(special & ~same))


def _reason(name: str, violations: int, nonfinite: int, max_abs: float, rtol: float, atol: float,
            size: int) -> str | None:
    if nonfinite:
        return f"{name}: {nonfinite} of {size} elements non-finite where the reference is not (or vice versa)"
    if violations:
        return (f"{name}: {violations} of {size} elements outside |c - r| <= {atol:g} + {rtol:g}*|r| "
                f"(max abs error {max_abs:.3g})")
    return None
