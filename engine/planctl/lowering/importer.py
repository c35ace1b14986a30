"""Import an ONNX model into a Relax IRModule for one static production shape.

Errors name the node, op type and opset (never a raw TVM traceback). The static shapes baked into
a dynamo-exported graph are checked against the plan's shape, because importing such a graph at
another shape compiles and runs with wrong output (docs/tvm-0.27.md §4).
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from planctl.errors import LoweringError
from planctl.lowering.quantize import NAMES_ATTR

ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
               10: "float16", 11: "float64", 16: "bfloat16"}


@dataclass(frozen=True)
class ImportedModel:
    """``mod``: Relax IRModule whose ``main`` takes the inputs in ``input_names`` order."""

    mod: object
    input_names: list[str]
    output_names: list[str]
    opset: int
    node_count: int


def load_onnx(path: Path):
    """Load and structurally check an ONNX file. Raises LoweringError naming the file."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError...
        raise LoweringError(f"not a valid ONNX model: {str(exc).splitlines()[0][:300]}",
                            file=str(path), hint="re-export the model, e.g. torch.onnx.export(..., dynamo=True)") from exc
    return model


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
    """Compare the graph's inputs (names, dtypes, static dims) with the plan's input specs."""
    initializers = {i.name for i in model.graph.initializer}
    graph_inputs = {i.name: i for i in model.graph.input if i.name not in initializers}
    declared = [spec.name for spec in input_specs]
    if sorted(graph_inputs) != sorted(declared):
        raise LoweringError(
            f"{path}: the model's inputs {sorted(graph_inputs)} do not match the plan's {sorted(declared)}",
            hint="spec.workload.inputs must name every graph input exactly once")
    for spec in input_specs:
        tensor = graph_inputs[spec.name].type.tensor_type
        dtype = ONNX_DTYPES.get(tensor.elem_type, f"onnx-type-{tensor.elem_type}")
        if dtype != spec.dtype:
            raise LoweringError(f"{path}: input '{spec.name}' is {dtype} in the model but {spec.dtype} in the plan")
        want = concrete_shape(spec.shape, shape_env)
        have = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if len(have) != len(want) or any(h is not None and h != w for h, w in zip(have, want)):
            raise LoweringError(
                f"{path}: input '{spec.name}' has static shape {have} in the model, but the production "
                f"shape {dict(shape_env)} asks for {want}",
                hint="re-export the model for this shape (the exporter bakes static dims into Reshape "
                     "constants, so importing at another shape gives wrong results)")


def concrete_shape(shape, shape_env: dict[str, int]) -> list[int]:
    return [shape_env[d] if isinstance(d, str) else int(d) for d in shape]


def import_onnx(path: Path, input_specs, shape_env: dict[str, int]) -> ImportedModel:
    """Import ``path`` with every symbolic dim bound by ``shape_env`` (static build).

    Raises LoweringError for an invalid file, a signature mismatch, an operator without a converter
    (listing each node with op type, domain and opset) or a converter failure.
    """
    model = load_onnx(path)
    check_signature(model, path, input_specs, shape_env)
    opset = default_opset(model)
    missing = unsupported_nodes(model)
    if missing:
        raise LoweringError(
            f"{path}: TVM's ONNX frontend cannot import {len(missing)} node(s): {', '.join(missing[:8])}",
            hint="replace the operator before export, or keep this model on its current runtime")
    mod = _convert(model, path, input_specs, shape_env, opset)
    return ImportedModel(mod=mod.with_attr(NAMES_ATTR, weight_names(model)),
                         input_names=[s.name for s in input_specs],
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
    from tvm.relax.frontend.onnx import from_onnx

    shapes = {s.name: concrete_shape(s.shape, shape_env) for s in input_specs}
    dtypes = {s.name: s.dtype for s in input_specs}
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            return from_onnx(model, shape_dict=shapes, dtype_dict=dtypes, keep_params_in_input=False)
    except Exception as exc:  # TVMError, ValueError, NotImplementedError from converters
        where = next((line for line in chatter.getvalue().splitlines() if "Error converting" in line), "")
        op = where.split("operator", 1)[-1].split(",")[0].strip() if where else "?"
        raise LoweringError(
            f"{path}: TVM could not convert operator {op} (opset {opset}): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
            hint="run with PLANCTL_TRACEBACK=1 for TVM's traceback") from exc
