"""Documents: load the plan and its target document, refuse tolerances that are not finite numbers,
run ``planctl check``'s rules (planctl.apply.stages.legality: a file the plan names that is missing,
outside the repository or of another sha256 is a check finding, exit 1, as ``planctl check``
reports it), then check every file the plan names (inside the repository, present, no Git LFS
pointer, the model's sha256) and the files the model names (its external data), and fix where the
output goes. No TVM here."""
from __future__ import annotations

from planctl.apply import inputs
from planctl.apply.context import ApplyOptions, OutputFolder, Progress, RunContext, StageClock
from planctl.apply.stages import legality
from planctl.documents.load import find_target, load_plan, load_target, unnamed_target_error
from planctl.documents.references import checked_model, checked_references
from planctl.errors import DocumentError, MissingReferenceError
from planctl.report.record import Evidence, ModelRef, PlanRef, TargetRef


class Documents(Evidence):
    plan: PlanRef
    target: TargetRef
    model: ModelRef


def run(options: ApplyOptions, progress: Progress | None = None) -> tuple[RunContext, Documents, legality.Legality]:
    """The run's context, the documents' evidence and check's findings. Raises LegalityError for a
    plan that fails validate (its findings, exit 1, or 2 when it cannot be parsed, as validate
    exits); DocumentError (exit 2) for an invalid target, or a tolerance that is not a finite number;
    TargetChoiceError (exit 2) for a target the plan does not name; LegalityError (exit 1) when ``planctl check`` rejects the plan (a missing
    model or records path, a wrong sha256, a path outside the repository are its findings);
    MissingReferenceError for what only apply checks (a Git LFS pointer, external data outside the
    model's folder), located at the plan's line."""
    from planctl.lowering.external_data import external_data

    clock = StageClock(progress)
    with clock("documents"):
        plan, target = _load(options)
        _finite_tolerances(plan)
    checked = legality.run(options, clock)   # before anything else, even an "up to date" answer
    with clock("references"):
        model_file = checked_model(options.root, plan)
        checked_references(options.root, plan)
        data = external_data(model_file, options.root, plan)
        _declared_outputs_exist(plan, model_file)
    name = plan.model.metadata.name
    ctx = RunContext(options=options, plan=plan, target=target, model_file=model_file,
                     output=OutputFolder(live=options.out_root / name / options.target_name), clock=clock,
                     # taken before any stage changes the environment (import_tvm sets TVM_NUM_THREADS)
                     inputs=inputs.components(options, plan, target, external_data=data), external_data=data)
    model = plan.model.spec.workload.model
    return ctx, Documents(plan=PlanRef(name=name, path=str(options.plan_file), sha256=plan.sha256),
                          target=TargetRef(name=options.target_name, tvm=target.model.spec.tvm,
                                           sha256=target.sha256),
                          model=ModelRef(path=model.onnx, sha256=model.sha256)), checked


def _declared_outputs_exist(plan, model_file) -> None:
    """Every name in ``spec.workload.outputs`` is a graph output of the model (the plan may list a
    subset): parity compares outputs by these names, so a misspelt one would be reported as verified
    while nothing of it was compared. Raises MissingReferenceError at the name's line. A model
    onnx cannot parse is left to the import, which reports it."""
    import onnx

    declared = plan.model.spec.workload.outputs
    if not declared:
        return
    try:
        graph = onnx.load(str(model_file), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - a corrupt model is the importer's located error
        return
    produced = [o.name for o in graph.output]
    for i, name in enumerate(declared):
        if name not in produced:
            pointer = f"/spec/workload/outputs/{i}"
            line, col, _, _ = plan.index.locate(pointer)
            raise MissingReferenceError(
                f"output '{name}' is not an output of {model_file.name} (its outputs: {produced})",
                file=str(plan.path), line=line, col=col, pointer=pointer,
                hint="spec.workload.outputs names the graph outputs parity compares; fix the name")


def _load(options: ApplyOptions):
    # a DocumentError keeps validate's exit code: 2 for unparsable input, 1 for a finding (an
    # unknown key, a negative budget), as `planctl check` reports the same plan
    try:
        plan = load_plan(options.plan_file)
    except DocumentError:
        # check reports the same findings, all of them, and ends with PLN200's line as for its rules
        legality.gate(options.plan_file, options.root, options.command)
        raise
    named = options.target_name in plan.model.spec.targets
    target = load_target(find_target(options.target_name, options.root)) if named else None
    if target is None:
        raise unnamed_target_error(options.target_name, plan, options.plan_file)
    return plan, target


def _finite_tolerances(plan) -> None:
    """Refuse a parity tolerance that is not a finite number (``.inf`` or ``1e999``, which YAML
    reads as infinity, would let any wrong output pass). The documents stage of validate does
    this for every numeric field; apply checks the ones its verdict rests on again here."""
    import math

    parity = plan.model.spec.envelope.parity
    tolerances = {"/spec/envelope/parity/default": parity.default,
                  **{f"/spec/envelope/parity/outputs/{name}": tol for name, tol in parity.outputs.items()}}
    for pointer, tol in tolerances.items():
        for key in ("rtol", "atol"):
            value = getattr(tol, key)
            if not math.isfinite(value):
                line, col, _, _ = plan.index.locate(f"{pointer}/{key}")
                raise DocumentError(f"parity {key} is {value}: a tolerance must be a finite number >= 0",
                                    file=str(plan.path), line=line, col=col, pointer=f"{pointer}/{key}",
                                    hint=f"give {key} as a number, e.g. 1.0e-4 (.inf or 1e999 would let any "
                                         "output pass)")
