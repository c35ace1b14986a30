"""Re-timing (``tune --refine``): a session that re-measures a workload's records on one device ranks
its times above that device's older ones, which another day measured (a shared host drifts: an
8 x 16 matmul record stored at 1.03 ms timed 1.39 ms the next day). On SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

from planctl.tuning import records as record_files
from planctl.tuning.census import classify
from planctl.tuning.scope import resolve
from planctl.tuning.store import Record, Store

DAY = 86400.0


def timed(kit, key, n: int, ms: float, session: str, created: float, source: str = "search",
          workload: str = "111") -> Record:
    """A record of trace ``n`` measured at ``ms`` by ``session`` at unix time ``created``."""
    trace = [["GetSBlock", [], ["matmul", "main"], [f"b{n}"]]]
    return Record.new(key.key_id, kit.make_device().device_id, workload, trace, [ms * 1e-3],
                      {**key.target, "keys": ["cpu"], "tag": ""}, [["TENSOR", "float32", [32, 128]]],
                      {"plan": "p", "source": source}, session=session, created=created)


def a_fast_day_then_a_refine(store: Store, kit, remeasured_ms: float = 1.4):
    """Day 1 stored traces 0 and 1 at 1.0 and 1.1 ms; day 2 re-timed trace 0 at ``remeasured_ms``
    and found trace 2 at 1.2 ms."""
    key = kit.make_key()
    store.ensure_key(key)
    store.ensure_device(kit.make_device())
    store.put_workload("111", "blob-of-111")
    t0 = 1.7e9
    store.add([timed(kit, key, 0, 1.0, "day1", t0), timed(kit, key, 1, 1.1, "day1", t0 + 1),
               timed(kit, key, 0, remeasured_ms, "day2", t0 + DAY, source="remeasured"),
               timed(kit, key, 2, 1.2, "day2", t0 + DAY + 1)])
    return key


def ms(records: list[Record]) -> list[float]:
    return [round(r.min_s * 1e3, 3) for r in records]


def test_a_later_retiming_ranks_its_session_above_older_times(store, kit):
    key = a_fast_day_then_a_refine(store, kit)
    assert ms(store.top_k("111", [key.key_id], 4)) == [1.2, 1.4, 1.0, 1.1]
    assert ms(store.top_k("111", [key.key_id], 1, prefer=kit.make_device().device_id)) == [1.2]
    assert ms(store.records(workloads=["111"])) == [1.2, 1.4, 1.0, 1.1]
    current = {round(r["min_s"] * 1e3, 3): r["current"] for r in store.serving_rows([key.key_id])}
    assert current == {1.0: False, 1.1: False, 1.4: True, 1.2: True}


def test_the_census_serves_the_retiming_sessions_best(store, kit):
    key = a_fast_day_then_a_refine(store, kit)
    scope = resolve(key, store.keys(), kit.make_device(), "serve", {}, store.devices())
    [source] = classify([("matmul", "111")], store.serving_rows([key.key_id]), scope, set())
    assert round(source.best_s * 1e3, 3) == 1.2


def test_the_old_record_keeps_serving_when_it_is_still_the_fastest_today(store, kit):
    key = a_fast_day_then_a_refine(store, kit, remeasured_ms=1.15)
    assert ms(store.top_k("111", [key.key_id], 1)) == [1.15]


def test_a_failed_retiming_supersedes_nothing(store, kit):
    key = a_fast_day_then_a_refine(store, kit, remeasured_ms=1e13)
    assert ms(store.top_k("111", [key.key_id], 3)) == [1.0, 1.1, 1.2]


def test_eviction_keeps_the_current_best_not_an_older_days_time(store, kit):
    key = a_fast_day_then_a_refine(store, kit)
    beyond, *_ = store.evict(keep=1, stored_before=0.0, max_bytes=10**9, dry_run=False)
    assert beyond == 3
    assert ms(store.records()) == [1.2]


def test_exported_records_carry_the_retiming_that_ranks_them(store, kit, tmp_path: Path):
    key = a_fast_day_then_a_refine(store, kit)
    path = tmp_path / "records.jsonl"
    assert record_files.export_jsonl(store, path, record_files.select(store, top_k=1)) == 2
    # a cache that still holds the fast day's records ranks the imported ones the same way
    other = Store.open(tmp_path / "other")
    other.ensure_key(key)
    other.ensure_device(kit.make_device())
    other.put_workload("111", "blob-of-111")
    other.add([r for r in store.records() if r.session == "day1"])
    parsed, _ = record_files.read_jsonl(path)
    other.add([p.record for p in parsed])
    assert ms(other.top_k("111", [key.key_id], 1)) == [1.2]
    other.close()
