"""PLN208 parity-coverage."""
from __future__ import annotations

from planctl.documents.shapes import choose_buckets, dim_points
from planctl.rules.context import Violation
from planctl.rules.registry import rule


# above this, parity's calls cost more than the rest of an apply: each random example runs on every
# bucket's candidate and on onnxruntime (MiniLM at 32 x 128: ~0.4 s and ~0.6 s a call on 2 cores)
MANY_EXAMPLES = 1000


def points(rng) -> set[int]:
    """The production points of one dim: its min, opt and max, and its representative values."""
    return set(dim_points(rng))


def required_examples(production_shapes) -> tuple[int, str | None]:
    """``(examples needed, the dim that needs them)``: one example fixes a value for every dim at
    once, so the dim with the most production points sets the minimum."""
    best, dim = 1, None
    for name, rng in production_shapes.items():
        if len(points(rng)) > best:
            best, dim = len(points(rng)), name
    return best, dim


@rule("PLN208", "parity-coverage", "error")
def check(ctx):
    """The parity envelope draws enough examples to touch every production point.

    What it checks
        ``envelope.parity.examples`` is at least the number of production points of the dim that
        has the most, where the points of a dim are the distinct values among its ``min``,
        ``opt``, ``max`` and ``values``. One example fixes a value of every dim at once, so
        ``max`` over dims (not the sum) is the least number that can touch each point.

    Why
        Parity that never ran at the largest production shape says nothing about it; shape bugs
        (padding, tiling tails, masks) live at the edges of the range.

        A warning when it is above ``MANY_EXAMPLES`` (1000): each random example runs on every
        shape bucket's candidate and on onnxruntime, so 10000 examples at six buckets are 60000
        calls of each, hours at large shapes.

    Example
        ``batch: {min: 1, opt: 8, max: 32, values: [1, 4, 8, 16, 32]}`` (points 1, 4, 8, 16, 32)
        with ``parity: {examples: 3}``.

    Fix
        Raise ``envelope.parity.examples`` to the number the message gives, or more (the domain
        corners run besides the random examples; a few dozen random ones cover the points).
    """
    needed, dim = required_examples(ctx.spec.workload.production_shapes)
    examples = ctx.spec.envelope.parity.examples
    if examples < needed:
        yield Violation("/spec/envelope/parity/examples", f"{examples} parity examples cannot "
                        f"touch the {needed} production points of {dim}",
                        help=f"set envelope.parity.examples to at least {needed}")
    if examples > MANY_EXAMPLES:
        buckets = len(choose_buckets(ctx.spec))
        yield Violation("/spec/envelope/parity/examples",
                        f"{examples} parity examples run on every bucket's candidate and on onnxruntime: "
                        f"{examples * buckets} calls of each at {buckets} bucket(s), hours at large shapes",
                        help=f"the domain corners run besides them; {max(needed, 8)} to a few dozen random "
                             "examples cover the production points", severity="warning")
