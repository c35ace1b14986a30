"""PLN215 missing-reference."""
from __future__ import annotations

from planctl.rules.context import Violation
from planctl.rules.registry import rule


@rule("PLN215", "missing-reference", "error")
def check(ctx):
    """Every target and the model file the plan names exist.

    What it checks
        Each name in ``spec.targets`` has a document ``targets/<name>.yaml`` under the repository
        root, and ``workload.model.onnx`` (repository-relative) is a file.

    Why
        A plan that points at nothing cannot be compiled, measured or rolled back; catching it
        before CI compiles anything saves a tuning run.

    Example
        ``targets: [a100-80gb]`` with no ``targets/a100-80gb.yaml``.

    Fix
        Fix the name, add the target document, or generate the model file (a git-ignored model
        is produced by its export script; run it before ``planctl check``).
    """
    for i, name in enumerate(ctx.spec.targets):
        if name in ctx.missing_targets:
            yield Violation(f"/spec/targets/{i}", f"target {name} does not exist",
                            key=name, help=f"add targets/{name}.yaml or fix the name")
    onnx = ctx.spec.workload.model.onnx
    if not (ctx.root / onnx).is_file():
        yield Violation("/spec/workload/model/onnx", f"model file {onnx} does not exist",
                        key="model", help="fix the path or generate the model file")
