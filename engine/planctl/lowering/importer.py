"""Import an ONNX model into a Relax IRModule, at one static production shape or with the plan's
symbolic dims left symbolic (one dynamic-shape module).

Errors name the node, op type and opset (never a raw TVM traceback). The static dims of the graph's
inputs are checked against the plan's shape, because importing a graph exported at one shape at
another compiles and runs with wrong output (docs/tvm-0.27.md §4); a dim the graph's inputs leave
symbolic but one of its nodes fixes anyway (a Reshape to a constant shape) is found by the symbolic
import, which names that node (planctl.lowering.symbolic).
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from planctl.documents.onnx_signature import REEXPORT, concrete_shape, from_proto, mismatches
from planctl.errors import LoweringError
from planctl.lowering.quantize import NAMES_ATTR


@dataclass(frozen=True)
class ImportedModel:
    """``mod``: Relax IRModule whose ``main`` takes the inputs in ``input_names`` order (the
    graph's order, which may differ from the order the plan lists them in)."""

    mod: object
    input_names: list[str]
    output_names: list[str]
    opset: int
    node_count: int


def read_model(path: Path):
    """The ONNX model at ``path`` without its external data (declarations, graph structure).
    Raises LoweringError naming the file when onnx cannot parse it (a truncated or non-ONNX file)."""
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError...
        raise LoweringError(f"not a valid ONNX model: {str(exc).splitlines()[0][:300]}",
                            file=str(path), hint=REEXPORT) from exc


def load_onnx(path: Path):
    """Load an ONNX file with its external data (resolved relative to the model's folder, as ONNX
    does), infer the shapes of its graph outputs and check it structurally.

    Graph outputs declared without a shape (or without a type), which onnxruntime runs and the
    ONNX spec allows, get the inferred type; the structural check then runs on a copy in which an
    output whose rank stays unknown counts as checked (planctl reads output shapes from the runs).
    Raises LoweringError naming the file, and the output or tensor at fault.
    """
    import onnx

    model = read_model(path)
    _load_external_data(model, path)
    _declare_outputs(model, path)
    _tensor_outputs(model, path)
    try:
        onnx.checker.check_model(_checkable(model))
    except Exception as exc:  # noqa: BLE001 - onnx's ValidationError and friends
        raise LoweringError(f"not a valid ONNX model: {str(exc).splitlines()[0][:300]}",
                            file=str(path), hint=REEXPORT) from exc
    return model


def _load_external_data(model, path: Path) -> None:
    """Read the external data of ``model`` from the model's folder (never the working directory).
    The apply documents stage has already checked the files (planctl.lowering.external_data)."""
    from onnx.external_data_helper import load_external_data_for_model

    try:
        load_external_data_for_model(model, str(Path(path).resolve().parent))
    except Exception as exc:  # noqa: BLE001 - onnx's ValidationError, OSError
        raise LoweringError(f"its external data cannot be read: {str(exc).splitlines()[0][:300]}",
                            file=str(path), hint="store each data file beside the model, as ONNX resolves it "
                            "relative to the model's folder") from exc


def _declare_outputs(model, path: Path) -> None:
    """Give each graph output declared without a type or shape what shape inference finds."""
    import onnx

    missing = [o for o in model.graph.output if not (o.type.HasField("tensor_type") and
                                                      o.type.tensor_type.HasField("shape"))]
    if not missing:
        return
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is a help here; what it cannot fill is named below
        inferred = model
    known = {v.name: v for v in [*inferred.graph.output, *inferred.graph.value_info]}
    for output in missing:
        found = known.get(output.name)
        if found is not None and found.type.HasField("tensor_type") and found.type.tensor_type.elem_type:
            output.type.CopyFrom(found.type)
        elif output.type.HasField("tensor_type") and output.type.tensor_type.elem_type:
            continue   # its dtype is declared; only the rank is unknown
        elif output.type.HasField("sequence_type") or output.type.HasField("map_type") or \
                output.type.HasField("optional_type"):
            continue   # not a tensor: whoever runs it says whether it is supported
        else:
            raise LoweringError(f"graph output '{output.name}' has no declared type and shape "
                                "inference cannot find one", file=str(path),
                                hint=f"declare the output's type (helper.make_tensor_value_info('{output.name}', "
                                     "TensorProto.FLOAT, None)) when exporting")


def _tensor_outputs(model, path: Path) -> None:
    """Refuse a graph output that is not a tensor (a sequence, map or optional), naming it: parity,
    the runtime's contract and the measurement all work on tensors."""
    for output in model.graph.output:
        kind = output.type.WhichOneof("value")
        if kind not in (None, "tensor_type", "sparse_tensor_type"):
            raise LoweringError(f"graph output '{output.name}' is an ONNX {kind.removesuffix('_type')}, not "
                                "a tensor: planctl builds and verifies models whose outputs are tensors",
                                file=str(path), hint="return the tensors themselves (e.g. ConcatFromSequence before "
                                                     "the output), or keep this model on its current runtime")


def _checkable(model):
    """``model`` for onnx.checker: a graph input or output whose rank is unknown gets a placeholder
    shape in this copy only (the checker requires the field; onnxruntime and the spec do not, and
    an input's shape is the plan's)."""
    def unshaped(values):
        return [v for v in values if v.type.HasField("tensor_type") and not v.type.tensor_type.HasField("shape")]

    if not unshaped(model.graph.input) and not unshaped(model.graph.output):
        return model
    copy = type(model)()
    copy.CopyFrom(model)
    for value in [*unshaped(copy.graph.input), *unshaped(copy.graph.output)]:
        value.type.tensor_type.shape.SetInParent()
    return copy


def default_opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def unsupported_nodes(model) -> list[str]:
    """Describe each node with no Relax converter: ``'name' (op_type, domain, opset N)``."""
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    supported = set(_get_convert_map()) | {"Constant", "If"}
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    out = []
    for node in model.graph.node:
        domain = node.domain or "ai.onnx"
        if node.op_type not in supported or domain not in ("ai.onnx", "ai.onnx.ml", "com.microsoft"):
            out.append(f"'{node.name or '?'}' ({node.op_type}, domain {domain}, opset {opsets.get(domain, '?')})")
    return out


def check_signature(model, path: Path, input_specs, shape_env: dict[str, int]) -> None:
    """Raise LoweringError for the first way the graph's inputs differ from the plan's input specs
    (planctl.documents.onnx_signature, which ``planctl check`` runs too, as rule PLN224)."""
    found = mismatches(from_proto(model), input_specs, shape_env)
    if found:
        raise LoweringError(found[0].message, file=str(path), hint=found[0].hint)


def symbolic_dims(input_specs, shape_env: dict[str, int]) -> list[str]:
    """The plan's dims that ``shape_env`` leaves unbound, in order of first use."""
    return list(dict.fromkeys(d for s in input_specs for d in s.shape if isinstance(d, str) and d not in shape_env))


def import_onnx(path: Path, input_specs, shape_env: dict[str, int]) -> ImportedModel:
    """Import ``path`` with the symbolic dims ``shape_env`` binds at their values (a static build
    when it binds them all) and the others as TIR variables of the same name (a dynamic-shape build).

    Raises LoweringError for an invalid file, a signature mismatch, an operator without a converter
    (listing each node with op type, domain and opset), a converter failure, or (symbolic import) a
    node that fixes one of the dims (planctl.lowering.symbolic).
    """
    model = load_onnx(path)
    check_signature(model, path, input_specs, shape_env)
    opset = default_opset(model)
    missing = unsupported_nodes(model)
    if missing:
        raise LoweringError(
            f"TVM's ONNX frontend cannot import {len(missing)} node(s): {', '.join(missing[:8])}",
            file=str(path), hint="replace the operator before export, or keep this model on its current runtime")
    # main's parameters follow the graph's inputs (initializers left out), whatever order the plan lists
    initializers = {i.name for i in model.graph.initializer}
    mod = _convert(model, path, input_specs, shape_env, opset)
    names = weight_names(model)
    if names:   # only a graph with matmul weights carries the map (the module is TVM's import otherwise)
        mod = mod.with_attr(NAMES_ATTR, names)
    return ImportedModel(mod=mod,
                         input_names=[i.name for i in model.graph.input if i.name not in initializers],
                         output_names=[o.name for o in model.graph.output], opset=opset,
                         node_count=len(model.graph.node))


def weight_names(model) -> dict[str, str]:
    """``{weight digest: node name}`` of every MatMul/Gemm whose weight is an initializer (both
    orientations): how planctl.lowering.quantize names the operators it quantizes, and what a
    plan's ``keep_float`` lists."""
    from onnx import numpy_helper

    from planctl.lowering.quantize import weight_digest

    initializers = {i.name: i for i in model.graph.initializer}
    names: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in initializers:
            weight = numpy_helper.to_array(initializers[node.input[1]])
            if weight.ndim == 2 and weight.dtype.kind == "f":
                for oriented in (weight, weight.T):
                    names.setdefault(weight_digest(oriented), node.name or node.output[0])
    return names


def _convert(model, path: Path, input_specs, shape_env, opset: int):
    """TVM's ONNX frontend on ``model``. Raises LoweringError with a PLN500 TVMFailure (stage
    ``import``, the ONNX node being converted, TVM's message, the crash log)."""
    from tvm import tirx
    from tvm.relax.frontend.onnx import from_onnx

    from planctl.documents.shapes import shape_tag
    from planctl.lowering.failures import tvm_stage
    from planctl.lowering.symbolic import DimTracker, static_ranges

    variables = {d: tirx.Var(d, "int64") for d in symbolic_dims(input_specs, shape_env)}
    shapes = {s.name: [variables.get(d, d) for d in concrete_shape(s.shape, shape_env)] for s in input_specs}
    dtypes = {s.name: s.dtype for s in input_specs}
    chatter = io.StringIO()
    tracker = DimTracker(variables, model)
    tag = shape_tag(shape_env) if not variables else "dynamic"
    with tvm_stage("import", shape=tag, file=str(path),
                   hint=f"TVM's ONNX frontend (opset {opset}) failed on this model; replace the operator before "
                        "export, or keep this model on its current runtime") as capture:
        with contextlib.redirect_stdout(chatter), static_ranges(), _converting_node(capture, model, tracker):
            mod = from_onnx(model, shape_dict=shapes, dtype_dict=dtypes, keep_params_in_input=False)
    tracker.check(path)   # a node that fixed a symbolic dim: a LoweringError naming it
    return mod


@contextlib.contextmanager
def _converting_node(capture, model, tracker=None):
    """Tell ``capture.node`` which ONNX node TVM's frontend is converting.

    TVM 0.27's frontend names no node in its errors (it prints "Error converting operator <op>"),
    so the importer's ``_convert_operator`` is wrapped for the duration of one import: the node's
    name comes from the ``tvm_custom`` attribute the frontend passes it, the op type from its
    first argument. The class attribute is restored on the way out.
    """
    from tvm.relax.frontend.onnx.onnx_frontend import ONNXGraphImporter

    original = ONNXGraphImporter._convert_operator
    index = {n.name: i for i, n in enumerate(model.graph.node) if n.name}

    def convert(self, op_name, inputs, attrs, opset):
        name = (attrs.get("tvm_custom") or {}).get("name") if isinstance(attrs, dict) else None
        capture.node = f"'{name}' ({op_name})" if name else f"unnamed {op_name}"
        if name in index:
            capture.node += f", node {index[name]} of the graph"
        try:
            result = original(self, op_name, inputs, attrs, opset)
        except Exception:
            if tracker is not None:   # an earlier node that fixed a dim explains the failure better
                capture.node = tracker.culprit_text() or capture.node
            raise
        if tracker is not None:
            tracker.converted(self.bb, name, op_name, inputs, result)
        capture.node = None
        return result

    ONNXGraphImporter._convert_operator = convert
    try:
        yield
    finally:
        ONNXGraphImporter._convert_operator = original
