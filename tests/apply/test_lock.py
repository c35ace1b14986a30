"""Saved plans: `planctl plan -o` writes the digests, `apply` refuses a stale one and names what moved."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from planctl.apply.lock import check_lock, is_lock, resolve_apply_argument
from planctl.cli.main import main
from planctl.documents.load import load_lock
from planctl.errors import DocumentError, StaleLockError

REPO = Path(__file__).resolve().parents[2]


def save(repo: Path, capsys) -> Path:
    lock = repo / "saved.yaml"
    code = main(["plan", str(repo / "plans" / "tiny.yaml"), "--target", "x86-64-avx2", "--root", str(repo),
                 "--cache", str(repo / "cache"), "-o", str(lock)])
    assert code == 0, capsys.readouterr().err
    return lock


def test_plan_writes_a_valid_lock_with_every_digest(tiny_repo: Path, capsys):
    lock = save(tiny_repo, capsys)
    out = capsys.readouterr().out
    assert "constant-folding" in out and "tuning budget: 4 trials" in out
    assert is_lock(lock) and not is_lock(tiny_repo / "plans" / "tiny.yaml")
    spec = load_lock(lock).model.spec
    assert spec.plan == "plans/tiny.yaml" and spec.target == "x86-64-avx2"
    digests = spec.digests.model_dump(by_alias=True)
    assert digests["plan"] == hashlib.sha256((tiny_repo / "plans" / "tiny.yaml").read_bytes()).hexdigest()
    assert digests["model"] == hashlib.sha256((tiny_repo / "models" / "tiny.onnx").read_bytes()).hexdigest()
    assert digests["schema"] == hashlib.sha256((REPO / "schemas" / "plan.schema.json").read_bytes()).hexdigest()
    assert not (tiny_repo / "out").exists()   # nothing was built


def test_plan_lists_tasks_to_search_when_tvm_is_there(tiny_repo: Path, capsys):
    pytest.importorskip("tvm")
    save(tiny_repo, capsys)
    out = capsys.readouterr().out
    assert "FoldConstant" in out and "FuseOps, FuseTIR" in out
    assert "tasks at batch=32:" in out and "to search" in out


def test_a_fresh_lock_resolves_to_its_plan_and_target(tiny_repo: Path, capsys):
    lock = save(tiny_repo, capsys)
    plan, target = resolve_apply_argument(lock, None, tiny_repo)
    assert plan.resolve() == (tiny_repo / "plans" / "tiny.yaml").resolve() and target == "x86-64-avx2"
    with pytest.raises(DocumentError, match="differs"):
        resolve_apply_argument(lock, "other-target", tiny_repo)


def test_a_file_that_is_neither_plan_nor_saved_plan_is_named_as_such(tiny_repo: Path):
    """helper-40: `planctl apply bad-saved.json` (`{}`) said "--target is required"."""
    saved = tiny_repo / "bad-saved.json"
    saved.write_text("{}")
    with pytest.raises(DocumentError, match="neither a plan .kind: OptimizationPlan. nor a saved plan .kind: Lock.: it "
                                            "has no kind"):
        resolve_apply_argument(saved, None, tiny_repo)
    with pytest.raises(DocumentError, match="its kind is Target"):
        resolve_apply_argument(tiny_repo / "targets" / "x86-64-avx2.yaml", None, tiny_repo)
    with pytest.raises(DocumentError, match="--target is required"):
        resolve_apply_argument(tiny_repo / "plans" / "tiny.yaml", None, tiny_repo)


def test_apply_refuses_a_stale_lock_and_names_the_digest(tiny_repo: Path, capsys):
    lock = save(tiny_repo, capsys)
    plan = tiny_repo / "plans" / "tiny.yaml"
    plan.write_text(plan.read_text().replace("examples: 4", "examples: 5"))
    with pytest.raises(StaleLockError, match="plan file digest"):
        check_lock(lock, tiny_repo)
    code = main(["apply", str(lock), "--root", str(tiny_repo), "--out", str(tiny_repo / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "stale" in err and "plan file digest" in err and "PLN800" in err
    assert not (tiny_repo / "out").exists()


def test_a_changed_target_moves_the_lock(tiny_repo: Path, capsys):
    lock = save(tiny_repo, capsys)
    target = tiny_repo / "targets" / "x86-64-avx2.yaml"
    target.write_text(target.read_text().replace("num-cores: 2", "num-cores: 4"))
    with pytest.raises(StaleLockError, match="target file digest"):
        check_lock(lock, tiny_repo)


def test_apply_of_a_plan_file_still_needs_a_target(tiny_repo: Path, capsys):
    assert main(["apply", str(tiny_repo / "plans" / "tiny.yaml"), "--root", str(tiny_repo)]) == 2
    assert "--target is required" in capsys.readouterr().err


def test_a_saved_plan_outside_the_repository_is_pln115_naming_the_root(tmp_path):
    import pytest

    from planctl.apply.lock import _relative
    from planctl.errors import DocumentError

    (tmp_path / "repo").mkdir()
    with pytest.raises(DocumentError, match=f"outside the repository root {tmp_path / 'repo'}") as err:
        _relative(tmp_path / "elsewhere.yaml", tmp_path / "repo")
    assert err.value.code == "PLN115"
