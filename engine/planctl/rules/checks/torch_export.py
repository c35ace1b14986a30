"""PLN222 torch-export-unused."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN222", "torch-export-unused", "error")
def check(ctx):
    """The plan names no ``torch_export`` function: apply builds the ONNX model only.

    What it checks
        ``spec.workload.model.torch_export`` is not set.

    Why
        ``planctl apply`` imports ``workload.model.onnx`` (checked against its sha256) and nothing
        else. A ``module:function`` beside it would be silently ignored, so a reviewer would take
        the torch.export path for what was built, verified and measured; running it instead would
        mean importing code a plan names, which planctl never does (plans are data).

    Example
        ``model: {onnx: models/bert.onnx, sha256: ..., torch_export: "export:build_program"}``.

    Fix
        Export the model to ONNX with the pinned exporter (``torch.onnx.export(..., dynamo=True)``),
        name that file in ``onnx`` with its sha256, and remove ``torch_export``.
    """
    model = ctx.spec.workload.model
    if model.torch_export is not None:
        yield Violation("/spec/workload/model/torch_export",
                        f"torch_export {model.torch_export} is never run: apply imports {model.onnx} only",
                        key="torch_export",
                        help="remove torch_export; export the model to ONNX and name it in onnx")
