"""PLN224 for a renamed graph input is located at the plan's entry for it, its name's line, not at
the ``inputs:`` key."""
from __future__ import annotations

import sys
from pathlib import Path

from planctl.rules.engine import Options, check

sys.path.insert(0, str(Path(__file__).parent))
from check_harness import make_repo  # noqa: E402


def test_a_renamed_input_is_located_at_its_entrys_name(tmp_path):
    plan = make_repo(tmp_path, {"spec": {"workload": {"inputs": [
        {"name": "input_idz", "dtype": "int64", "shape": ["batch", 128],
         "domain": {"kind": "integer-range", "min": 0, "max": 30521}}]}}})
    [finding] = [f for f in check([plan], Options(root=tmp_path)).findings if f.rule == "PLN224"]
    lines = plan.read_text().splitlines()
    assert "name: input_idz" in lines[finding.line - 1] and lines[finding.line - 1][finding.col - 1:] == "input_idz"
    assert "the model has input_ids where the plan says input_idz" in finding.help


def test_a_graph_input_the_plan_lacks_is_located_at_the_inputs_key():
    """No entry of the plan's is wrong: the list misses one."""
    from planctl.documents.onnx_signature import GraphInput, mismatches

    class Spec:
        name, dtype, shape = "input_ids", "int64", ["batch", 128]

    graph = [GraphInput("input_ids", 7, None), GraphInput("attention_mask", 7, None)]
    [found] = mismatches(graph, [Spec()], {"batch": 1})
    assert (found.input, found.key) == (None, None)


def test_an_output_the_model_lacks_is_found_by_check_at_its_entry(tmp_path):
    """apply refused it only after loading TVM (PLN300); check, the pre-commit hook, says it at once."""
    plan = make_repo(tmp_path, {"spec": {"workload": {"outputs": ["sentence_embeddings"]}}})
    [finding] = [f for f in check([plan], Options(root=tmp_path)).findings if f.rule == "PLN224"]
    line = plan.read_text().splitlines()[finding.line - 1]
    assert "sentence_embeddings" in line and "'sentence_embeddings' is not an output of the model" in finding.message
    assert "the model has sentence_embedding where the plan says sentence_embeddings" in finding.help


def test_a_tolerance_for_no_graph_output_is_found_when_the_plan_declares_no_outputs(tmp_path):
    """``parity.outputs: {z: ...}`` on a plan without ``workload.outputs`` (planctl init's template)
    was dropped without a word by apply, and PLN116 needs declared outputs to judge it."""
    plan = make_repo(tmp_path, {"spec": {"workload": {"outputs": "<delete>"}, "envelope": {"parity": {
        "outputs": {"sentence_embeddings": {"rtol": 1.0e-3, "atol": 1.0e-3}}}}}})
    [finding] = [f for f in check([plan], Options(root=tmp_path)).findings if f.rule == "PLN224"]
    assert "parity tolerance for 'sentence_embeddings', which is not an output of the model" in finding.message
    assert "sentence_embeddings" in plan.read_text().splitlines()[finding.line - 1]
    assert finding.help.startswith("the model has sentence_embedding")


