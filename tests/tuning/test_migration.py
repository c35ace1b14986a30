"""Schema 1 caches and format 1 record files (one key of target, device, versions and measurement)
still load: the cache is migrated in place, the records keep their fields, their validity key drops
the device, and the device becomes provenance."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from planctl.errors import TuningError
from planctl.tuning import records as files
from planctl.tuning.digest import canonical, checksum, digest
from planctl.tuning.keys import v1_key_id
from planctl.tuning.store import SCHEMA_VERSION, Store

# the tables planctl wrote before schema 2 (frozen copy: what a user's cache holds)
V1_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE keys (key_id TEXT PRIMARY KEY, target_name TEXT NOT NULL, target TEXT NOT NULL,
  target_digest TEXT NOT NULL, device TEXT NOT NULL, device_digest TEXT NOT NULL, versions TEXT NOT NULL,
  versions_digest TEXT NOT NULL, measurement TEXT NOT NULL, measurement_digest TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE workloads (workload_hash TEXT PRIMARY KEY, workload TEXT NOT NULL, checksum TEXT NOT NULL);
CREATE TABLE records (id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL,
  workload_hash TEXT NOT NULL, mean_s REAL NOT NULL, run_secs TEXT NOT NULL, trace TEXT NOT NULL,
  target TEXT NOT NULL, args_info TEXT NOT NULL, provenance TEXT NOT NULL, session TEXT NOT NULL,
  created REAL NOT NULL, checksum TEXT NOT NULL, stored REAL NOT NULL);
CREATE INDEX records_lookup ON records(workload_hash, key_id, mean_s);
CREATE INDEX records_session ON records(session);
CREATE TABLE sessions (session TEXT PRIMARY KEY, key_id TEXT NOT NULL, info TEXT NOT NULL, started REAL NOT NULL,
  finished REAL);
CREATE TABLE imports (digest TEXT PRIMARY KEY, source TEXT NOT NULL, records INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE quarantine (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, reason TEXT NOT NULL, row TEXT NOT NULL,
  at REAL NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def v1_key(kit, model: str) -> dict:
    key = {"target": kit.TARGET, "device": {**kit.DEVICE, "model": model}, "versions": kit.VERSIONS,
           "measurement": kit.MEASUREMENT, "target_name": "x86-64-avx2"}
    return {**key, "key_id": v1_key_id(key)}


def v1_row(key_id: str, workload: str, secs: float, n: int) -> tuple:
    fields = [key_id, workload, canonical([secs]), canonical([["GetSBlock", [], ["m", "main"], [f"b{n}"]]]),
              canonical({"kind": "llvm"}), canonical([]), canonical({"plan": "p", "n": n}), "s1", repr(float(n))]
    seal = checksum(*fields)
    identity = checksum(*fields[:6])
    return (n + 1, identity, key_id, workload, secs, *fields[2:8], float(n), seal, 0.0)


def make_v1_cache(cache: Path, kit) -> tuple[dict, dict]:
    cache.mkdir(parents=True)
    conn = sqlite3.connect(cache / "tuning.sqlite3")
    conn.executescript(V1_SCHEMA)
    amd, intel = v1_key(kit, "AMD EPYC"), v1_key(kit, "Intel Xeon")
    for key in (amd, intel):
        row = [key["key_id"], key["target_name"]]
        for name in ("target", "device", "versions", "measurement"):
            row += [canonical(key[name]), digest(key[name])]
        conn.execute("INSERT INTO keys VALUES (?,?,?,?,?,?,?,?,?,?,?)", (*row, 0.0))
    conn.execute("INSERT INTO workloads VALUES ('111', 'blob', ?)", (checksum("111", "blob"),))
    rows = [v1_row(amd["key_id"], "111", 1e-3, 0), v1_row(amd["key_id"], "111", 2e-3, 1),
            v1_row(intel["key_id"], "111", 3e-3, 2)]
    rows.append(v1_row(amd["key_id"], "111", 4e-3, 3)[:-2] + ("tampered", 0.0))
    conn.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("INSERT INTO sessions VALUES ('s1', ?, '{}', 0.0, 1.0)", (amd["key_id"],))
    conn.commit()
    conn.close()
    return amd, intel


def test_a_schema_1_cache_is_migrated_in_place(tmp_path: Path, kit):
    make_v1_cache(tmp_path / "cache", kit)
    store = Store.open(tmp_path / "cache")
    assert store.migrated_from == 1
    assert store.sql("SELECT value FROM meta WHERE name='schema_version'") == [(str(SCHEMA_VERSION),)]
    # one validity key (same target and versions), two devices (the CPU models that measured)
    assert list(store.keys()) == [kit.make_key().key_id]
    assert sorted(d.device["model"] for d in store.devices().values()) == ["AMD EPYC", "Intel Xeon"]
    kept = store.records()
    assert [r.min_s for r in kept] == [1e-3, 2e-3, 3e-3]  # every checksum holds under schema 2
    assert {r.json("provenance")["n"] for r in kept} == {0, 1, 2}
    assert any("checksum mismatch" in p and "migrating" in p for p in store.problems)
    assert store.quarantined() == 1
    session = store.sql("SELECT key_id, device_id FROM sessions")[0]
    assert session[0] == kit.make_key().key_id and session[1] in store.devices()
    store.close()
    again = Store.open(tmp_path / "cache")
    assert again.migrated_from is None and len(again.records()) == 3


def test_every_device_of_a_migrated_cache_serves_the_key(tmp_path: Path, kit):
    make_v1_cache(tmp_path / "cache", kit)
    store = Store.open(tmp_path / "cache")
    key = kit.make_key().key_id
    assert [r.min_s for r in store.top_k("111", [key], 5)] == [1e-3, 2e-3, 3e-3]
    intel = next(i for i, d in store.devices().items() if d.device["model"] == "Intel Xeon")
    assert store.top_k("111", [key], 1, prefer=intel)[0].min_s == 3e-3  # this device's record first


def test_a_schema_2_cache_ranks_its_records_by_their_fastest_repeat_after_migrating(cache_location: str, kit):
    """Schema 2 ranked by MetaSchedule's mean, so one repeat that waited for a descheduled thread
    made a faster schedule lose; schema 3 recomputes each row's fastest repeat from its sealed run_secs."""
    import sqlalchemy as sa

    key, device = kit.make_key(), kit.make_device()
    lucky_once = kit.make_record(key, "111", n=0, device=device)
    steady = kit.make_record(key, "111", n=1, device=device)
    outlier = type(lucky_once).new(lucky_once.key_id, device.device_id, "111", lucky_once.json("trace"),
                                   [0.099e-3, 4.44e-3, 0.10e-3, 0.092e-3, 0.092e-3], lucky_once.json("target"),
                                   lucky_once.json("args_info"), lucky_once.json("provenance"))
    steady = type(steady).new(steady.key_id, device.device_id, "111", steady.json("trace"), [0.2e-3] * 5,
                              steady.json("target"), steady.json("args_info"), steady.json("provenance"))
    store = Store.open(cache_location)
    store.ensure_key(key)
    store.ensure_device(device)
    store.put_workload("111", "blob")
    store.add([outlier, steady])
    with store.engine.begin() as conn:   # back to schema 2 as its planctl wrote it: the column held the mean
        conn.execute(sa.text("ALTER TABLE records RENAME COLUMN min_s TO mean_s"))
        conn.execute(sa.text("UPDATE records SET mean_s = :mean WHERE checksum = :c"),
                     {"mean": 0.9648e-3, "c": outlier.checksum})
        conn.execute(sa.text("UPDATE meta SET value = '2' WHERE name = 'schema_version'"))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0002'"))
    store.close()
    store = Store.open(cache_location)
    assert store.migrated_from == 2
    assert [r.checksum for r in store.top_k("111", [key.key_id], 2)] == [outlier.checksum, steady.checksum]
    assert store.top_k("111", [key.key_id], 1)[0].min_s == pytest.approx(0.092e-3)
    assert store.quarantined() == 0   # the seals cover run_secs, not the ranking column
    store.close()


