"""Issue 12 E: a Git LFS pointer checked out instead of a file is refused wherever a file is named
(the model, its external data, tuning records, datasets, the quality reference model), and a
records file that yields no usable record is an error, never an empty import followed by a search."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402

AUTOTUNING = {"technique": "autotuning", "budget": {"trials": 2, "wall_clock_s": 60, "trials_per_task": 1}}
QUALITY = {"metric": "cosine-similarity", "dataset": "data/eval.jsonl", "goal": {"type": "threshold", "value": 0.99}}


def repo(root: Path, kind: str) -> tuple[Path, str]:
    """A repository whose ``kind`` of named file is a Git LFS pointer; the plan and the text of the
    line that names the file."""
    bm.mlp(root / "models" / "mlp.onnx")
    doc = bm.plan("mlp", "models/mlp.onnx", bm.sha256(root / "models" / "mlp.onnx"), [bm.floats("X", [4, 16])], ["Y"])
    spec = doc["spec"]
    (root / "data").mkdir()
    (root / "data" / "eval.jsonl").write_text('{"inputs": {"X": [[0.5]]}}\n')
    pointer = root / {"model": "models/mlp.onnx", "external data": "models/weights.bin",
                      "tuning records": "records/x86.jsonl", "tuning records folder": "records/x86/database_workload.json",
                      "calibration dataset": "data/calib.jsonl", "quality dataset": "data/eval.jsonl",
                      "quality reference model": "models/float.onnx"}[kind]
    pointer.parent.mkdir(parents=True, exist_ok=True)
    named = {"model": "onnx: models/mlp.onnx", "external data": "onnx: models/ext.onnx",
             "tuning records": "records: records/x86.jsonl", "tuning records folder": "records: records/x86",
             "calibration dataset": "dataset: data/calib.jsonl", "quality dataset": "dataset: data/eval.jsonl",
             "quality reference model": "onnx: models/float.onnx"}[kind]
    if kind == "external data":
        bm.external_weights(root / "models" / "ext.onnx")
        spec["workload"]["model"] = {"onnx": "models/ext.onnx", "sha256": bm.sha256(root / "models" / "ext.onnx")}
        spec["workload"]["inputs"] = [bm.floats("X", [4, 64])]
    if kind.startswith("tuning records"):
        spec["optimizations"].append({**AUTOTUNING, "records": named.split(": ")[1]})
    if kind == "calibration dataset":
        spec["optimizations"].append({"technique": "quantization",
                                      "precision": {"weights": "int8", "activations": "float32", "kv_cache": "none"},
                                      "calibration": {"dataset": "data/calib.jsonl", "samples": 8}})
    if kind.startswith("quality"):
        spec["envelope"]["quality"] = QUALITY
    if kind == "quality reference model":
        spec["envelope"]["quality"] = {**QUALITY, "reference": {"onnx": "models/float.onnx", "sha256": "0" * 64}}
    pointer.write_text(bm.LFS_POINTER)
    if kind == "model":
        spec["workload"]["model"]["sha256"] = bm.sha256(pointer)   # even with the pointer's own digest pinned
    return bm.make_repo(root, doc), named


KINDS = ["model", "external data", "tuning records", "tuning records folder", "calibration dataset",
         "quality dataset", "quality reference model"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_git_lfs_pointer_is_refused_wherever_a_file_is_named(tmp_path, capsys, kind):
    plan_file, named = repo(tmp_path, kind)
    line = next(i for i, text in enumerate(plan_file.read_text().splitlines(), 1) if named in text)
    # apply runs check's rules first: its PLN215 and exit 1; external data only apply checks (exit 2)
    assert main(bm.apply_args(tmp_path, plan_file)) == (2 if kind == "external data" else 1)
    err = capsys.readouterr().err
    assert f"plan.yaml:{line}:" in err and "a Git LFS pointer" in err and "git lfs pull" in err, err
    assert "Traceback" not in err and not (tmp_path / "out" / "mlp").exists() and not (tmp_path / "cache").exists()
    if kind != "external data":   # check says so too, before CI builds anything (PLN215)
        assert main(["check", str(plan_file), "--root", str(tmp_path)]) == 1
        out = capsys.readouterr().out
        assert f"plan.yaml:{line}:" in out and "error[PLN215]" in out and "a Git LFS pointer" in out


@pytest.mark.parametrize("content", ["", "not json\n{\"key\": 1}\n"])
def test_records_that_yield_no_usable_record_are_an_error_not_an_empty_import(tmp_path, capsys, content):
    source = tmp_path / "records.jsonl"
    source.write_text(content)
    assert main(["cache", "--cache", str(tmp_path / "cache"), "import", str(source)]) == 2
    assert "yield no usable record" in capsys.readouterr().err
    source.write_text(bm.LFS_POINTER)
    assert main(["cache", "--cache", str(tmp_path / "cache"), "import", str(source)]) == 2
    assert "a Git LFS pointer" in capsys.readouterr().err


@pytest.mark.tvm
def test_apply_stops_on_records_that_yield_no_usable_record_before_any_search(tmp_path, capsys):
    pytest.importorskip("tvm")
    bm.mlp(tmp_path / "models" / "mlp.onnx")
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "x86.jsonl").write_text("{\"not\": \"a record\"}\n")
    doc = bm.plan("mlp", "models/mlp.onnx", bm.sha256(tmp_path / "models" / "mlp.onnx"), [bm.floats("X", [4, 16])],
                  ["Y"], optimizations=[{**AUTOTUNING, "records": "records/x86.jsonl"}])
    doc["spec"]["bottleneck"]["layer"] = "kernel"
    plan_file = bm.make_repo(tmp_path, doc)
    assert main(bm.apply_args(tmp_path, plan_file)) == 1   # check's PLN215 now, before TVM is loaded
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert "records/x86.jsonl holds no tuning record (1 line(s) read" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "mlp").exists()
