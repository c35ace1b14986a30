"""planctl.documents.onnx_signature: the graph inputs read from the protobuf wire format (what
``check`` uses, without onnx or numpy) equal what onnx itself reads, and a file that is not an ONNX
model is refused, never half-read."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from onnx_stub import stub_model  # noqa: E402

from planctl.documents.onnx_signature import UnreadableModel, from_proto, read_declarations  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_the_wire_reader_agrees_with_onnx(tmp_path):
    onnx = pytest.importorskip("onnx")
    stub = tmp_path / "m.onnx"
    stub.write_bytes(stub_model([("ids", "int64", ["batch", 128]), ("mask", "int32", ["batch", "seq"]),
                                 ("scale", "float32", [])]))
    models = [stub, *sorted((REPO / "examples" / "minilm").glob("*.onnx"))]
    for path in models:
        assert read_declarations(path) == from_proto(onnx.load(str(path), load_external_data=False)), path
    assert [i.name for i in read_declarations(stub)] == ["ids", "mask", "scale"]


@pytest.mark.parametrize("blob", [b"", b"<html>404 Not Found</html>\n", b"\0" * 64, "cut"])
def test_anything_but_a_model_is_unreadable(tmp_path, blob):
    data = stub_model([("ids", "int64", ["batch", 128])])
    path = tmp_path / "bad.onnx"
    path.write_bytes(data[: len(data) // 2] if blob == "cut" else blob)
    with pytest.raises(UnreadableModel, match="not a valid ONNX model"):
        read_declarations(path)


def test_a_renamed_input_is_paired_with_the_models_closest_name():
    from types import SimpleNamespace

    from planctl.documents.onnx_signature import GraphInput, mismatches

    graph = [GraphInput(name, 7, ((None, "batch"), (None, "seq"))) for name in ("input_ids", "attention_mask")]   # int64
    plan = [SimpleNamespace(name=name, dtype="int64", shape=["batch", "seq"]) for name in ("input_idz", "attention_mask")]
    [found] = mismatches(graph, plan, {"batch": 1, "seq": 8})
    assert found.hint.endswith("; the model has input_ids where the plan says input_idz")


def _model(tmp_path, nodes, opsets, inputs=("x",)):
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, [2]) for i in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                                       ir_version=8).SerializeToString())
    return path


def test_what_onnx_checker_refuses_is_found_without_onnx(tmp_path):
    """The new user's models that check passed and apply refused: a dangling input, a custom
    domain without its opset import, opset 1 and opset 99."""
    pytest.importorskip("onnx")
    from onnx import helper

    from planctl.documents.onnx_signature import graph_problems

    relu = helper.make_node("Relu", ["x"], ["y"])
    assert graph_problems(_model(tmp_path, [relu], [("", 17)])) == []
    assert graph_problems(REPO / "examples" / "minilm" / "minilm.onnx") == []
    for version in (1, 99):
        [found] = graph_problems(_model(tmp_path, [relu], [("", version)]))
        assert f"opset {version}; onnxruntime supports opsets 7 to 28" in found
    [found] = graph_problems(_model(tmp_path, [helper.make_node("Foo", ["x"], ["y"], domain="com.example")], [("", 17)]))
    assert "a Foo node is of domain 'com.example', which the model does not import" in found
    swapped = [helper.make_node("Relu", ["t"], ["y"], name="second"), helper.make_node("Relu", ["x"], ["t"])]
    [found] = graph_problems(_model(tmp_path, swapped, [("", 17)]))
    assert "node 'second' (Relu) reads 't' before any graph input" in found


def test_an_ir_version_past_onnxs_and_a_domain_imported_twice_are_found(tmp_path):
    """ir_version 99 and a second default-domain opset import passed check (the second new user)."""
    pytest.importorskip("onnx")
    from onnx import helper

    from planctl.documents.onnx_signature import graph_problems

    relu = helper.make_node("Relu", ["x"], ["y"])
    twice = graph_problems(_model(tmp_path, [relu], [("", 17), ("ai.onnx", 13)]))
    assert twice == ["it imports the default ONNX domain twice (opsets 17 and 13)"]
    path = _model(tmp_path, [relu], [("", 17)])
    import onnx

    model = onnx.load(str(path))
    model.ir_version = 99
    path.write_bytes(model.SerializeToString())
    assert graph_problems(path) == ["its IR version is 99; onnx's checker reads up to 14"]


def test_an_operator_onnx_does_not_define_or_not_yet_at_the_models_opset_is_found(tmp_path):
    """helper-39: a default-domain node of an op that does not exist passed check, and apply refused
    the model. One newer than the model's opset (Gelu is opset 20) fails the same way in onnxruntime."""
    pytest.importorskip("onnx")
    import onnx
    from onnx import helper

    from planctl.documents.onnx_signature import graph_problems

    [found] = graph_problems(_model(tmp_path, [helper.make_node("Reluu", ["x"], ["y"], name="act")], [("", 17)]))
    assert found == "node 'act' (Reluu): 'Reluu' is not an operator of the default ONNX domain (a custom op needs its own domain)"
    [found] = graph_problems(_model(tmp_path, [helper.make_node("Gelu", ["x"], ["y"])], [("", 17)]))
    assert found == "a Gelu node: ONNX defines Gelu from opset 20; the model imports opset 17"
    assert graph_problems(_model(tmp_path, [helper.make_node("Gelu", ["x"], ["y"])], [("", 20)])) == []
    # a model's own function of the default domain's name space is not an unknown op
    path = _model(tmp_path, [helper.make_node("MyAct", ["x"], ["y"], domain="")], [("", 17)])
    model = onnx.load(str(path))
    model.functions.append(helper.make_function("", "MyAct", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                                                [helper.make_opsetid("", 17)]))
    path.write_bytes(model.SerializeToString())
    assert graph_problems(path) == []
