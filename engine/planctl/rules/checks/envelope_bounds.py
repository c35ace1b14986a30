"""PLN223 envelope-bounds."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule

# the range each quality metric's value lies in: cosine similarity of two vectors, and the
# fraction of examples that agree (top-1 agreement, accuracy)
METRIC_RANGE = {"cosine-similarity": (-1.0, 1.0), "top1-agreement": (0.0, 1.0), "accuracy": (0.0, 1.0)}
# a parity tolerance at or above this cannot fail on a model whose outputs are O(1): numpy.allclose
# passes any finite difference below atol + rtol * |reference|
LOOSE_TOLERANCE = 1.0


@rule("PLN223", "envelope-bounds", "error",
      unwaivable="a goal outside its metric's range makes the gate check nothing (or fail everything): fix the number")
def check(ctx):
    """The envelope's goals can be missed: each lies inside what its metric can measure.

    What it checks
        A quality ``threshold`` lies inside its metric's range (cosine similarity in [-1, 1],
        top-1 agreement and accuracy in [0, 1]); a ``max-degradation`` is not more than the
        metric's span and a ``percent-max-degradation`` not more than 100; no parity tolerance
        (``rtol``/``atol``, default or per output) is 1 or more. A tolerance of ``rtol: 0, atol: 0``
        (bit-identical outputs) is a warning: a compiled float build rarely passes it.

    Why
        A goal outside the metric's range either never passes (a cosine goal of 5: every apply
        rolls back, however good the build) or always passes (a degradation of 200%, a tolerance of
        1e300: the gate checks nothing and the report still says "parity held"). Both are typos
        that look like policy.

    Example
        ``goal: {type: threshold, value: 5}`` with ``metric: cosine-similarity``, or
        ``default: {rtol: 1.0e+300, atol: 0}``.

    Fix
        Use the metric's scale (``0.999`` for a cosine similarity), or a tolerance below 1
        (``1.0e-4`` is fp32's usual; fp16 and int8 builds use ``1.0e-2`` and a quality goal).
    """
    quality = ctx.spec.envelope.quality
    if quality is not None:
        low, high = METRIC_RANGE[quality.metric]
        goal, where = quality.goal, "/spec/envelope/quality/goal/value"
        if goal.type == "threshold" and not low <= goal.value <= high:
            yield Violation(where, f"a {quality.metric} threshold of {goal.value:g} is outside what the "
                            f"metric measures ([{low:g}, {high:g}]): the goal can never be judged as meant",
                            help=f"use the metric's scale, e.g. {min(high, 0.999):g}")
        if goal.type == "max-degradation" and not 0 <= goal.value <= high - low:
            yield Violation(where, f"a {quality.metric} degradation of {goal.value:g} is outside "
                            f"[0, {high - low:g}], the metric's span", help="e.g. 0.001")
        if goal.type == "percent-max-degradation" and not 0 <= goal.value <= 100:
            yield Violation(where, f"a degradation of {goal.value:g}% is outside [0, 100]", help="e.g. 0.5")
    parity = ctx.spec.envelope.parity
    tolerances = {"/spec/envelope/parity/default": parity.default,
                  **{f"/spec/envelope/parity/outputs/{name}": tol for name, tol in parity.outputs.items()}}
    outputs = set(ctx.spec.workload.outputs or [])
    for pointer, tol in tolerances.items():
        unused = pointer.endswith("/default") and outputs and outputs <= set(parity.outputs)
        if tol.rtol == 0 and tol.atol == 0 and not unused:
            yield Violation(pointer, "parity rtol 0 and atol 0 ask for bit-identical outputs: a build that orders "
                            "float additions otherwise (fusion, tuning, vectorized reductions) never passes",
                            help="use 1.0e-4 for fp32, 1.0e-2 for fp16/int8 with a quality goal",
                            severity="warning")
        for key in ("rtol", "atol"):
            value = getattr(tol, key)
            if value >= LOOSE_TOLERANCE:
                yield Violation(f"{pointer}/{key}", f"parity {key} {value:g} passes almost any output: "
                                "the parity gate would check nothing", help="use 1.0e-4 for fp32, "
                                "1.0e-2 for fp16/int8 with a quality goal")
