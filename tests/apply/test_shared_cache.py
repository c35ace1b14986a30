"""Two applies of one workload at once, in two processes (two engineers, two CI runners), on one
shared PostgreSQL cache (a real server on loopback, tests/conftest.py): no record is lost, none is
stored twice, and only one search runs; the other apply is served by its records."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = [pytest.mark.tvm, pytest.mark.postgresql]
pytest.importorskip("tvm")


def test_two_applies_at_once_share_one_search(tiny_repo: Path, pg_url: str):
    from planctl.tuning.store import Store, resolve_cache

    runs = []
    for name in ("alice", "bob"):  # each from its own working folder: its own local logs
        cwd = tiny_repo / name
        cwd.mkdir()
        runs.append(subprocess.Popen(
            [sys.executable, "-m", "planctl", "apply", str(tiny_repo / "plans" / "tiny.yaml"), "--target",
             "x86-64-avx2", "--root", str(tiny_repo), "--out", str(cwd / "out"), "--cache", pg_url,
             "--repeats", "6"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "TVM_NUM_THREADS": "1"}))
    outputs = [run.communicate(timeout=1500)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    tunings = [json.loads((tiny_repo / name / "out" / "tiny-mlp" / "x86-64-avx2" / "report.json").read_text())
               ["builds"][0]["tuning"] for name in ("alice", "bob")]
    searched = [t for t in tunings if t["trials_spent"] > 0]
    served = [t for t in tunings if t["trials_spent"] == 0]
    assert len(searched) == 1 and len(served) == 1, [t["trials_spent"] for t in tunings]
    assert served[0]["tasks"][0]["source"] == "cache"  # the other apply's records, after waiting (or not)
    assert all(t["cache_dir"] == pg_url for t in tunings)  # the shared cache, password-free as given
    # when it came while the search ran, it says how long it waited for it (34 s on the shared VM)
    assert all("waited" in n for n in served[0]["notes"] if "search lock" in n)

    store = Store.open(pg_url)
    assert store.count() == searched[0]["trials_spent"]  # every record of the one search, none lost
    engine = sa.create_engine(resolve_cache(pg_url).url)
    with engine.connect() as conn:
        sessions = conn.execute(sa.text("SELECT COUNT(DISTINCT session) FROM records")).scalar()
        twice = conn.execute(sa.text("SELECT COUNT(*) FROM (SELECT workload_hash, trace FROM records "
                                     "GROUP BY workload_hash, trace HAVING COUNT(*) > 1) AS dup")).scalar()
    engine.dispose()
    assert sessions == 1 and twice == 0
    assert len(store.records()) == store.count()  # every checksum holds
    store.close()
