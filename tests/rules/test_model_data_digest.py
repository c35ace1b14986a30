"""PLN216 on a model whose tensors live in an external data file (``torch.onnx.export`` writes
``model.onnx.data`` beside a large model): the .onnx file's sha256 does not cover the weights, so
the plan pins each data file, and a truncated one is named as such."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "apply"))
import bad_models as bm  # noqa: E402


def repo(root: Path, pins: dict | None) -> Path:
    model = root / "models" / "ext.onnx"
    bm.external_weights(model)
    doc = bm.plan("external", "models/ext.onnx", bm.sha256(model), [bm.floats("X", [4, 64])], ["Y"])
    if pins is not None:
        doc["spec"]["workload"]["model"]["data_sha256"] = pins
    return bm.make_repo(root, doc)


def pln216(root: Path, plan_file: Path, capsys) -> list[dict]:
    main(["check", str(plan_file), "--root", str(root), "-o", "json"])
    return [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == "PLN216"]


def test_unpinned_external_data_is_reported_with_the_pin_to_add(tmp_path, capsys):
    plan_file = repo(tmp_path, None)
    [finding] = pln216(tmp_path, plan_file, capsys)
    digest = bm.sha256(tmp_path / "models" / "weights.bin")
    assert "stores tensors in 'weights.bin', which the plan does not pin" in finding["message"]
    assert f"data_sha256: {{weights.bin: {digest}}}" in finding["help"]


def test_pinned_data_passes_and_replaced_or_truncated_weights_do_not(tmp_path, capsys):
    weights = tmp_path / "models" / "weights.bin"
    plan_file = repo(tmp_path, {})
    pinned = bm.sha256(weights)
    plan_file.write_text(plan_file.read_text().replace("data_sha256: {}", f"data_sha256:\n        weights.bin: {pinned}"))
    assert pln216(tmp_path, plan_file, capsys) == []
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF   # one byte of one weight: same size, same .onnx file
    weights.write_bytes(bytes(data))
    [finding] = pln216(tmp_path, plan_file, capsys)
    assert finding["pointer"] == "/spec/workload/model/data_sha256/weights.bin"
    assert f"the plan declares {pinned}" in finding["message"]
    weights.write_bytes(bytes(data[:1000]))
    [finding] = pln216(tmp_path, plan_file, capsys)
    assert "reads 16384 bytes from its external data 'weights.bin', which holds 1000: the file is truncated" in finding["message"]


def test_init_pins_the_external_data_it_finds(tmp_path, monkeypatch, capsys):
    import shutil

    repo(tmp_path, None)
    shutil.copytree(Path(__file__).parents[2] / "schemas", tmp_path / "schemas")
    monkeypatch.chdir(tmp_path)
    assert main(["init", "ext-model", "--model", "models/ext.onnx"]) == 0
    text = (tmp_path / "plans" / "ext-model.yaml").read_text()
    assert f'"weights.bin": "{bm.sha256(tmp_path / "models" / "weights.bin")}"' in text
    capsys.readouterr()
    assert pln216(tmp_path, tmp_path / "plans" / "ext-model.yaml", capsys) == []


def test_a_missing_data_file_is_reported_by_check(tmp_path, capsys):
    plan_file = repo(tmp_path, {"weights.bin": "0" * 64})
    (tmp_path / "models" / "weights.bin").unlink()
    [finding] = pln216(tmp_path, plan_file, capsys)
    assert finding["pointer"] == "/spec/workload/model/onnx"
    assert "stores tensors in 'weights.bin', which does not exist" in finding["message"]


def test_the_quality_reference_and_its_external_data_are_pinned_the_same_way(tmp_path, capsys):
    """envelope.quality.reference: its sha256 and data_sha256 are checked as workload.model's."""
    model = tmp_path / "models" / "model.onnx"
    bm.mlp(model)
    reference = tmp_path / "reference" / "float.onnx"
    bm.external_weights(reference)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eval.jsonl").write_text("{}\n")
    doc = bm.plan("with-reference", "models/model.onnx", bm.sha256(model), [bm.floats("X", [4, 16])], ["Y"])
    doc["spec"]["envelope"]["quality"] = {"metric": "cosine-similarity", "dataset": "data/eval.jsonl",
                                          "goal": {"type": "threshold", "value": 0.99},
                                          "reference": {"onnx": "reference/float.onnx", "sha256": bm.sha256(reference)}}
    plan_file = bm.make_repo(tmp_path, doc)
    weights = reference.parent / "weights.bin"
    [finding] = pln216(tmp_path, plan_file, capsys)
    assert finding["pointer"] == "/spec/envelope/quality/reference"
    assert "quality reference reference/float.onnx stores tensors in 'weights.bin', which the plan does not pin" \
        in finding["message"]
    assert f"add under envelope.quality.reference: data_sha256: {{weights.bin: {bm.sha256(weights)}}}" in finding["help"]

    pinned = bm.sha256(weights)
    plan_file.write_text(plan_file.read_text().replace(
        f"sha256: {bm.sha256(reference)}", f"sha256: {bm.sha256(reference)}\n        data_sha256:\n          weights.bin: {pinned}"))
    assert pln216(tmp_path, plan_file, capsys) == []
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    [finding] = pln216(tmp_path, plan_file, capsys)
    assert finding["pointer"] == "/spec/envelope/quality/reference/data_sha256/weights.bin"
    bm.mlp(reference)   # another model behind the same path
    found = {f["pointer"]: f["message"] for f in pln216(tmp_path, plan_file, capsys)}
    assert "quality reference reference/float.onnx has sha256" in found["/spec/envelope/quality/reference/sha256"]


def test_external_data_outside_the_models_folder_is_reported_by_check(tmp_path, capsys):
    """A location of ``../weights.bin`` (or a symlink out of the repository) passed check, and apply
    refused it (PLN300): CI was green on a plan that could not apply."""
    import onnx

    plan_file = repo(tmp_path, {"weights.bin": "0" * 64})
    model_path = tmp_path / "models" / "ext.onnx"
    model = onnx.load(str(model_path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../weights.bin"
    model_path.write_bytes(model.SerializeToString())
    (tmp_path / "models" / "weights.bin").rename(tmp_path / "weights.bin")
    plan_file.write_text(plan_file.read_text().replace(plan_file.read_text().split("sha256: ")[1].split()[0],
                                                       bm.sha256(model_path), 1))
    [finding] = pln216(tmp_path, plan_file, capsys)
    assert finding["pointer"] == "/spec/workload/model/onnx"
    assert "stores tensors in '../weights.bin', outside the model's folder: apply refuses to read it" in finding["message"]
