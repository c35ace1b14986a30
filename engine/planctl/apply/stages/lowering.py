"""Lowering: import TVM, check that this host can run the target (planctl.lowering.compat), then for
each shape bucket (planctl.documents.shapes.choose_buckets) import the ONNX model into Relax at the
bucket's shape and run the plan's passes (on CUDA targets with the kernel routes its dispatch
techniques chose), and build TVM's default baseline.

The baseline: when the model keeps every symbolic dim of the plan symbolic (a dynamic export), one
dynamic-shape build of TVM's default pipeline serves every bucket (the documented rule: on CPU,
MetaSchedule tunes static shapes only, so each bucket's candidate is a static build tuned at its
shape, while TVM's untuned default build is shape-generic and loses nothing by staying dynamic:
measured on MiniLM, 3.19 s dynamic against 3.18 s static per call at 2 x 128). Its symbolic
import is also what finds a node that fixed a dim the graph's inputs leave symbolic
(planctl.lowering.symbolic). A model with static input dims gets one static baseline per bucket.

TVM failures are PLN500 findings (planctl.lowering.failures): one in the import or the baseline
build stops apply (there is nothing verified to fall back to); one in the plan's passes is
recorded on the bucket (``ShapeWork.failure``) and the run goes on with the baseline only."""
from __future__ import annotations

import contextlib
import copy
from typing import Iterator, Optional

from planctl.apply.context import RunContext, ShapeWork, SharedBaseline
from planctl.errors import PlanctlError
from planctl.documents.shapes import choose_buckets, production_shape_envs, shape_tag
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
    dynamic_baseline: bool = False   # one dynamic-shape baseline serves every bucket


def run(ctx: RunContext, baselines: bool = True) -> Lowering:
    """Set ``ctx.techniques``, ``ctx.tvm_target``, ``ctx.device_kind`` and one ``ctx.shapes`` entry
    per production shape (its imported module, baseline executable, lowered module). Raises
    LoweringError for a technique apply cannot lower or a model TVM cannot import, DocumentError
    for a target TVM rejects, HostMismatchError (at the target's ``mcpu``/``mattr``/``arch`` line)
    when this host cannot run the target's code, TuningError when the target's RPC farm cannot be
    reached or lists no server. ``baselines=False`` (planctl tune) builds no baseline."""
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
    _farm_reachable(ctx)
    ranges = _quantization_checks(ctx)
    with model_errors_at_plan(ctx):
        ctx.layout = padding_layout(ctx.model_file, ctx.spec)
        ctx.shared_baseline = _dynamic_baseline(ctx) if baselines else None
        shapes = [_lower(ctx, ShapeWork(env, shape_tag(env)), ranges, baselines) for env in choose_buckets(ctx.spec)]
    return Lowering(techniques=[t.technique for t in ctx.techniques], environment=environment, shapes=shapes,
                    notes=[*drift_notes(), *gather_notes(ctx)], dynamic_baseline=ctx.shared_baseline is not None)


MODEL_POINTER = "/spec/workload/model/onnx"


def _farm_reachable(ctx: RunContext) -> None:
    """A target that measures on an RPC farm: its tracker answers and lists a server under the key,
    before any build (TuningError otherwise). Unchecked, apply built every bucket, then timed out
    measuring and reported a rollback with TVM's "timeout 600"."""
    from planctl.tuning.farm import rpc_farm, servers_or_error

    farm = rpc_farm(ctx.target.model.spec.measurement)
    if not farm:
        return
    try:
        servers_or_error(farm)
    except PlanctlError as exc:   # at the target document's tracker line: the file to fix
        pointer = "/spec/measurement/tracker"
        exc.file = str(ctx.target.path)
        if pointer in ctx.target.index:
            exc.line, exc.col, exc.end_line, exc.end_col = ctx.target.index.locate(pointer)
        raise


@contextlib.contextmanager
def model_errors_at_plan(ctx: RunContext) -> Iterator[None]:
    """Report a LoweringError located at the model file (a model TVM cannot import or build) at the
    plan's ``workload.model.onnx`` line instead, the model named as the plan names it: the plan is
    what the user edits, and the checkout's absolute path only repeats it."""
    from planctl.errors import LoweringError

    try:
        yield
    except LoweringError as exc:
        if exc.file != str(ctx.model_file):
            raise
        raise _at_plan(ctx, exc) from exc


