"""planctl.apply.context: the output folder is computed once, and a rejected run's paths point at
its own folder; the stage clock; drift notes; ``-v``/``-vv`` on apply (no TVM needed)."""
from __future__ import annotations

from pathlib import Path

from planctl.apply.context import OutputFolder, StageClock
from planctl.cli.main import main


def test_destination_is_live_unless_a_promoted_output_would_be_replaced_by_a_rejected_run(tmp_path):
    out = OutputFolder(live=tmp_path / "out" / "plan" / "x86")
    assert out.destination(promote=True, live_is_promoted=True) == out.live
    assert out.destination(promote=False, live_is_promoted=False) == out.live
    assert out.destination(promote=False, live_is_promoted=True) == tmp_path / "out" / "plan" / "x86.rejected"


def test_paths_in_the_staging_folder_are_written_as_published(tmp_path):
    staging = tmp_path / "out" / "plan" / ".x86.staging-1"
    out = OutputFolder(live=tmp_path / "out" / "plan" / "x86", staging=staging)
    npz = f"planctl verify replay {staging}/counterexample-static.npz"
    assert out.published(npz, out.rejected) == f"planctl verify replay {out.rejected}/counterexample-static.npz"
    assert out.published(None, out.live) is None


def test_the_clock_times_each_stage_and_announces_it():
    seen = []
    clock = StageClock(progress=seen.append)
    with clock("documents"):
        pass
    assert seen == ["documents"] and [s.name for s in clock.stages] == ["documents"]
    assert clock.stages[0].seconds >= 0


def test_an_installed_version_other_than_the_pin_is_a_report_note(monkeypatch):
    from planctl.apply.stages.lowering import drift_notes
    from planctl.lowering import tvm_env

    monkeypatch.setattr(tvm_env, "versions", lambda: {"apache-tvm": "0.27.0.post1", "apache-tvm-ffi": "0.1.15.post2"})
    [note] = drift_notes()
    assert "apache-tvm-ffi 0.1.15.post2 (pinned 0.1.14.post0)" in note
    monkeypatch.setattr(tvm_env, "versions", lambda: dict(tvm_env.PINNED))
    assert drift_notes() == []


def _apply_unknown_target(repo: Path, *flags: str) -> int:
    return main([*flags, "apply", str(repo / "plans" / "tiny.yaml"), "--target", "riscv-v",
                 "--root", str(repo), "--out", str(repo / "out")])


def test_v_shows_stage_progress_off_a_terminal_and_vv_the_traceback(tiny_repo: Path, capsys):
    assert _apply_unknown_target(tiny_repo) == 2
    err = capsys.readouterr().err
    assert "planctl apply: documents" not in err and "Traceback" not in err
    assert _apply_unknown_target(tiny_repo, "-v") == 2
    err = capsys.readouterr().err
    assert "planctl apply: documents" in err and "Traceback" not in err
    assert _apply_unknown_target(tiny_repo, "-v", "-v") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "TargetChoiceError" in err and "riscv-v" in err


def test_v_after_the_subcommand_counts_as_before_it(tiny_repo: Path, capsys):
    assert main(["apply", str(tiny_repo / "plans" / "tiny.yaml"), "--target", "riscv-v",
                 "--root", str(tiny_repo), "--out", str(tiny_repo / "out"), "-v"]) == 2
    err = capsys.readouterr().err
    assert "planctl apply: documents" in err and "Traceback" not in err
    assert main(["apply", str(tiny_repo / "plans" / "tiny.yaml"), "--target", "riscv-v",
                 "--root", str(tiny_repo), "--out", str(tiny_repo / "out"), "-vv"]) == 2
    assert "TargetChoiceError" in capsys.readouterr().err
