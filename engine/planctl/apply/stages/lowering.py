"""Lowering: import TVM, check that this host can run the target (planctl.lowering.compat), then for
each production shape import the ONNX model into Relax, build TVM's default baseline, and run the
plan's passes (on CUDA targets with the kernel routes its dispatch techniques chose).

TVM failures are PLN500 findings (planctl.lowering.failures): one in the import or the baseline
build stops apply (there is nothing verified to fall back to); one in the plan's passes is
recorded on the shape (``ShapeWork.failure``) and the run goes on with the baseline only."""
from __future__ import annotations

from typing import Optional

from planctl.apply.context import RunContext, ShapeWork
from planctl.documents.shapes import production_shape_envs, shape_tag
from planctl.report.record import Environment, Evidence, KernelRoute, PassEvidence, QuantizedOperator, WorkloadFlops


class ShapeLowering(Evidence):
    shape_env: dict[str, int]
    tag: str
    input_names: list[str]
    output_names: list[str]
    passes: list[PassEvidence]
    flops: Optional[WorkloadFlops]   # counted before any build (dlight's tensorization hides the
    # matmuls' FLOPs); None when the candidate's passes failed
    kernel_routes: list[KernelRoute] = []
    quantization: list[QuantizedOperator] = []   # each matmul with a constant weight, when the plan quantizes


class Lowering(Evidence):
    techniques: list[str]
    environment: Environment
    shapes: list[ShapeLowering]
    notes: list[str]


def run(ctx: RunContext) -> Lowering:
    """Set ``ctx.techniques``, ``ctx.tvm_target``, ``ctx.device_kind`` and one ``ctx.shapes`` entry
    per production shape (its imported module, baseline executable, lowered module). Raises
    LoweringError for a technique apply cannot lower or a model TVM cannot import, DocumentError
    for a target TVM rejects, HostMismatchError (at the target's ``mcpu``/``mattr``/``arch`` line)
    when this host cannot run the target's code."""
    from planctl.lowering.compat import require
    from planctl.lowering.target import device_kind, tvm_target
    from planctl.lowering.techniques import check_techniques, enabled_techniques
    from planctl.lowering.tvm_env import import_tvm

    import_tvm(num_threads=ctx.threads)
    environment = _environment()
    ctx.techniques = enabled_techniques(ctx.spec)
    check_techniques(ctx.plan, ctx.techniques)
    ctx.tvm_target = tvm_target(ctx.target)
    ctx.device_kind = device_kind(ctx.target)
    require(ctx.target, ctx.options.target_name)  # this host runs the target's code: checked before any build
    ranges = _quantization_checks(ctx)
    shapes = [_lower(ctx, ShapeWork(env, shape_tag(env)), ranges) for env in production_shape_envs(ctx.spec)]
    return Lowering(techniques=[t.technique for t in ctx.techniques], environment=environment, shapes=shapes,
                    notes=[*drift_notes(), *gather_notes(ctx)])


def drift_notes() -> list[str]:
    """A report note per installed TVM package that is not the pinned version (planctl.lowering.tvm_env)."""
    from planctl.lowering.tvm_env import version_drift

    return [f"installed {drift}: planctl builds and tunes with the pinned versions only "
            "(tvm-ffi 0.1.15.post2 crashes in MetaSchedule's database writes)" for drift in version_drift()]


def _quantization_checks(ctx: RunContext):
    """Refuse, at its line, a quantization setting apply cannot honour (planctl.lowering.quantize.
    check_plan); the calibrated activation ranges of a static scheme ({node: [lo, hi]}), else None."""
    from planctl.documents.techniques import find
    from planctl.lowering.quantize import check_plan

    technique = find(ctx.techniques, "quantization")
    if technique is None:
        return None
    check_plan(ctx.plan, technique, ctx.tvm_target)
    if technique.precision.activations not in ("int8", "uint8") or technique.activation_scales != "static-per-tensor":
        return None
    from planctl.lowering.calibration import activation_ranges

    shape_env = production_shape_envs(ctx.spec)[0]
    with ctx.clock("calibration"):
        return activation_ranges(ctx.model_file, technique.calibration, ctx.spec, shape_env, ctx.options.root,
                                 str(ctx.options.plan_file), ctx.threads)


def gather_notes(ctx: RunContext) -> list[str]:
    """The report's one note on gathers built without a bounds check (planctl.lowering.gathers),
    said once however many shapes have them."""
    from planctl.lowering.gathers import fast_gather_note

    notes = (fast_gather_note(work.imported.mod, ctx.spec.workload.inputs) for work in ctx.shapes)
    return list(dict.fromkeys(note for note in notes if note))


def _lower(ctx: RunContext, work: ShapeWork, ranges=None) -> ShapeLowering:
    from planctl.lowering import build
    from planctl.lowering.failures import tvm_stage
    from planctl.lowering.flops import workload_flops
    from planctl.lowering.importer import import_onnx
    from planctl.lowering.quantize import RANGES_ATTR, check_keep_float, evidence

    with ctx.clock(f"import[{work.tag}]"):
        work.imported = import_onnx(ctx.model_file, ctx.spec.workload.inputs, work.shape_env)
    with ctx.clock(f"baseline-build[{work.tag}]"), \
            tvm_stage("baseline-build", shape=work.tag, file=str(ctx.model_file),
                      hint="TVM's default build of the imported model failed, so there is no baseline to "
                           "verify or fall back to") as capture:
        work.baseline = build.build_baseline(work.imported.mod, ctx.tvm_target, instruments=capture.instruments)
    lowered, flops = None, None
    with ctx.clock(f"passes[{work.tag}]"), \
            tvm_stage("passes", shape=work.tag, log_dir=ctx.staging, record=True) as capture:
        mod = work.imported.mod if ranges is None else work.imported.mod.with_attr(RANGES_ATTR, ranges)
        lowered = build.lower_candidate(mod, ctx.tvm_target, ctx.techniques, instruments=capture.instruments)
        flops = WorkloadFlops(**workload_flops(lowered.mod))
    work.failure = capture.failure
    work.lowered = lowered.mod if lowered is not None and work.failure is None else None
    operators = evidence(lowered.mod) if work.lowered is not None else []
    if work.lowered is not None:   # failed passes are recorded; the operators are then unknown
        check_keep_float(ctx.plan, ctx.techniques, operators)
    ctx.shapes.append(work)
    return ShapeLowering(shape_env=work.shape_env, tag=work.tag, input_names=work.imported.input_names,
                         output_names=work.imported.output_names,
                         passes=[PassEvidence(**p.to_dict()) for p in lowered.passes] if lowered else [],
                         flops=flops if work.failure is None else None,
                         kernel_routes=[KernelRoute(**r) for r in lowered.routes] if lowered else [],
                         quantization=[QuantizedOperator(**op) for op in operators])


def _environment() -> Environment:
    """Where the run happens; ``packages`` adds the versions the collector does not name."""
    from planctl.lowering.tvm_env import versions
    from planctl.report.environment import collect_environment

    found = collect_environment()
    shown = {"apache-tvm": "tvm", "apache-tvm-ffi": "tvm_ffi", "onnxruntime": "onnxruntime", "numpy": "numpy"}
    packages = {k: v for k, v in versions().items() if shown.get(k) not in found}
    return Environment(**found, packages=packages)