def test_a_cache_of_a_newer_schema_is_refused_untouched(tmp_path: Path):
    Store.open(tmp_path / "cache").close()
    conn = sqlite3.connect(tmp_path / "cache" / "tuning.sqlite3")
    conn.execute("UPDATE meta SET value='99' WHERE name='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(TuningError, match="newer"):
        Store.open(tmp_path / "cache")


def test_format_1_record_lines_load_with_the_device_as_provenance(store, kit, tmp_path: Path):
    key = v1_key(kit, "AMD EPYC")
    line = {"key": {**key, "digests": {n: digest(key[n]) for n in ("target", "device", "versions", "measurement")}},
            "workload_hash": "111", "workload": "blob", "trace": [["GetSBlock", [], ["m", "main"], ["b0"]]],
            "run_secs": [1e-3], "target": kit.TARGET, "args_info": [], "created": 0.0, "provenance": {"plan": "p"}}
    line["checksum"] = files.line_checksum(line)
    path = tmp_path / "old.jsonl"
    bad = {**line, "key": {**line["key"], "key_id": "0" * 20}}
    bad["checksum"] = files.line_checksum(bad)
    path.write_text(canonical(line) + "\n" + canonical(bad) + "\n")
    result = files.import_jsonl(store, path)
    assert result.added == 1 and "do not hash" in result.problems[0]
    rec = store.records()[0]
    assert rec.key_id == kit.make_key().key_id
    assert store.devices()[rec.device_id].device["model"] == "AMD EPYC"
    out = tmp_path / "new.jsonl"
    files.export_jsonl(store, out, store.records())
    exported = json.loads(out.read_text())
    assert exported["format"] == 2 and exported["device"]["label"] == "AMD EPYC (x86_64, AVX2)"
    assert "device" not in exported["key"]