def _lookup_model(rows: int) -> bytes:
    """input_ids int64 [batch, 128] -> Gather over a [rows, 4] table -> sentence_embedding."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(np.zeros((rows, 4), np.float32), "word_embeddings")
    graph = helper.make_graph([helper.make_node("Gather", ["word_embeddings", "input_ids"], ["sentence_embedding"])],
                              "lookup", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", 128])],
                              [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, None)], [table])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def test_a_domain_past_the_embedding_table_is_found_by_check_at_its_bound(tmp_path):
    """apply built every bucket (134 s on MiniLM) before onnxruntime refused an index past the table."""
    import hashlib

    model = _lookup_model(1000)
    sha = hashlib.sha256(model).hexdigest()

    def plan_with_max(folder: str, high: int) -> Path:
        return make_repo(tmp_path / folder, {"spec": {"workload": {"model": {"sha256": sha}, "inputs": [
            {"name": "input_ids", "dtype": "int64", "shape": ["batch", 128],
             "domain": {"kind": "integer-range", "min": 0, "max": high}}]}}}, model=model)
    ok = plan_with_max("ok", 999)
    assert not [f for f in check([ok], Options(root=tmp_path / "ok")).findings if f.rule == "PLN224"]
    plan = plan_with_max("past", 30521)
    [finding] = [f for f in check([plan], Options(root=tmp_path / "past")).findings if f.rule == "PLN224"]
    assert plan.read_text().splitlines()[finding.line - 1].strip() == "max: 30521"
    assert "indexes word_embeddings (1000 rows), but its domain's max is 30521" in finding.message
    assert "max: 999" in finding.help


def test_an_attention_mask_domain_on_the_token_ids_is_found_by_check(tmp_path):
    """A new user's plan declared the ids as a mask: parity drew ids 0 and 1, the build was
    promoted, and the runtime (which enforces the domain) refused every real sentence."""
    import hashlib

    model = _lookup_model(1000)
    plan = make_repo(tmp_path, {"spec": {"workload": {"model": {"sha256": hashlib.sha256(model).hexdigest()},
                                                      "inputs": [{"name": "input_ids", "dtype": "int64",
                                                                  "shape": ["batch", 128],
                                                                  "domain": {"kind": "attention-mask"}}]}}},
                     model=model)
    [finding] = [f for f in check([plan], Options(root=tmp_path)).findings if f.rule == "PLN224"]
    assert plan.read_text().splitlines()[finding.line - 1].strip().startswith("kind: attention-mask")
    assert "indexes word_embeddings (1000 rows), but its domain is an attention mask" in finding.message
    assert "integer-range, min: 0, max: 999" in finding.help


def _position_model(positions: int) -> bytes:
    """input_ids int64 [batch, seq]; position_ids[:, :seq] (BERT's slice of its position table, as the
    dynamo exporter writes it: Shape(start=1, end=2) as the Slice's ends) -> sentence_embedding."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    constants = [numpy_helper.from_array(np.arange(positions, dtype=np.int64)[None], "position_ids"),
                 numpy_helper.from_array(np.array([0], np.int64), "zero"),
                 numpy_helper.from_array(np.array([1], np.int64), "one")]
    nodes = [helper.make_node("Shape", ["input_ids"], ["seq_len"], start=1, end=2),
             helper.make_node("Slice", ["position_ids", "zero", "seq_len", "one"], ["positions"]),
             helper.make_node("Cast", ["positions"], ["sentence_embedding"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "positions",
                              [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
                              [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, None)], constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def test_a_sequence_past_the_models_position_table_is_found_by_check_at_its_max(tmp_path):
    """apply lowered and failed with a PLN500 that blamed the model: a BERT of 512 positions cannot run
    seq 1024 (the Slice of its position table stops at 512 and the shapes after it disagree)."""
    import hashlib

    from planctl.documents.onnx_signature import sliced_tables

    model = _position_model(8)
    (tmp_path / "model.onnx").write_bytes(model)
    assert sliced_tables(tmp_path / "model.onnx") == {("input_ids", 1): (8, "position_ids")}

    def plan_with_max(folder: str, high: int) -> Path:
        return make_repo(tmp_path / folder, {"spec": {"workload": {
            "model": {"sha256": hashlib.sha256(model).hexdigest()},
            "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"],
                        "domain": {"kind": "integer-range", "min": 0, "max": 7}}],
            "production_shapes": {"seq": {"min": 4, "opt": 4, "max": high, "values": [4, high]}}}}}, model=model)
    ok = plan_with_max("ok", 8)
    assert not [f for f in check([ok], Options(root=tmp_path / "ok")).findings if f.rule == "PLN224"]
    plan = plan_with_max("past", 16)
    [finding] = [f for f in check([plan], Options(root=tmp_path / "past")).findings if f.rule == "PLN224"]
    assert plan.read_text().splitlines()[finding.line - 1].strip() == "max: 16"
    assert "seq max 16 is past the end of the model's position_ids (8 entries, sliced to input_ids's axis 1)" \
        in finding.message
    assert "keep it at 8 or less" in finding.help
