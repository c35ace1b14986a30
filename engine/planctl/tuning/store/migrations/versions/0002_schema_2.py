"""Schema 2: a validity key (target, TVM versions) separate from the device that measured a record.

Each schema-1 key becomes a validity key plus a device; each record keeps its fields and is
re-sealed with the schema-2 checksum (device included) after its schema-1 checksum is verified: a
record that fails it goes to ``quarantine``. Sessions keep their key and gain the device. One
transaction (the caller's).

The checksums are planctl's own (planctl.tuning.store.record), so this revision imports them, and
the key split (planctl.tuning.keys.split_v1), rather than freezing a copy.

Revision ID: 0002
Revises: 0001
"""
import json
import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_COLUMNS = ("id", "key_id", "workload_hash", "mean_s", "run_secs", "trace", "target", "args_info", "provenance",
               "session", "created", "checksum", "stored")


def _v2_tables() -> None:
    row_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table("keys", sa.Column("key_id", sa.Text, primary_key=True),
                    *[sa.Column(name, sa.Text, nullable=False) for name in (
                        "target_name", "target", "target_digest", "versions", "versions_digest")],
                    sa.Column("created", sa.Double, nullable=False))
    op.create_table("devices", sa.Column("device_id", sa.Text, primary_key=True),
                    *[sa.Column(name, sa.Text, nullable=False) for name in (
                        "label", "device", "device_digest", "measurement", "measurement_digest")],
                    sa.Column("created", sa.Double, nullable=False))
    op.create_table("records", sa.Column("id", row_id, primary_key=True),
                    sa.Column("identity", sa.Text, nullable=False, unique=True),
                    *[sa.Column(name, sa.Text, nullable=False) for name in ("key_id", "device_id", "workload_hash")],
                    sa.Column("mean_s", sa.Double, nullable=False),
                    *[sa.Column(name, sa.Text, nullable=False) for name in (
                        "run_secs", "trace", "target", "args_info", "provenance", "session")],
                    sa.Column("created", sa.Double, nullable=False), sa.Column("checksum", sa.Text, nullable=False),
                    sa.Column("stored", sa.Double, nullable=False))
    op.create_index("records_lookup", "records", ["workload_hash", "key_id", "mean_s"])
    op.create_index("records_session", "records", ["session"])
    op.create_table("sessions", sa.Column("session", sa.Text, primary_key=True),
                    *[sa.Column(name, sa.Text, nullable=False) for name in ("key_id", "device_id", "info")],
                    sa.Column("started", sa.Double, nullable=False), sa.Column("finished", sa.Double))


def upgrade() -> None:
    from planctl.tuning.keys import split_v1
    from planctl.tuning.store.record import Record
    from planctl.tuning.store.tables import devices, keys, quarantine, sessions
    from planctl.tuning.store.rows import device_row, key_row

    conn = op.get_bind()
    op.drop_index("records_lookup", table_name="records")
    op.drop_index("records_session", table_name="records")
    for table in ("keys", "records", "sessions"):
        op.rename_table(table, f"{table}_v1")
    _v2_tables()
    records = sa.Table("records", sa.MetaData(), autoload_with=conn)   # schema 2's (mean_s), not today's
    old = sa.MetaData()
    keys_v1, records_v1, sessions_v1 = (sa.Table(f"{t}_v1", old, autoload_with=conn)
                                        for t in ("keys", "records", "sessions"))
    mapping = {}
    for row in conn.execute(sa.select(keys_v1)).mappings():
        key, dev = split_v1({"target": json.loads(row["target"]), "device": json.loads(row["device"]),
                             "versions": json.loads(row["versions"]), "measurement": json.loads(row["measurement"]),
                             "target_name": row["target_name"]})
        if not conn.execute(sa.select(keys.c.key_id).where(keys.c.key_id == key.key_id)).first():
            conn.execute(keys.insert().values(key_row(key)))
        if not conn.execute(sa.select(devices.c.device_id).where(devices.c.device_id == dev.device_id)).first():
            conn.execute(devices.insert().values(device_row(dev)))
        mapping[row["key_id"]] = (key.key_id, dev.device_id)
    for row in conn.execute(sa.select(*[records_v1.c[c] for c in OLD_COLUMNS])).mappings().all():
        found = dict(row)
        rec = Record(found["key_id"], "", found["workload_hash"], found["run_secs"], found["trace"], found["target"],
                     found["args_info"], found["provenance"], found["session"], found["created"], found["checksum"],
                     found["id"], found["mean_s"])
        if found["key_id"] not in mapping or rec.v1_checksum() != rec.checksum:
            conn.execute(quarantine.insert().values(
                kind="record", reason=f"record {rec.id} (workload {rec.workload_hash}): checksum mismatch found while "
                                      "migrating the cache to schema 2",
                row=json.dumps(found, default=str), at=time.time()))
            continue
        rec.key_id, rec.device_id = mapping[found["key_id"]]
        rec.checksum = rec.expected_checksum()
        conn.execute(records.insert().values(
            id=rec.id, identity=rec.identity(), key_id=rec.key_id, device_id=rec.device_id,
            workload_hash=rec.workload_hash, mean_s=rec.min_s, run_secs=rec.run_secs, trace=rec.trace,
            target=rec.target, args_info=rec.args_info, provenance=rec.provenance, session=rec.session,
            created=rec.created, checksum=rec.checksum, stored=found["stored"]))
    for row in conn.execute(sa.select(sessions_v1)).mappings():
        new_key, device_id = mapping.get(row["key_id"], (row["key_id"], ""))
        conn.execute(sessions.insert().values(session=row["session"], key_id=new_key, device_id=device_id,
                                              info=row["info"], started=row["started"], finished=row["finished"]))
    for table in ("keys_v1", "records_v1", "sessions_v1"):
        op.drop_table(table)


def downgrade() -> None:
    raise NotImplementedError("schema 2 keeps the device apart from the validity key; there is no way back to 1")
