"""The store's tables and their migrations (``meta.schema_version``).

Schema 2 (this planctl):

- ``keys``: validity keys (planctl.tuning.keys.CacheKey): ``target`` and ``versions``, each with its
  digest, and the target's display name.
- ``devices``: where records were measured (keys.Device): ``device`` fingerprint and ``measurement``
  settings, each with its digest, and a ``label`` ("AMD EPYC (x86_64)").
- ``workloads``: TVM's workload JSON by structural hash, with a checksum.
- ``records``: one measured candidate each: ``key_id``, ``device_id``, ``workload_hash``, run times,
  trace, target, args_info, provenance, session, ``checksum`` (sha256 of the stored fields, device
  included), ``identity`` (what was measured where; unique), ``stored`` (when written here).
- ``sessions`` (one per search: key, device, budget, trials), ``imports`` (record files already
  loaded), ``quarantine`` (rows that failed their checksum).

Schema 1 keyed a record by one key of four components (target, device, versions, measurement), so a
record tuned on one CPU model was a miss on every other. :func:`migrate` turns a schema-1 file into
schema 2 in one transaction: each old key becomes a validity key (target, versions) plus a device
(device, measurement); each record keeps its fields and is re-sealed with the new checksum after its
old checksum is verified (a record that fails it goes to ``quarantine``); sessions keep their key.
A file written by a newer planctl is refused, never rewritten.
"""
from __future__ import annotations

import json
import sqlite3
import time

from planctl.errors import TuningError
from planctl.tuning.digest import canonical
from planctl.tuning.keys import COMPONENTS, DEVICE_COMPONENTS, CacheKey, Device, split_v1
from planctl.tuning.store.record import Record

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
  key_id TEXT PRIMARY KEY, target_name TEXT NOT NULL,
  target TEXT NOT NULL, target_digest TEXT NOT NULL,
  versions TEXT NOT NULL, versions_digest TEXT NOT NULL,
  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
  device_id TEXT PRIMARY KEY, label TEXT NOT NULL,
  device TEXT NOT NULL, device_digest TEXT NOT NULL,
  measurement TEXT NOT NULL, measurement_digest TEXT NOT NULL,
  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
  workload_hash TEXT PRIMARY KEY, workload TEXT NOT NULL, checksum TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE,
  key_id TEXT NOT NULL REFERENCES keys(key_id),
  device_id TEXT NOT NULL REFERENCES devices(device_id),
  workload_hash TEXT NOT NULL REFERENCES workloads(workload_hash),
  mean_s REAL NOT NULL, run_secs TEXT NOT NULL, trace TEXT NOT NULL, target TEXT NOT NULL,
  args_info TEXT NOT NULL, provenance TEXT NOT NULL, session TEXT NOT NULL, created REAL NOT NULL,
  checksum TEXT NOT NULL, stored REAL NOT NULL);
CREATE INDEX IF NOT EXISTS records_lookup ON records(workload_hash, key_id, mean_s);
CREATE INDEX IF NOT EXISTS records_session ON records(session);
CREATE TABLE IF NOT EXISTS sessions (
  session TEXT PRIMARY KEY, key_id TEXT NOT NULL, device_id TEXT NOT NULL, info TEXT NOT NULL,
  started REAL NOT NULL, finished REAL);
CREATE TABLE IF NOT EXISTS imports (
  digest TEXT PRIMARY KEY, source TEXT NOT NULL, records INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, reason TEXT NOT NULL, row TEXT NOT NULL, at REAL NOT NULL);
"""


def key_row(key: CacheKey) -> tuple:
    digests = key.digests()
    row = [key.key_id, key.target_name]
    for name in COMPONENTS:
        row += [canonical(getattr(key, name)), digests[name]]
    return (*row, time.time())


def device_row(device: Device) -> tuple:
    digests = device.digests()
    row = [device.device_id, device.label]
    for name in DEVICE_COMPONENTS:
        row += [canonical(getattr(device, name)), digests[name]]
    return (*row, time.time())


def version_of(conn: sqlite3.Connection) -> int | None:
    """The file's schema version; None for a new (empty) file."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "records" not in tables:
        return None
    row = conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone() if "meta" in tables else None
    return int(row[0]) if row else 1