def _at_plan(ctx: RunContext, exc):
    named = ctx.spec.workload.model.onnx
    if exc.failure is not None:
        message = exc.failure.summary(model=named)
    else:
        message = exc.message.replace(str(ctx.model_file), named)
        message = message if named in message else f"{named}: {message}"
    line, col, end_line, end_col = ctx.plan.index.locate(MODEL_POINTER)
    located = copy.copy(exc)   # same class, code, failure and hint
    located.args = (message,)
    located.message, located.file, located.pointer = message, str(ctx.plan.path), MODEL_POINTER
    located.line, located.col, located.end_line, located.end_col = line, col, end_line, end_col
    return located


def keeps_dims_symbolic(model_file, input_specs) -> bool:
    """Whether the model's graph inputs leave every symbolic dim of the plan symbolic (a dynamic
    export); False for a plan without symbolic dims. Reads the graph's input declarations only."""
    from planctl.lowering.importer import read_model

    dims = [(s.name, i) for s in input_specs for i, d in enumerate(s.shape) if isinstance(d, str)]
    if not dims:
        return False
    graph = read_model(model_file).graph
    declared = {v.name: v.type.tensor_type for v in graph.input}
    for name, axis in dims:
        tensor = declared.get(name)
        if tensor is None or not tensor.HasField("shape"):
            continue   # unknown rank: the plan's shape is what it gets
        if axis >= len(tensor.shape.dim) or tensor.shape.dim[axis].HasField("dim_value"):
            return False
    return True


def padding_layout(model_file, spec):
    """Where the plan's symbolic dims sit in the inputs and outputs (planctl.verify.padding.Layout),
    when the model keeps them symbolic so that the runtime may pad a call up to its bucket; None
    for a model with fixed shapes (its calls must match a bucket exactly). An output axis counts
    as a dim's when the graph declares it with the dim's name (the exporter names them after
    torch.export's Dims); the padding check at every bucket catches one it does not declare."""
    from planctl.lowering.importer import read_model
    from planctl.verify.padding import Layout

    inputs = spec.workload.inputs
    if not keeps_dims_symbolic(model_file, inputs):
        return None
    dims: dict[str, list] = {}
    for s in inputs:
        for axis, d in enumerate(s.shape):
            if isinstance(d, str):
                dims.setdefault(d, []).append([s.name, axis])
    pad = {s.name: (0 if s.domain.kind == "attention-mask" else s.pad) for s in inputs
           if any(isinstance(d, str) for d in s.shape)}
    graph = read_model(model_file).graph
    output_dims = {o.name: [d.dim_param if d.dim_param in dims else None for d in o.type.tensor_type.shape.dim]
                   for o in graph.output}
    batch = next((d for d, places in dims.items() if all(axis == 0 for _, axis in places)
                  and all((o[:1] or [None])[0] == d for o in output_dims.values())), None)
    return Layout(dims=dims, pad={k: v for k, v in pad.items() if v is not None}, output_dims=output_dims,
                  batch_dim=batch)


def _dynamic_baseline(ctx: RunContext):
    """One dynamic-shape import and default build of the model, when it keeps the plan's dims
    symbolic; None otherwise (each bucket then gets its own static baseline)."""
    from planctl.lowering import build
    from planctl.lowering.failures import tvm_stage
    from planctl.lowering.importer import import_onnx

    if not keeps_dims_symbolic(ctx.model_file, ctx.spec.workload.inputs):
        return None
    with ctx.clock("import[dynamic]"):
        imported = import_onnx(ctx.model_file, ctx.spec.workload.inputs, {})
    with ctx.clock("baseline-build[dynamic]"), \
            tvm_stage("baseline-build", shape="dynamic", file=str(ctx.model_file),
                      hint="TVM's default build of the imported model failed, so there is no baseline to "
                           "verify or fall back to") as capture:
        executable = build.build_baseline(imported.mod, ctx.tvm_target, instruments=capture.instruments)
    return SharedBaseline(imported=imported, executable=executable)


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


def _lower(ctx: RunContext, work: ShapeWork, ranges=None, baselines: bool = True) -> ShapeLowering:
    from planctl.lowering import build
    from planctl.lowering.failures import tvm_stage
    from planctl.lowering.flops import workload_flops
    from planctl.lowering.importer import import_onnx
    from planctl.lowering.quantize import RANGES_ATTR, check_keep_float, evidence

    with ctx.clock(f"import[{work.tag}]"):
        work.imported = import_onnx(ctx.model_file, ctx.spec.workload.inputs, work.shape_env)
    if ctx.shared_baseline is not None:
        work.baseline = ctx.shared_baseline.executable
    elif baselines:
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
