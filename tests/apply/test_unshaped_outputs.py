"""Issue 12 H: a model whose graph outputs are declared without a shape (Y) or without any type
(Z), which the ONNX spec and onnxruntime accept, is applied like any other."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")


def test_outputs_without_declared_shapes_are_applied_and_checked(tmp_path):
    bm.unshaped_outputs(tmp_path / "models" / "unshaped.onnx")
    plan_file = bm.make_repo(tmp_path, bm.plan("unshaped", "models/unshaped.onnx",
                                               bm.sha256(tmp_path / "models" / "unshaped.onnx"),
                                               [bm.floats("X", [4, 16])], ["Y", "Z"]))
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    record = json.loads((tmp_path / "out" / "unshaped" / "x86-64-avx2" / "report.json").read_text())
    assert record["builds"][0]["output_names"] == ["Y", "Z"]
    assert set(record["parity"][0]["outputs"]) == {"Y", "Z"} and record["parity"][0]["passed"]
