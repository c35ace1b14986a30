"""Issue 12 G: the quality gate compares against the model the plan declares (for a model that is
already int8, the float model it came from), and the report names which model and runtime that
was. The plan's model: onnxruntime's quantize_dynamic of a small float MLP; TVM builds it right
(parity against onnxruntime on the same int8 graph holds), but it agrees with the float model on
the top-1 class for only ~92% of the dataset."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
pytest.importorskip("onnxruntime.quantization")


def int8_repo(root: Path, declare_reference: bool) -> Path:
    bm.float_and_int8(root / "models" / "float.onnx", root / "models" / "int8.onnx")
    rows = np.random.default_rng(5).uniform(-1, 1, (64, 64)).astype(np.float32)
    (root / "data").mkdir()
    (root / "data" / "eval.jsonl").write_text("".join(json.dumps({"inputs": {"X": r.tolist()}}) + "\n" for r in rows))
    quality = {"metric": "top1-agreement", "dataset": "data/eval.jsonl", "goal": {"type": "threshold", "value": 0.99}}
    if declare_reference:
        quality["reference"] = {"onnx": "models/float.onnx", "sha256": bm.sha256(root / "models" / "float.onnx")}
    doc = bm.plan("int8-mlp", "models/int8.onnx", bm.sha256(root / "models" / "int8.onnx"), [bm.floats("X", [8, 64])],
                  ["Y"])
    doc["spec"]["envelope"]["quality"] = quality
    return bm.make_repo(root, doc)


def test_quality_is_measured_against_the_declared_float_model(tmp_path, capsys):
    plan_file = int8_repo(tmp_path, declare_reference=True)
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    out_dir = tmp_path / "out" / "int8-mlp" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    assert record["parity"][0]["passed"]   # TVM builds the int8 graph as onnxruntime runs it
    [quality] = record["quality"]
    assert quality["reference"]["model"] == "models/float.onnx" and quality["reference"]["declared"]
    assert quality["reference"]["runtime"].startswith("onnxruntime ")
    assert not quality["passed"] and 0.5 < quality["value"] < 0.99
    assert "against models/float.onnx" in quality["reason"]
    # onnxruntime on the plan's int8 model is the baseline stand-in: it falls short of the float model too
    assert quality["baseline"]["value"] == pytest.approx(quality["value"], abs=0.05)
    assert record["decision"]["verdict"] == "rollback"
    assert "reference: models/float.onnx run by onnxruntime" in (out_dir / "report.md").read_text()


def test_without_a_declared_reference_the_report_says_it_compared_the_model_with_itself(tmp_path):
    plan_file = int8_repo(tmp_path, declare_reference=False)
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    record = json.loads((tmp_path / "out" / "int8-mlp" / "x86-64-avx2" / "report.json").read_text())
    [quality] = record["quality"]
    assert quality["reference"]["model"] == "models/int8.onnx" and not quality["reference"]["declared"]
    assert "fp32" not in json.dumps(quality)
    assert any("already quantized" in note and "envelope.quality.reference" in note for note in record["notes"])


def test_a_reference_with_other_inputs_is_refused_at_its_line(tmp_path, capsys):
    plan_file = int8_repo(tmp_path, declare_reference=True)
    bm.mlp(tmp_path / "models" / "float.onnx")   # takes X f32[4,16]: a different model
    text = plan_file.read_text()
    old = text.split("reference:")[1].split("sha256: ")[1].split()[0]
    plan_file.write_text(text.replace(old, bm.sha256(tmp_path / "models" / "float.onnx")))
    line = next(i for i, t in enumerate(plan_file.read_text().splitlines(), 1) if "onnx: models/float.onnx" in t)
    code = main(bm.apply_args(tmp_path, plan_file))
    err = capsys.readouterr().err
    assert code == 2 and f"plan.yaml:{line}:" in err and "quality reference" in err, err
