"""``planctl cache``: ls, show, verify, prune, export, import on a hand-filled store (no TVM)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from planctl.cli.main import main
from planctl.tuning.store import Store


@pytest.fixture
def cache(cache_location: str, kit) -> str:
    """A filled cache: a SQLite folder or a PostgreSQL database (the password in $PGPASSWORD)."""
    store = Store.open(cache_location)
    kit.fill(store, kit.make_key(), per_workload=3)
    store.close()
    return cache_location


def cli(cache: Path | str, *args: str) -> int:
    return main(["cache", "--cache", str(cache), *args])


def test_ls_and_show(cache: Path, capsys, kit):
    assert cli(cache, "ls", "--output", "json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["keys"][0]["records"] == 6 and listed["keys"][0]["target_name"] == "x86-64-avx2"
    assert cli(cache, "show", "111", "--output", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown) == 3 and shown[0]["provenance"]["plan"] == "p"
    assert cli(cache, "show", "nope") == 2


def test_verify_reports_and_quarantines_damage(cache: Path, capsys):
    assert cli(cache, "verify") == 0
    store = Store.open(cache)
    store.sql("UPDATE records SET run_secs='[1e-9]' WHERE id=1")
    store.close()
    assert cli(cache, "verify") == 1
    err = capsys.readouterr()
    assert "checksum mismatch" in err.out and "quarantined" in err.err
    assert cli(cache, "verify") == 0  # the damaged row is gone from use, kept in quarantine


def test_export_then_import_into_another_cache(cache: Path, tmp_path: Path, capsys):
    out = tmp_path / "team.jsonl"
    assert cli(cache, "export", str(out)) == 0
    assert len(out.read_text().splitlines()) == 2  # best per workload
    other = tmp_path / "other"
    assert cli(other, "import", str(out)) == 0
    assert "2 new record(s)" in capsys.readouterr().err
    assert cli(other, "import", str(out)) == 0
    assert "0 new record(s)" in capsys.readouterr().err
    out.write_text(out.read_text().replace('"seed":0', '"seed":1', 1))
    assert cli(tmp_path / "third", "import", str(out)) == 1


def test_prune(cache: Path, capsys):
    assert cli(cache, "prune", "--keep", "1", "--output", "json") == 0
    assert json.loads(capsys.readouterr().out)["beyond_top_k"] == 4
    assert Store.open(cache).count() == 2


@pytest.mark.parametrize("args", [("--max-age-days", "0"), ("--max-age-days", "-1"), ("--max-age-days", "nan"),
                                  ("--max-bytes", "0"), ("--max-bytes", "-1"), ("--keep", "0")])
def test_prune_refuses_limits_that_would_delete_everything_or_nothing(cache: Path, capsys, args):
    assert cli(cache, "prune", *args) == 2
    assert Store.open(cache).count() == 6


def test_a_new_cache_gives_space_back_incrementally(tmp_path: Path):
    """auto_vacuum must be set before WAL mode, or SQLite ignores it and prune frees nothing."""
    store = Store.open(tmp_path / "cache")
    assert store.sql("PRAGMA auto_vacuum")[0][0] == 2  # INCREMENTAL


@pytest.mark.parametrize("args", [("ls",), ("show", "111"), ("verify",), ("prune", "--dry-run"),
                                  ("export", "out.jsonl")])
def test_read_only_commands_never_create_a_cache(tmp_path: Path, capsys, args):
    args = [str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
    assert cli(tmp_path / "typo" / "cache", *args) == 2
    assert "no tuning cache at" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists() and not (tmp_path / "out.jsonl").exists()
    (tmp_path / "empty").mkdir()  # a folder without a database: still nothing is created
    assert cli(tmp_path / "empty", *args) == 2
    assert "no tuning cache at" in capsys.readouterr().err
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("args", [("ls",), ("show", "111"), ("export", "out.jsonl")])
def test_reading_commands_report_a_damaged_file_and_leave_it(tmp_path: Path, capsys, args):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tuning.sqlite3").write_bytes(b"this is not a database" * 100)
    args = [str(tmp_path / a) if a.endswith(".jsonl") else a for a in args]
    assert cli(cache, *args) == 2
    assert "unreadable database" in capsys.readouterr().err
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == ["tuning.sqlite3"]
    assert cli(cache, "verify") in (0, 1)  # verify is the command that moves it aside
    assert any(p.name.startswith("tuning.sqlite3.corrupt") for p in cache.iterdir())


def test_importing_records_with_a_merge_conflict_says_so(tmp_path: Path, capsys, kit):
    """helper-40: import loaded the whole records and exited 1 without naming the conflict, as check does."""
    store = Store.open(tmp_path / "filled")
    kit.fill(store, kit.make_key(), per_workload=1)
    store.close()
    out = tmp_path / "team.jsonl"
    assert cli(tmp_path / "filled", "export", str(out)) == 0
    first, second = out.read_text().splitlines()
    out.write_text(f"<<<<<<< HEAD\n{first}\n=======\n{second}\n>>>>>>> theirs\n")
    assert cli(tmp_path / "fresh", "import", str(out)) == 1
    err = capsys.readouterr().err
    assert "3 line(s) of" in err and "(the 2 whole record(s) were): it holds a git merge conflict's markers" in err
    assert "keeping both sides' lines" in err
