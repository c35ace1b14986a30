"""The shared cache on a real PostgreSQL server (started by tests/conftest.py on loopback):
credentials and their redaction, ``planctl cache migrate --to``, the schema's migrations, and the
search lock across processes. The store's semantics on both databases are tested by the
parametrized tests of test_store, test_eviction, test_cache_cli, test_migration and test_records."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from planctl.cli.main import main
from planctl.errors import TuningError
from planctl.tuning.store import Store, resolve_cache

pytestmark = pytest.mark.postgresql


def with_password(url: str, password: str) -> str:
    return url.replace("planctl@", f"planctl:{password}@")


def test_a_password_on_the_command_line_is_refused_and_never_printed(pg_url, postgres, capsys, monkeypatch):
    monkeypatch.delenv("PGPASSWORD")
    secret_url = with_password(pg_url, postgres.password)
    assert main(["cache", "--cache", secret_url, "ls"]) == 2
    err = capsys.readouterr().err
    assert "a password on the command line" in err and postgres.password not in err and "***" in err
    with pytest.raises(TuningError, match="command line"):
        resolve_cache(secret_url)


def test_credentials_come_from_the_environment_and_are_masked_everywhere(pg_url, postgres, kit, capsys,
                                                                         monkeypatch, tmp_path: Path):
    # in $PLANCTL_CACHE (the environment, not the command line): accepted, and masked in the output
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PLANCTL_CACHE", with_password(pg_url, postgres.password))
    store = Store.open(None)
    kit.fill(store, kit.make_key())
    assert "***" in store.where and postgres.password not in store.where
    store.close()
    assert main(["cache", "ls", "--output", "json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["keys"][0]["records"] == 6
    assert postgres.password not in out.out + out.err
    # from libpq's password file ($PGPASSFILE), the URL carrying none
    monkeypatch.delenv("PLANCTL_CACHE")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres.port}:*:planctl:{postgres.password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert main(["cache", "--cache", pg_url, "verify"]) == 0
    # a wrong password: a clear error, the password it tried not in it
    monkeypatch.setenv("PLANCTL_CACHE", with_password(pg_url, "wrong-secret-42"))
    monkeypatch.delenv("PGPASSFILE")
    assert main(["cache", "ls"]) == 2
    err = capsys.readouterr().err
    assert "cannot use the tuning cache" in err and "password authentication failed" in err
    assert "wrong-secret-42" not in err


def test_a_missing_database_is_an_error_not_a_new_cache_for_reading_commands(pg_url, capsys):
    assert main(["cache", "--cache", pg_url, "ls"]) == 2
    assert "has no planctl tables" in capsys.readouterr().err
    engine = sa.create_engine(resolve_cache(pg_url).url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()


def test_cache_migrate_copies_a_sqlite_cache_of_schema_1_into_postgresql(pg_url, tmp_path: Path, kit, capsys):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_migration import make_v1_cache

    sqlite_cache = tmp_path / "laptop"
    make_v1_cache(sqlite_cache, kit)  # three sound records, one tampered
    assert main(["cache", "--cache", str(sqlite_cache), "migrate", "--to", pg_url, "--output", "json"]) == 1
    captured = capsys.readouterr()
    copied = json.loads(captured.out)
    assert copied["records"] == 3 and copied["records_read"] == 3 and copied["devices"] == 2
    assert "migrated" in captured.err and "quarantined" in captured.err  # schema 1 -> 2, the tampered row
    team = Store.open(pg_url)
    assert [r.min_s for r in team.records()] == [1e-3, 2e-3, 3e-3]  # checksums hold in PostgreSQL
    assert team.quarantined() == 1  # the quarantine travels too: evidence of what was dropped
    laptop = Store.open(sqlite_cache)
    assert {r.identity() for r in team.records()} == {r.identity() for r in laptop.records()}
    assert team.devices() == laptop.devices() and team.keys() == laptop.keys()
    team.close()
    laptop.close()
    # a second run copies nothing new and duplicates nothing
    assert main(["cache", "--cache", str(sqlite_cache), "migrate", "--to", pg_url, "--output", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["records"] == 0 and again["quarantine"] == 0
    assert Store.open(pg_url).count() == 3


def test_the_migration_chain_builds_the_tables_the_code_defines(pg_url, tmp_path: Path):
    """Upgrading an empty database through every Alembic revision (schema 1, then 2) gives exactly
    the tables of planctl.tuning.store.tables, on both databases: the revisions and the one
    definition agree."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from planctl.tuning.store.schema import _config
    from planctl.tuning.store.tables import metadata

    for url in (resolve_cache(pg_url).url, f"sqlite:///{tmp_path / 'chain.sqlite3'}"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        engine.dispose()
        assert [d for d in diff if d[0] != "remove_table" or d[1].name != "alembic_version"] == [], url


def test_a_database_of_a_newer_schema_is_refused_untouched(pg_url):
    Store.open(pg_url).close()
    engine = sa.create_engine(resolve_cache(pg_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num='9999'"))
    engine.dispose()
    with pytest.raises(TuningError, match="newer"):
        Store.open(pg_url)


HOLDER = """
import sys, time
from planctl.tuning.store import Store
locks = Store.open(sys.argv[1]).search_locks()
assert locks.try_acquire("key:111")
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_search_lock_excludes_other_processes_and_dies_with_its_holder(backend, request, tmp_path: Path):
    """What keeps a second apply from searching a workload the first is searching: the lock is
    exclusive across processes, and the database (or the kernel, for SQLite's lock file) frees it
    when the holder is killed, so a crashed apply never blocks the team."""
    cache = str(tmp_path / "cache") if backend == "sqlite" else request.getfixturevalue("pg_url")
    Store.open(cache).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, cache], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ))
    try:
        assert holder.stdout.readline().strip() == "held"
        store = Store.open(cache)
        locks = store.search_locks()
        assert not locks.try_acquire("key:111")
        assert locks.try_acquire("key:222")  # another workload: free
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not locks.try_acquire("key:111"):
            assert time.monotonic() < deadline, "the killed holder's lock was never freed"
            time.sleep(0.2)
        locks.release()
        again = store.search_locks()
        assert again.try_acquire("key:111") and again.try_acquire("key:222")
        again.release()
        store.close()
    finally:
        holder.kill()
        holder.wait()


def test_claim_waits_for_the_holder_then_takes_every_lock(tmp_path: Path, monkeypatch):
    """planctl.tuning.search.claim: the second claimant waits (announcing it once) and gets the
    locks when the first releases them; past its wait it reports the tasks it could not claim."""
    import threading

    from planctl.tuning.budget import Budget
    from planctl.tuning.search import claim

    store = Store.open(tmp_path / "cache")
    first, second = store.search_locks(), store.search_locks()
    tasks = {"matmul": "111", "relu": "222"}
    assert claim(first, "key", tasks, Budget(trials=1, wall_clock_s=1, trials_per_task=1)) == (0.0, set())
    heard: list[list[str]] = []
    threading.Timer(1.0, first.release).start()
    waited, refused = claim(second, "key", tasks, Budget(trials=1, wall_clock_s=1, trials_per_task=1), announce=heard.append,
                            poll_s=0.1)
    assert waited >= 0.9 and refused == set() and len(heard) == 1 and "waiting" in heard[0][0]
    second.release()
    assert first.try_acquire("key:111")
    third = store.search_locks()
    monkeypatch.setattr("planctl.tuning.search.lock_wait_s", lambda budget: 0.3)
    waited, refused = claim(third, "key", tasks, Budget(trials=1, wall_clock_s=1, trials_per_task=1), poll_s=0.1)
    assert refused == {"matmul", "relu"}  # sorted order: stuck at the first, the second not taken either
    first.release()
    third.release()
