"""The store's tables, defined once (SQLAlchemy Core) for SQLite and PostgreSQL.

Schema 3 (schema 2 with records ranked by their fastest timed repeat, ``min_s``, not the mean):

- ``keys``: validity keys (planctl.tuning.keys.CacheKey): ``target`` and ``versions``, each with its
  digest, and the target's display name.
- ``devices``: where records were measured (keys.Device): ``device`` fingerprint and ``measurement``
  settings, each with its digest, and a ``label`` ("AMD EPYC (x86_64, AVX2)").
- ``workloads``: TVM's workload JSON by structural hash, with a checksum.
- ``records``: one measured candidate each: ``key_id``, ``device_id``, ``workload_hash``, run times
  (``run_secs``, MetaSchedule's repeats, and ``min_s``, the fastest: what records rank by),
  trace, target, args_info, provenance, session, ``checksum`` (sha256 of the stored fields, device
  included), ``identity`` (what was measured where; unique), ``stored`` (when written here).
- ``sessions`` (one per search: key, device, budget, trials), ``imports`` (record files already
  loaded), ``quarantine`` (rows that failed their checksum), ``meta`` (``schema_version``).

No foreign keys are declared (schema 2 on SQLite declared them, and SQLite never enforced them):
integrity is the checksums' business, and quarantining a damaged workload must not delete or block
the records that name it (their tasks are searched again). Times are unix seconds (double
precision); JSON fields are stored as their canonical text, so a checksum is verified on the exact
stored bytes. Migrations between schema versions are Alembic revisions (``migrations/``).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Index, Integer, MetaData, Table, Text

SCHEMA_VERSION = 3

metadata = MetaData()
# a 64-bit id on PostgreSQL; on SQLite an INTEGER PRIMARY KEY (the rowid, as schema 1 and 2 had it)
RowId = BigInteger().with_variant(Integer(), "sqlite")

meta = Table("meta", metadata,
             Column("name", Text, primary_key=True),
             Column("value", Text, nullable=False))

keys = Table("keys", metadata,
             Column("key_id", Text, primary_key=True),
             Column("target_name", Text, nullable=False),
             Column("target", Text, nullable=False),
             Column("target_digest", Text, nullable=False),
             Column("versions", Text, nullable=False),
             Column("versions_digest", Text, nullable=False),
             Column("created", Double, nullable=False))

devices = Table("devices", metadata,
                Column("device_id", Text, primary_key=True),
                Column("label", Text, nullable=False),
                Column("device", Text, nullable=False),
                Column("device_digest", Text, nullable=False),
                Column("measurement", Text, nullable=False),
                Column("measurement_digest", Text, nullable=False),
                Column("created", Double, nullable=False))

workloads = Table("workloads", metadata,
                  Column("workload_hash", Text, primary_key=True),
                  Column("workload", Text, nullable=False),
                  Column("checksum", Text, nullable=False))

records = Table("records", metadata,
                Column("id", RowId, primary_key=True, autoincrement=True),
                Column("identity", Text, nullable=False, unique=True),
                Column("key_id", Text, nullable=False),
                Column("device_id", Text, nullable=False),
                Column("workload_hash", Text, nullable=False),
                Column("min_s", Double, nullable=False),
                Column("run_secs", Text, nullable=False),
                Column("trace", Text, nullable=False),
                Column("target", Text, nullable=False),
                Column("args_info", Text, nullable=False),
                Column("provenance", Text, nullable=False),
                Column("session", Text, nullable=False),
                Column("created", Double, nullable=False),
                Column("checksum", Text, nullable=False),
                Column("stored", Double, nullable=False))
Index("records_lookup", records.c.workload_hash, records.c.key_id, records.c.min_s)
Index("records_session", records.c.session)

sessions = Table("sessions", metadata,
                 Column("session", Text, primary_key=True),
                 Column("key_id", Text, nullable=False),
                 Column("device_id", Text, nullable=False),
                 Column("info", Text, nullable=False),
                 Column("started", Double, nullable=False),
                 Column("finished", Double))

imports = Table("imports", metadata,
                Column("digest", Text, primary_key=True),
                Column("source", Text, nullable=False),
                Column("records", Integer, nullable=False),
                Column("at", Double, nullable=False))

quarantine = Table("quarantine", metadata,
                   Column("id", RowId, primary_key=True, autoincrement=True),
                   Column("kind", Text, nullable=False),
                   Column("reason", Text, nullable=False),
                   Column("row", Text, nullable=False),
                   Column("at", Double, nullable=False))

# the columns a Record is read from (``stored``, when the row was written here, is left out: eviction
# by age uses it, the checksum does not)
RECORD_COLUMNS = ("id", "key_id", "device_id", "workload_hash", "min_s", "run_secs", "trace", "target",
                  "args_info", "provenance", "session", "created", "checksum")
