"""That padding is inert: a call padded up to its shape bucket gives the same outputs as the call.

The runtime serves a call of any shape up to the largest bucket by padding it up to the smallest
bucket that fits (planctl.runtime.padding). Whether that leaves the call's outputs unchanged is a
property of the model (the attention mask must make the padded positions inert, rows must be
independent) that parity at the bucket's own shape cannot show: parity compares two runtimes on
the same padded input. So the reference alone, run on the unpadded call and on the call padded
up to the bucket (outputs sliced back), must agree within the parity tolerance, for calls of the
shapes the bucket serves. Together with the build's parity at the bucket's shape this gives the
build on a padded call against the reference on the unpadded one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from planctl.documents.shapes import TrafficPoint, bucket_for, shape_text
from planctl.verify.compare import compare_output
from planctl.verify.parity import as_output_list, output_names, tolerance_lookup
from planctl.verify.strategies import example_inputs

MAX_SHAPES = 6


@dataclass(frozen=True)
class Layout:
    """Where the symbolic dims sit (the manifest's ``dims``, ``pad``, ``output_dims``, ``batch_dim``)."""

    dims: dict[str, list]
    pad: dict[str, float]
    output_dims: dict[str, list]
    batch_dim: str | None

    def to_dict(self) -> dict:
        return {"dims": self.dims, "pad": self.pad, "output_dims": self.output_dims, "batch_dim": self.batch_dim}


@dataclass
class PaddingResult:
    passed: bool
    shapes: list[dict[str, int]] = field(default_factory=list)
    examples: int = 0
    max_abs: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"passed": self.passed, "shapes": self.shapes, "examples": self.examples, "max_abs": self.max_abs,
                "reason": self.reason}


def _pad_text(pad: Mapping[str, float], spec: Any) -> str:
    """``pad values input_ids=0, attention_mask=0``: what the runtime fills the padded positions with
    (the input's ``pad:``, else 0), in the plan's input order (not the drawn example's key order,
    which hypothesis does not promise)."""
    return "pad values " + ", ".join(f"{inp.name}={pad.get(inp.name, 0):g}" for inp in spec.workload.inputs)


def served_shapes(bucket: Mapping[str, int], buckets: Sequence[Mapping[str, int]],
                  mix: Sequence[TrafficPoint]) -> list[dict[str, int]]:
    """Call shapes smaller than ``bucket`` that it serves, at most :data:`MAX_SHAPES`: the traffic
    mix's, the smallest call (1 in every dim) and the largest below the bucket (one less in every
    dim), each kept only when ``bucket`` is the one that serves it."""
    smallest = {d: 1 for d in bucket}
    below = {d: max(1, v - 1) for d, v in bucket.items()}
    found = []
    for shape in [*(p.shape_env for p in mix), smallest, below]:
        shape = dict(shape)
        if shape != dict(bucket) and shape not in found and bucket_for(shape, buckets) == dict(bucket):
            found.append(shape)
    return found[:MAX_SHAPES]


def check_padding(reference: Callable, plan_spec: Any, bucket: Mapping[str, int], buckets: Sequence[Mapping[str, int]],
                  mix: Sequence[TrafficPoint], layout: Layout, *, seed: int = 0) -> PaddingResult:
    """Run ``reference`` on calls of each :func:`served_shapes` shape, unpadded and padded up to
    ``bucket``; pass when every output agrees within ``envelope.parity`` (planctl.verify.compare).
    Raises what the reference raises (VerificationError) and ValueError for a layout that does not
    fit the inputs."""
    from planctl.runtime.padding import pad_inputs, slice_outputs

    spec = getattr(plan_spec, "spec", plan_spec)
    tolerances = tolerance_lookup(spec)
    declared = list(spec.workload.outputs) or list(getattr(reference, "output_names", []) or [])
    shapes = served_shapes(bucket, buckets, mix)
    worst, examples = 0.0, 0
    for i, shape in enumerate(shapes):
        inputs = example_inputs(spec, shape, seed=seed + i)
        plain = as_output_list(reference(inputs))
        padded = pad_inputs(inputs, bucket, layout.dims, layout.pad, layout.batch_dim)
        names = output_names(declared, len(plain))
        cut = slice_outputs(as_output_list(reference(padded)), names, layout.output_dims, shape)
        examples += 1
        for name, got, want in zip(names, cut, plain):
            rtol, atol = tolerances(name)
            if got.shape != want.shape:
                return PaddingResult(False, shapes, examples, None,
                                     f"padding a call of {shape_text(shape)} up to {shape_text(bucket)} changes output "
                                     f"{name}'s shape {list(want.shape)} to {list(got.shape)}: an output axis of a "
                                     "padded dim is not declared symbolic in the model's graph")
            cmp = compare_output(name, got, want, rtol, atol)
            worst = max(worst, float(np.nan_to_num(cmp.max_abs, nan=np.inf)))
            if not cmp.passed:
                return PaddingResult(False, shapes, examples, worst,
                                     f"padding a call of {shape_text(shape)} up to {shape_text(bucket)} "
                                     f"({_pad_text(layout.pad, spec)}) changes its outputs ({cmp.reason}) in the "
                                     "reference model itself (onnxruntime, unpadded against padded): the padded "
                                     "positions are not inert, so no build of this bucket can serve smaller calls; "
                                     "give the model a mask input that makes them inert, an input `pad:` value it "
                                     "ignores, or buckets at the call shapes (production_shapes' values, buckets.max)")
    return PaddingResult(True, shapes, examples, worst if examples else None)
