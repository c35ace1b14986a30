"""The store, on SQLite and on PostgreSQL: checksums, quarantine of damaged rows (and, on SQLite,
files), concurrent writers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from planctl.tuning.store import DB_FILE, Store


def test_records_come_back_best_first_with_their_provenance(store, kit):
    key = kit.make_key()
    kit.fill(store, key)
    best = store.top_k("111", [key.key_id], 2)
    assert [r.min_s for r in best] == [1e-3, 2e-3]
    assert best[0].json("provenance")["plan"] == "p"
    assert store.key_device_summary() == [{"key_id": key.key_id, "device_id": kit.make_device().device_id,
                                           "records": 6, "valid": 6, "workloads": 2}]


def test_the_same_record_imported_twice_is_stored_once(store, kit):
    key = kit.make_key()
    kit.fill(store, key)
    assert store.add([kit.make_record(key, "111", secs=1e-3, n=0)]) == 0
    assert store.count() == 6


def test_failed_candidates_mark_a_workload_searched_but_are_never_served(store, kit):
    key = kit.make_key()
    store.ensure_key(key)
    store.add([kit.make_record(key, "333", secs=1e10)])
    assert store.top_k("333", [key.key_id], 1) == []
    assert [r["valid"] for r in store.serving_rows([key.key_id])] == [False]


def test_a_tampered_record_is_quarantined_reported_and_never_used(store, kit):
    key = kit.make_key()
    kit.fill(store, key)
    store.sql("UPDATE records SET run_secs='[0.0000001]' WHERE min_s=0.002 AND workload_hash='111'")
    store.sql("UPDATE records SET trace=substr(trace, 1, 10) WHERE min_s=0.003 AND workload_hash='111'")
    served = store.top_k("111", [key.key_id], 5)
    assert [r.min_s for r in served] == [1e-3]
    assert len(store.problems) == 2 and all("checksum mismatch" in p for p in store.problems)
    assert store.sql("SELECT COUNT(*) FROM quarantine")[0][0] == 2
    assert store.count(workloads=["111"]) == 1


def test_a_tampered_workload_is_quarantined(store, kit):
    kit.fill(store, kit.make_key())
    store.sql("UPDATE workloads SET workload='evil' WHERE workload_hash='111'")
    assert store.workload("111") is None
    assert store.workload("222") == "blob-of-222"
    assert "workload 111" in store.problems[0]


def test_a_corrupted_database_file_is_moved_aside_and_a_fresh_one_used(tmp_path: Path, kit):
    cache = tmp_path / "cache"
    store = Store.open(cache)
    kit.fill(store, kit.make_key(), per_workload=50)
    store.sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = cache / DB_FILE
    data = bytearray(path.read_bytes())
    data[100:4096 * 3] = b"\x00garbage" * ((4096 * 3 - 100) // 8) + b"\x00" * ((4096 * 3 - 100) % 8)
    path.write_bytes(bytes(data))
    reopened = Store.open(cache)
    assert reopened.problems and "moved to" in reopened.problems[0]
    assert list(cache.glob(f"{DB_FILE}.corrupt-*"))
    assert reopened.count() == 0
    kit.fill(reopened, kit.make_key())
    assert reopened.count() == 6


def test_a_truncated_database_file_is_detected(tmp_path: Path, kit):
    cache = tmp_path / "cache"
    store = Store.open(cache)
    kit.fill(store, kit.make_key(), workloads=[str(i) for i in range(40)], per_workload=20)
    store.sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = cache / DB_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    reopened = Store.open(cache)
    assert reopened.problems and "unreadable database" in reopened.problems[0]
    assert reopened.count() == 0


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from conftest import make_device, make_key, make_record
from planctl.tuning.store import Store
store = Store.open({cache!r}, check=False)
key = make_key()
store.ensure_key(key)
store.ensure_device(make_device())
for i in range(150):
    store.put_workload(f"w{{i % 7}}", "blob")
    store.add([make_record(key, f"w{{i % 7}}", secs=1e-3 * (i + 1) + {offset}, n=i, writer={name!r})])
"""


def test_two_processes_writing_at_once_lose_nothing(cache_location: str, kit):
    cache = cache_location
    Store.open(cache).close()
    tests = str(Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER.format(tests=tests, cache=str(cache), name=name, offset=offset)])
             for name, offset in (("a", 0.0), ("b", 1e-7))]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = Store.open(cache)
    assert store.problems == []
    assert store.count() == 300
    assert len(store.records()) == 300  # every checksum holds
