"""PLN202 technique-layer."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN202", "technique-layer", "error")
def check(ctx):
    """Every technique belongs to the layer that owns the bottleneck.

    What it checks
        The layer of each technique (capability table) equals ``spec.bottleneck.layer``. Layers:
        ``graph`` (constant folding, DCE, CSE), ``kernel`` (operator fusion, autotuning, mixed
        precision, quantization, pruning, codebooks), ``runtime`` (static memory planning, CUDA
        graphs), ``serving`` (continuous batching, prefix caching, speculative decoding).

        Graph cleanups are enablers and may appear in a plan of any layer: every lowering runs
        them first, they keep parity, and a kernel plan without them would tune dead code.

    Why
        The layer that owns a bottleneck is the one that can fix it; a technique from another
        layer is a second optimization with its own evidence, envelope and rollback, and it belongs
        in its own plan (where ``PLN214`` checks it does not fight this one).

    Example
        ``bottleneck: {layer: kernel}`` with ``technique: continuous-batching`` (a serving-layer
        technique).

    Fix
        Move the technique to a plan whose bottleneck is owned by its layer.
    """
    layer = ctx.spec.bottleneck.layer
    for pointer, technique, info in ctx.techniques():
        if info.layer == layer or info.enabler:
            continue
        yield Violation(pointer + "/technique",
                        f"{technique.technique} is a {info.layer}-layer technique in a plan whose "
                        f"bottleneck is owned by the {layer} layer",
                        help=f"move it to a plan whose bottleneck layer is {info.layer}")
