"""`planctl rollback`: restores <target>.previous (and swaps back when run again)."""
from __future__ import annotations

import json
from pathlib import Path

from planctl.cli.main import main


def _output(folder: Path, verdict: str) -> None:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"verdict": verdict, "artifact": f"{verdict}.so"}))


def rollback(repo: Path) -> int:
    return main(["rollback", str(repo / "plans" / "tiny.yaml"), "--target", "x86-64-avx2",
                 "--out", str(repo / "out")])


def test_rollback_restores_the_previous_output(tiny_repo: Path, capsys):
    dest = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    _output(dest.with_name("x86-64-avx2.previous"), "promote")
    _output(dest, "rollback")
    assert rollback(tiny_repo) == 0
    assert json.loads((dest / "manifest.json").read_text())["verdict"] == "promote"
    assert json.loads((dest.with_name("x86-64-avx2.previous") / "manifest.json").read_text())["verdict"] == "rollback"
    assert "restored the previous output (verdict promote" in capsys.readouterr().out
    assert rollback(tiny_repo) == 0   # and back
    assert json.loads((dest / "manifest.json").read_text())["verdict"] == "rollback"


def test_rollback_without_a_previous_output_is_a_clear_error(tiny_repo: Path, capsys):
    _output(tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2", "promote")
    assert rollback(tiny_repo) == 2
    err = capsys.readouterr().err
    assert "nothing to roll back to" in err and "x86-64-avx2.previous" in err and "Traceback" not in err
    assert "PLN004" in err and "PLN000" not in err and "after the second apply" in err
    assert (tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2" / "manifest.json").is_file()


def test_rollback_refuses_a_previous_output_whose_library_changed(tiny_repo: Path, capsys):
    """helper-40: a library changed after apply became .previous on the next apply; rollback restored
    it and said so, and the runtime then refused to load the live output."""
    import hashlib

    dest = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    previous = dest.with_name("x86-64-avx2.previous")
    _output(dest, "promote")
    previous.mkdir(parents=True)
    (previous / "candidate.so").write_bytes(b"built")
    (previous / "manifest.json").write_text(json.dumps({"verdict": "promote", "artifact": "candidate.so", "sha256": {
        "candidate.so": hashlib.sha256(b"built").hexdigest()}}))
    (previous / "candidate.so").write_bytes(b"built, then appended to")
    assert rollback(tiny_repo) == 2
    err = capsys.readouterr().err
    assert "is not the output apply verified: candidate.so has sha256" in err and "the runtime refuses" in err
    assert json.loads((dest / "manifest.json").read_text())["artifact"] == "promote.so"   # nothing swapped
    (previous / "candidate.so").write_bytes(b"built")
    assert rollback(tiny_repo) == 0 and json.loads((dest / "manifest.json").read_text())["artifact"] == "candidate.so"
