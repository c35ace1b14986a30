"""A small real ONNX model with given graph inputs, for the tests that check a plan's model
(rule PLN224 reads its inputs). Each input is cast to float32 and becomes an output."""
from __future__ import annotations

ELEM = {"float32": 1, "int64": 7, "int32": 6}


def stub_model(inputs: list[tuple[str, str, list]]) -> bytes:
    """``inputs``: (name, dtype, shape) with str dims symbolic; returns the serialized model
    (ir_version 8, opset 17, no producer: the same bytes under any onnx version)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cast", [name], [f"{name}_out"], to=TensorProto.FLOAT) for name, _, _ in inputs],
        "stub",
        [helper.make_tensor_value_info(name, ELEM[dtype], shape) for name, dtype, shape in inputs],
        [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, shape) for name, _, shape in inputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString(deterministic=True)
