"""planctl.lowering.importer: an ONNX graph becomes the Relax module TVMScript spells out; bad
models are LoweringErrors naming the node, the input or the shape."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.errors import LoweringError  # noqa: E402
from planctl.documents.onnx_signature import concrete_shape  # noqa: E402
from planctl.lowering.importer import import_onnx  # noqa: E402

pytestmark = pytest.mark.tvm


class Input:
    """The two fields of a plan input the importer reads."""

    def __init__(self, name, dtype, shape):
        self.name, self.dtype, self.shape = name, dtype, shape


def _model(path: Path, op: str = "Relu", domain: str = "", batch: int | str = 2) -> Path:
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="act", domain=domain)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_relu_graph_imports_at_the_production_shape(tmp_path):
    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((2, 4), "float32")) -> R.Tensor((2, 4), "float32"):
            R.func_attr({"num_input": 1})
            with R.dataflow():
                gv = R.nn.relu(x)
                R.output(gv)
            return gv

    imported = import_onnx(_model(tmp_path / "m.onnx", batch="batch"), [Input("x", "float32", ["batch", 4])],
                           {"batch": 2})
    assert (imported.input_names, imported.output_names, imported.opset, imported.node_count) == (["x"], ["y"], 17, 1)
    tvm.ir.assert_structural_equal(imported.mod, Expected)


def test_an_operator_without_converter_names_the_node_and_opset(tmp_path):
    path = _model(tmp_path / "m.onnx", op="MyOp", domain="com.example")
    with pytest.raises(LoweringError, match=r"'act' \(MyOp, domain com.example, opset 1\)"):
        import_onnx(path, [Input("x", "float32", [2, 4])], {})


def test_a_baked_shape_that_differs_from_the_production_shape_is_refused(tmp_path):
    with pytest.raises(LoweringError, match="static dims in the model .*, but the bucket .* needs"):
        import_onnx(_model(tmp_path / "m.onnx", batch=2), [Input("x", "float32", ["batch", 4])], {"batch": 8})


def test_a_rank_that_differs_from_the_plans_names_both_ranks(tmp_path):
    with pytest.raises(LoweringError, match=r"rank 2 in the model \(\[2, 4\]\) but the plan declares rank 3"):
        import_onnx(_model(tmp_path / "m.onnx"), [Input("x", "float32", ["batch", 2, 4])], {"batch": 2})


def test_input_names_and_dtypes_must_match_the_plan(tmp_path):
    path = _model(tmp_path / "m.onnx")
    with pytest.raises(LoweringError, match="do not match the plan"):
        import_onnx(path, [Input("tokens", "float32", [2, 4])], {})
    with pytest.raises(LoweringError, match="is float32 in the model but int64 in the plan"):
        import_onnx(path, [Input("x", "int64", [2, 4])], {})


def test_not_an_onnx_file(tmp_path):
    (tmp_path / "m.onnx").write_bytes(np.arange(10, dtype="uint8").tobytes())
    with pytest.raises(LoweringError, match="not a valid ONNX model"):
        import_onnx(tmp_path / "m.onnx", [Input("x", "float32", [2, 4])], {})


def test_concrete_shape_binds_symbolic_dims():
    assert concrete_shape(["batch", 128], {"batch": 4}) == [4, 128]


def _unshaped(path: Path, op: str = "Relu", domain: str = "") -> Path:
    """x -> op -> y declared without a shape, and -> Sigmoid -> z declared with no type at all."""
    z = onnx.ValueInfoProto()
    z.name = "z"
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="act", domain=domain),
                               helper.make_node("Sigmoid", ["x"], ["z"], name="gate")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None), z])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_outputs_declared_without_shape_or_type_are_accepted(tmp_path):
    """onnx.checker wants a shape on every graph output; the spec and onnxruntime do not."""
    import onnxruntime as ort

    path = _unshaped(tmp_path / "m.onnx")
    ort.InferenceSession(str(path))   # onnxruntime runs it
    imported = import_onnx(path, [Input("x", "float32", [2, 4])], {})
    assert imported.output_names == ["y", "z"]
    ex = tvm.compile(imported.mod, tvm.target.Target({"kind": "llvm"}))
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    y, z = vm["main"](tvm.runtime.tensor(x))
    np.testing.assert_allclose(y.numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(z.numpy(), 1 / (1 + np.exp(-x)), rtol=1e-6)


def test_an_output_whose_type_nothing_can_tell_is_named(tmp_path):
    z = onnx.ValueInfoProto()
    z.name = "mystery"
    graph = helper.make_graph([helper.make_node("MyOp", ["x"], ["mystery"], name="act", domain="com.example")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])], [z])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(LoweringError, match="graph output 'mystery' has no declared type"):
        import_onnx(tmp_path / "m.onnx", [Input("x", "float32", [2, 4])], {})


def test_a_graph_input_declared_without_a_shape_takes_the_plan_shape(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="act")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    imported = import_onnx(tmp_path / "m.onnx", [Input("x", "float32", [3, 5])], {})
    assert [int(d) for d in imported.mod["main"].params[0].ty.shape] == [3, 5]


def test_a_sequence_output_is_refused_naming_it(tmp_path):
    graph = helper.make_graph([helper.make_node("SequenceConstruct", ["x", "x"], ["s"], name="pack")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(LoweringError, match="graph output 's' is an ONNX sequence, not a tensor"):
        import_onnx(tmp_path / "m.onnx", [Input("x", "float32", [2, 4])], {})
