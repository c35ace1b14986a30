"""A small real ONNX model with given graph inputs, for the tests that check a plan's model
(rule PLN224 reads its inputs and outputs). Each input is cast to float32 and becomes an output,
the first named as the example plans' output (``sentence_embedding``), the others ``<input>_out``."""
from __future__ import annotations

ELEM = {"float32": 1, "int64": 7, "int32": 6}


def stub_model(inputs: list[tuple[str, str, list]], first_output: str = "sentence_embedding") -> bytes:
    """``inputs``: (name, dtype, shape) with str dims symbolic; returns the serialized model
    (ir_version 8, opset 17, no producer: the same bytes under any onnx version)."""
    from onnx import TensorProto, helper

    outputs = [first_output if i == 0 else f"{name}_out" for i, (name, _, _) in enumerate(inputs)]
    graph = helper.make_graph(
        [helper.make_node("Cast", [name], [out], to=TensorProto.FLOAT) for (name, _, _), out in zip(inputs, outputs)],
        "stub",
        [helper.make_tensor_value_info(name, ELEM[dtype], shape) for name, dtype, shape in inputs],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, shape) for (_, _, shape), out in zip(inputs, outputs)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString(deterministic=True)
