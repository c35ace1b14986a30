"""planctl.apply.emit: the staging folder beside the output, and what a dead run left there."""
from __future__ import annotations

from pathlib import Path

from planctl.apply.emit import staging


def test_a_dead_runs_staging_folder_is_removed_by_the_next_run(tmp_path: Path):
    """An apply killed by an illegal instruction left .<target>.staging-*/candidate-*.so behind (the
    new user); the next run, holding the destination's lock, removes it."""
    destination = tmp_path / "out" / "plan" / "x86-64-avx2"
    left = destination.parent / ".x86-64-avx2.staging-dead1"
    left.mkdir(parents=True)
    (left / "candidate-batch-1.so").write_bytes(b"\0")
    other = destination.parent / ".x86-64-avx512.staging-alive"   # another target's run: not ours
    other.mkdir()
    with staging(destination) as folder:
        assert folder.is_dir() and not left.exists() and other.exists()
    assert not folder.exists()

