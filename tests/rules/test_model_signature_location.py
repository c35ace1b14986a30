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
