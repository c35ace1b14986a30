"""One apply of a plan for a target per output root at a time, and no lock file left behind: a
refused or failed apply leaves nothing new under the output folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from planctl.apply import exclusive as ex
from planctl.errors import PlanctlError


def hold(folder: Path):
    return ex.exclusive(folder, ".p.t.lock", busy="busy", hint="wait")


def test_a_run_leaves_no_lock_file_and_removes_the_output_root_it_created(tmp_path):
    out = tmp_path / "out"
    with hold(out):
        assert (out / ".p.t.lock").is_file()
    assert not out.exists()


def test_a_failing_run_leaves_an_existing_output_root_as_it_was(tmp_path):
    out = tmp_path / "out"
    (out / "other").mkdir(parents=True)
    with pytest.raises(RuntimeError), hold(out):
        raise RuntimeError("lowering failed")
    assert sorted(p.name for p in out.iterdir()) == ["other"]


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    out = tmp_path / "out"
    with hold(out):
        with pytest.raises(PlanctlError, match="busy"), hold(out):
            pass
        assert (out / ".p.t.lock").is_file()   # the refused run does not remove the holder's file
    assert not out.exists()


@pytest.mark.skipif(ex.fcntl is None, reason="flock(2) only")
def test_a_lock_on_a_file_no_longer_at_the_path_does_not_count(tmp_path, monkeypatch):
    """A peer that opened the lock file before its holder removed it locks a file nobody else will
    open: the path's new file is locked instead."""
    path = tmp_path / ".p.t.lock"
    path.write_text("")
    stale = os.open(path, os.O_RDWR)
    path.unlink()   # the holder released: the stale descriptor still names the removed file
    real_open = os.open
    calls = []

    def open_once_stale(name, flags, mode=0o777):
        calls.append(name)
        return os.dup(stale) if len(calls) == 1 else real_open(name, flags, mode)
    monkeypatch.setattr(ex.os, "open", open_once_stale)
    fd = ex._acquire(path)
    assert fd is not None and len(calls) == 2 and ex._names(path, fd)
    os.close(fd)
    os.close(stale)
