"""Issue 12, "fresh eyes": new bad models tried after the fixes, each with its right outcome (no
exit 3, no wrong promotion): a scalar input, a token domain larger than the embedding table, a
sequence output, and a domain that allows NaN (TVM and onnxruntime disagree on Relu(NaN))."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")


def repo(root: Path, nodes, inputs, outputs, domains, names, inits=()) -> Path:
    graph = helper.make_graph(nodes, "fresh", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (root / "models").mkdir(parents=True)
    onnx.save(model, str(root / "models" / "m.onnx"))
    return bm.make_repo(root, bm.plan("fresh", "models/m.onnx", bm.sha256(root / "models" / "m.onnx"), domains, names))


def F(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_a_scalar_input_listed_first_is_measured_as_one_item_and_promoted(tmp_path):
    """The plan lists the inputs in another order than the graph: main takes them in the graph's."""
    plan_file = repo(tmp_path, [helper.make_node("Mul", ["X", "s"], ["Y"], name="scale")], [F("X", [2, 4]), F("s", [])],
                     [F("Y", [2, 4])], [{"name": "s", "dtype": "float32", "shape": [],
                                         "domain": {"kind": "float-range", "min": -2.0, "max": 2.0}},
                                        bm.floats("X", [2, 4])], ["Y"])
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    record = json.loads((tmp_path / "out" / "fresh" / "x86-64-avx2" / "report.json").read_text())
    assert record["latency"]["candidate"]["batch_size"] == 2


def test_a_domain_the_model_cannot_take_is_located_at_the_plans_inputs(tmp_path, capsys):
    table = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(6, 2), "table")
    plan_file = repo(tmp_path, [helper.make_node("Gather", ["table", "ids"], ["Y"], axis=0, name="embed")],
                     [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 3])], [F("Y", [2, 3, 2])],
                     [{"name": "ids", "dtype": "int64", "shape": [2, 3],
                       "domain": {"kind": "integer-range", "min": 0, "max": 9}}], ["Y"], [table])
    # check finds it (PLN224: the domain against the table's rows) before apply builds anything
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(plan_file.read_text().splitlines(), 1) if t.strip() == "max: 9")
    assert f"plan.yaml:{line}:" in err and "input 'ids' indexes table (6 rows), but its domain's max is 9" in err
    assert "max: 5" in err and not (tmp_path / "out" / "fresh").exists()


def test_a_sequence_output_is_refused_naming_it(tmp_path, capsys):
    seq = helper.make_tensor_sequence_value_info("S", TensorProto.FLOAT, [2, 4])
    plan_file = repo(tmp_path, [helper.make_node("SequenceConstruct", ["X", "X"], ["S"], name="pack")], [F("X", [2, 4])],
                     [seq], [bm.floats("X", [2, 4])], ["S"])
    assert main(bm.apply_args(tmp_path, plan_file)) == 2
    assert "graph output 'S' is an ONNX sequence, not a tensor" in capsys.readouterr().err


def test_nan_inputs_the_plan_allows_that_tvm_handles_unlike_onnxruntime_are_rejected(tmp_path, capsys):
    plan_file = repo(tmp_path, [helper.make_node("Relu", ["X"], ["Y"], name="relu")], [F("X", [2, 4])], [F("Y", [2, 4])],
                     [{"name": "X", "dtype": "float32", "shape": [2, 4],
                       "domain": {"kind": "float-range", "min": -1.0, "max": 1.0, "allow_nan": True}}], ["Y"])
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    assert "error[PLN011] reject" in capsys.readouterr().err
    record = json.loads((tmp_path / "out" / "fresh" / "x86-64-avx2.rejected" / "report.json").read_text())
    assert not record["builds"][0]["fallback_parity"]["passed"] and record["artifacts"]["library"] is None


@pytest.mark.parametrize("outputs", [["Z"], ["Y", "Z"]])
def test_a_declared_output_the_model_does_not_have_is_refused_at_its_line(tmp_path, capsys, outputs):
    """Fresh-eyes report: `outputs: [Z]` for a model whose only output is Y promoted with parity
    "held" for Z, and `[Y, Z]` compared Y only. check (PLN224) refuses it, so apply stops before any
    build, at the name's line."""
    model = tmp_path / "models" / "mlp.onnx"
    model.parent.mkdir(parents=True)
    bm.mlp(model)
    plan_file = bm.make_repo(tmp_path, bm.plan("named", "models/mlp.onnx", bm.sha256(model),
                                               [bm.floats("X", [4, 16])], outputs))
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(plan_file.read_text().splitlines(), 1) if t.strip() == "- Z")
    assert f"{plan_file.name}:{line}:" in err and "error[PLN224] models/mlp.onnx: 'Z' is not an output of the model" in err
    assert "Traceback" not in err and not (tmp_path / "out" / "named").exists()


def test_sigterm_during_apply_removes_the_staging_folder(tmp_path):
    """Fresh-eyes report: `timeout` and CI runners stop a job with SIGTERM, which left
    out/<plan>/.<target>.staging-*/ with its libraries. Now it cleans up like Ctrl-C (exit 143)."""
    import os
    import signal
    import subprocess
    import time

    model = tmp_path / "models" / "mlp.onnx"
    model.parent.mkdir(parents=True)
    bm.mlp(model)
    plan_file = bm.make_repo(tmp_path, bm.plan("term", "models/mlp.onnx", bm.sha256(model),
                                               [bm.floats("X", [4, 16])], ["Y"]))
    proc = subprocess.Popen([sys.executable, "-m", "planctl", *bm.apply_args(tmp_path, plan_file)[0:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_dir = tmp_path / "out" / "term"
    deadline = time.monotonic() + 300
    while not list(out_dir.glob(".x86-64-avx2.staging-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the apply finished before a staging folder was seen")
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert not list(out_dir.glob(".*staging-*"))


def test_a_reference_that_returns_nan_is_said_in_the_parity_evidence(tmp_path, capsys):
    """Fresh-eyes report: Log over a domain reaching negative values gives NaN on both sides, and
    parity "held" with nothing said. The report and the summary now say how often the reference
    itself was non-finite."""
    path = tmp_path / "models" / "log.onnx"
    path.parent.mkdir(parents=True)
    graph = helper.make_graph([helper.make_node("Log", ["X"], ["Y"], name="log")], "log",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 16])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    plan_file = bm.make_repo(tmp_path, bm.plan("logs", "models/log.onnx", bm.sha256(path),
                                               [bm.floats("X", [4, 16])], ["Y"]))
    main(bm.apply_args(tmp_path, plan_file))
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "logs" / "x86-64-avx2" / "report.json").read_text())
    note = record["parity"][0]["note"]
    assert note and "returned NaN or Inf" in note and "narrow the input domain" in note
    assert "returned NaN or Inf" in out
    assert "returned NaN or Inf" in (tmp_path / "out" / "logs" / "x86-64-avx2" / "report.md").read_text()
