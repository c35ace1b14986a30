"""Eviction: best k per workload and key, age, size cap; failures marks survive where alone."""
from __future__ import annotations

import time

from planctl.tuning.eviction import prune


def test_keeps_the_best_k_per_workload_key_and_device(store, kit):
    me, elsewhere = kit.make_device(), kit.make_device(device={"model": "other"})
    kit.fill(store, kit.make_key(), per_workload=5, device=me)
    kit.fill(store, kit.make_key(), per_workload=5, device=elsewhere)
    result = prune(store, keep=2)
    assert result.beyond_top_k == 12
    for device in (me, elsewhere):
        assert [r.min_s for r in store.top_k("111", [kit.make_key().key_id], 9, device_ids=[device.device_id])] \
            == [1e-3, 2e-3]


def test_dry_run_deletes_nothing(store, kit):
    kit.fill(store, kit.make_key(), per_workload=5)
    assert prune(store, keep=1, dry_run=True).beyond_top_k == 8
    assert store.count() == 10


def test_old_records_go(store, kit):
    kit.fill(store, kit.make_key())
    store.sql("UPDATE records SET stored=:t WHERE workload_hash='111'", t=time.time() - 400 * 86400)
    assert prune(store, max_age_days=365).too_old == 3
    assert store.count() == 3 and store.workload("111") is None


def test_size_cap_removes_worse_records_before_the_best(store, kit):
    kit.fill(store, kit.make_key(), per_workload=5)
    result = prune(store, max_bytes=2 * 600)
    left = store.records()
    assert result.over_size == 10 - len(left) and len(left) >= 2
    assert 5e-3 not in {r.min_s for r in left}
    assert all(store.top_k(w, [left[0].key_id], 1)[0].min_s == 1e-3 for w in ("111", "222"))


def test_a_workload_whose_candidates_all_failed_keeps_a_failure_mark(store, kit):
    key = kit.make_key()
    store.ensure_key(key)
    store.add([kit.make_record(key, "999", secs=1e10, n=i) for i in range(4)])
    prune(store, keep=1)
    assert store.count(workloads=["999"]) == 1


def test_old_search_log_folders_go(store):
    import os

    logs = store.cache_dir / "logs"
    (logs / "old-session").mkdir(parents=True)
    (logs / "new-session").mkdir()
    (logs / "search.log").write_text("kept: a file, not a search folder\n")
    past = time.time() - 400 * 86400
    os.utime(logs / "old-session", (past, past))
    assert prune(store, max_age_days=365, dry_run=True).log_dirs == 1 and (logs / "old-session").exists()
    assert prune(store, max_age_days=365).log_dirs == 1
    assert sorted(p.name for p in logs.iterdir()) == ["new-session", "search.log"]


def test_prune_converts_a_cache_made_without_auto_vacuum_and_gives_space_back(tmp_path, kit):
    import sqlite3

    from planctl.tuning.store import Store

    (tmp_path / "cache").mkdir()
    old = sqlite3.connect(str(tmp_path / "cache" / "tuning.sqlite3"))
    old.execute("PRAGMA auto_vacuum=NONE")  # what older planctl got: it set auto_vacuum after WAL mode
    old.execute("CREATE TABLE legacy(x)")
    old.execute("INSERT INTO legacy VALUES (1)")
    old.commit()
    old.close()
    store = Store.open(tmp_path / "cache")
    kit.fill(store, kit.make_key(), per_workload=200)
    result = prune(store, keep=1)
    assert result.beyond_top_k > 0 and result.bytes_after < result.bytes_before
    assert store.sql("PRAGMA auto_vacuum")[0][0] == 2
