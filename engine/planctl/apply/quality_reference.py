"""What apply measures task quality against: the model ``envelope.quality.reference`` declares
(for a plan whose model is already quantized, the float model it came from), run by onnxruntime on
the same inputs, else the plan's own model; and the note a quantized model without a declared
reference gets (issue 12 G)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from planctl.apply.context import RunContext


@dataclass(frozen=True)
class QualityReference:
    """What task quality is measured against: ``model`` (the declared reference, or the parity
    reference when none is declared), ``stand_in`` (onnxruntime on the plan's model when the
    reference is another model, for the baseline value), ``info`` for the record."""

    model: Any
    stand_in: Any
    info: dict


def quality_reference(ctx: RunContext, reference) -> Optional[QualityReference]:
    """The declared ``envelope.quality.reference`` on onnxruntime (its inputs must be the plan's),
    else the parity reference; None without a quality envelope. Raises VerificationError located
    at the plan's reference line when the reference model takes other inputs."""
    from planctl.documents.references import QUALITY_REFERENCE, QUALITY_REFERENCE_POINTER, inside_root, position
    from planctl.errors import VerificationError
    from planctl.verify.quality import describe_reference
    from planctl.verify.reference import OnnxRuntimeReference

    quality, root = ctx.spec.envelope.quality, ctx.options.root
    if quality is None:
        return None
    if quality.reference is None:
        return QualityReference(reference, None, describe_reference(ctx.model_file, root, declared=False))
    path = inside_root(root, quality.reference.onnx, what=QUALITY_REFERENCE, pointer=QUALITY_REFERENCE_POINTER,
                       plan=ctx.plan)
    model = OnnxRuntimeReference(path)
    mismatch = _other_inputs(ctx, model)
    if mismatch:
        raise VerificationError(f"quality reference {quality.reference.onnx} {mismatch}", file=str(ctx.plan.path),
                                **position(ctx.plan, QUALITY_REFERENCE_POINTER),
                                hint="the reference must run on the same inputs (e.g. the float model the "
                                     "plan's model was quantized from)")
    return QualityReference(model, reference, describe_reference(path, root, declared=True))


def _other_inputs(ctx: RunContext, model) -> Optional[str]:
    """How the reference's declared inputs differ from the plan's at its production shapes (None: they fit)."""
    from planctl.documents.onnx_signature import concrete_shape

    wanted = [i.name for i in ctx.spec.workload.inputs]
    if sorted(model.input_names) != sorted(wanted):
        return f"takes inputs {model.input_names}, the plan's model {wanted}"
    for work in ctx.shapes:
        for spec in ctx.spec.workload.inputs:
            want, have = concrete_shape(spec.shape, work.shape_env), model.input_shapes.get(spec.name)
            if have is not None and (len(have) != len(want) or any(h not in (None, w) for h, w in zip(have, want))):
                return f"takes input {spec.name} of shape {have}, the plan gives it {want} at {work.shape_env}"
    return None


def quality_notes(ctx: RunContext, judge: Optional[QualityReference]) -> list[str]:
    """A note when the plan's model is already quantized and quality is measured against itself."""
    from planctl.verify.quality import quantized_ops

    if judge is None or judge.info["declared"]:
        return []
    ops = quantized_ops(ctx.model_file)
    if not ops:
        return []
    listed = ", ".join(f"{n} {op}" for op, n in sorted(ops.items()))
    return [f"the plan's model is already quantized ({listed}) and envelope.quality names no reference model: "
            "quality is measured against the same quantized graph on onnxruntime, which shows the build matches "
            "it, not that quality held against the float model (declare envelope.quality.reference)"]
