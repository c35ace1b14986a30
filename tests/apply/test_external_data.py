"""Issue 12 D: a model's external data (``location: weights.bin``) is read from the model's folder,
as ONNX resolves it, must stay inside it and the repository, and is covered by the inputs digest,
so replacing the weights is never "up to date"."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from planctl.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
import bad_models as bm  # noqa: E402


def external_repo(root: Path) -> Path:
    model = root / "models" / "ext.onnx"
    bm.external_weights(model)
    assert (root / "models" / "weights.bin").is_file()
    doc = bm.plan("external", "models/ext.onnx", bm.sha256(model), [bm.floats("X", [4, 64])], ["Y"])
    doc["spec"]["workload"]["model"]["data_sha256"] = {"weights.bin": bm.sha256(root / "models" / "weights.bin")}
    return bm.make_repo(root, doc)


def with_data_sha(plan_file: Path, sha: str) -> None:
    text = plan_file.read_text()
    plan_file.write_text(text.replace(text.split("weights.bin: ")[1].split()[0], sha))


def relocate(model: Path, location: str) -> str:
    """Point the model's external data at ``location``; return the model's new sha256."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(proto, str(model))
    return bm.sha256(model)


def with_model_sha(plan_file: Path, sha: str) -> None:
    text = plan_file.read_text()
    plan_file.write_text(text.replace(text.split("sha256: ")[1].split()[0], sha))


@pytest.mark.tvm
def test_weights_are_read_beside_the_model_and_a_replaced_file_is_not_up_to_date(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tvm")
    plan_file = external_repo(tmp_path)
    # a decoy weights.bin in the working directory: neither TVM nor onnxruntime may read it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "weights.bin").write_bytes(np.full((64, 64), 7.0, np.float32).tobytes())
    monkeypatch.chdir(elsewhere)
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    out_dir = tmp_path / "out" / "external" / "x86-64-avx2"
    first = json.loads((out_dir / "report.json").read_text())
    assert first["parity"][0]["passed"]
    assert list(first["inputs"]["components"]["model_external_data"]) == ["weights.bin"]
    capsys.readouterr()

    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    assert "up to date" in capsys.readouterr().out

    # new weights, same file name and size: the model file (and its sha256) is unchanged, the plan's
    # data_sha256 is not, so apply stops (PLN216) until the plan pins the new weights
    w = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32)
    (tmp_path / "models" / "weights.bin").write_bytes(w.tobytes())
    assert main(bm.apply_args(tmp_path, plan_file)) == 1
    assert "error[PLN216] 'weights.bin' has sha256" in capsys.readouterr().err
    with_data_sha(plan_file, bm.sha256(tmp_path / "models" / "weights.bin"))
    assert main(bm.apply_args(tmp_path, plan_file)) == 0
    assert "up to date" not in capsys.readouterr().out
    second = json.loads((out_dir / "report.json").read_text())
    assert second["inputs"]["digest"] != first["inputs"]["digest"]
    from planctl.runtime import load

    x = np.linspace(-1, 1, 4 * 64, dtype=np.float32).reshape(4, 64)
    np.testing.assert_allclose(load(out_dir)(X=x)[0], np.maximum(x @ w, 0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", ["outside-the-model-folder", "absolute", "missing", "symlink-out-of-the-repo",
                                  "lfs-pointer"])
def test_bad_external_data_is_a_located_error_before_any_build(tmp_path, capsys, case):
    plan_file = external_repo(tmp_path)
    model = tmp_path / "models" / "ext.onnx"
    weights = tmp_path / "models" / "weights.bin"
    expected = {"outside-the-model-folder": "outside the model's folder", "absolute": "outside the model's folder",
                "missing": "does not exist", "symlink-out-of-the-repo": "outside the repository",
                "lfs-pointer": "a Git LFS pointer"}[case]
    if case == "outside-the-model-folder":
        (tmp_path / "weights.bin").write_bytes(weights.read_bytes())
        with_model_sha(plan_file, relocate(model, "../weights.bin"))
    elif case == "absolute":
        with_model_sha(plan_file, relocate(model, str(weights)))
    elif case == "missing":
        weights.unlink()
    elif case == "symlink-out-of-the-repo":
        outside = tmp_path.parent / f"{tmp_path.name}-outside.bin"
        outside.write_bytes(weights.read_bytes())
        weights.unlink()
        os.symlink(outside, weights)
    else:
        weights.write_text(bm.LFS_POINTER)
    # check's PLN216 (exit 1) finds all but the LFS pointer before apply's own check (exit 2) sees them
    assert main(bm.apply_args(tmp_path, plan_file)) == (2 if case == "lfs-pointer" else 1)
    err = capsys.readouterr().err
    line = next(i for i, text in enumerate(plan_file.read_text().splitlines(), 1) if "onnx: models/ext.onnx" in text)
    assert f"plan.yaml:{line}:" in err and expected in err and "Traceback" not in err
    assert ("error[PLN216]" in err) if case == "missing" else ("external data" in err)
    assert not (tmp_path / "out" / "external").exists()


def test_a_saved_plan_goes_stale_when_only_the_external_weights_change(tmp_path, capsys):
    """The model file's digest does not move when only weights.bin is replaced; the saved plan
    pins the external data too and `apply SAVED` names it."""
    from planctl.apply.lock import check_lock, make_lock, write_lock
    from planctl.documents.load import find_target, load_plan, load_target
    from planctl.errors import StaleLockError

    plan_file = external_repo(tmp_path)
    plan, target = load_plan(plan_file), load_target(find_target("x86-64-avx2", tmp_path))
    lock = tmp_path / "saved.yaml"
    write_lock(make_lock(plan, target, "x86-64-avx2", tmp_path), lock)
    check_lock(lock, tmp_path)   # fresh
    weights = tmp_path / "models" / "weights.bin"
    weights.write_bytes(np.full((64, 64), 0.5, np.float32).tobytes())
    with pytest.raises(StaleLockError, match="model's external data digest"):
        check_lock(lock, tmp_path)