def migrate(conn: sqlite3.Connection, path) -> int | None:
    """Create the tables of a new file, or bring an older one to SCHEMA_VERSION (one transaction).
    Returns the version migrated from (None when nothing was migrated). Raises TuningError for a
    file of a newer schema."""
    found = version_of(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise TuningError(f"{path}: tuning cache schema {found} is newer than this planctl's ({SCHEMA_VERSION})",
                          hint="upgrade planctl, or point --cache / $PLANCTL_CACHE at another cache")
    if found is None or found == SCHEMA_VERSION:
        conn.executescript(SCHEMA)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return None
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    for table in ("keys", "records", "sessions"):
        conn.execute(f"ALTER TABLE {table} RENAME TO {table}_v1")
    conn.execute("DROP INDEX IF EXISTS records_lookup")
    conn.execute("DROP INDEX IF EXISTS records_session")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    mapping = {}
    for key_id, name, target, device, versions, measurement in conn.execute(
            "SELECT key_id, target_name, target, device, versions, measurement FROM keys_v1").fetchall():
        key, dev = split_v1({"target": json.loads(target), "device": json.loads(device),
                             "versions": json.loads(versions), "measurement": json.loads(measurement),
                             "target_name": name})
        conn.execute("INSERT OR IGNORE INTO keys VALUES (?,?,?,?,?,?,?)", key_row(key))
        conn.execute("INSERT OR IGNORE INTO devices VALUES (?,?,?,?,?,?,?)", device_row(dev))
        mapping[key_id] = (key.key_id, dev.device_id)
    columns = ("id", "key_id", "workload_hash", "mean_s", "run_secs", "trace", "target", "args_info", "provenance",
               "session", "created", "checksum", "stored")
    for row in conn.execute(f"SELECT {', '.join(columns)} FROM records_v1").fetchall():
        old = dict(zip(columns, row))
        rec = Record(old["key_id"], "", old["workload_hash"], old["run_secs"], old["trace"], old["target"],
                     old["args_info"], old["provenance"], old["session"], old["created"], old["checksum"],
                     old["id"], old["mean_s"])
        if old["key_id"] not in mapping or rec.v1_checksum() != rec.checksum:
            conn.execute("INSERT INTO quarantine (kind, reason, row, at) VALUES (?,?,?,?)",
                         ("record", f"record {rec.id} (workload {rec.workload_hash}): checksum mismatch found while "
                          "migrating the cache to schema 2", json.dumps(old, default=str), time.time()))
            continue
        rec.key_id, rec.device_id = mapping[old["key_id"]]
        rec.checksum = rec.expected_checksum()
        conn.execute("INSERT OR IGNORE INTO records (id, identity, key_id, device_id, workload_hash, mean_s, run_secs,"
                     " trace, target, args_info, provenance, session, created, checksum, stored)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (rec.id, rec.identity(), rec.key_id, rec.device_id, rec.workload_hash, rec.mean_s, rec.run_secs,
                      rec.trace, rec.target, rec.args_info, rec.provenance, rec.session, rec.created, rec.checksum,
                      old["stored"]))
    for session, key_id, info, started, finished in conn.execute(
            "SELECT session, key_id, info, started, finished FROM sessions_v1").fetchall():
        new_key, device_id = mapping.get(key_id, (key_id, ""))
        conn.execute("INSERT OR IGNORE INTO sessions VALUES (?,?,?,?,?,?)",
                     (session, new_key, device_id, info, started, finished))
    for table in ("keys_v1", "records_v1", "sessions_v1"):
        conn.execute(f"DROP TABLE {table}")


MIGRATIONS = {1: _v1_to_v2}  # from version -> the function that brings it to version + 1
