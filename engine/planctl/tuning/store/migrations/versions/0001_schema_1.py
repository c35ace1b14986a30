"""Schema 1: one key of four components (target, device, versions, measurement) per record.

A frozen copy of the tables planctl wrote before schema 2 (what older SQLite caches hold); such a
cache, which has no ``alembic_version`` table, is stamped with this revision before it is upgraded.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("meta", sa.Column("name", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False))
    op.create_table("keys", sa.Column("key_id", sa.Text, primary_key=True),
                    *[sa.Column(name, sa.Text, nullable=False) for name in (
                        "target_name", "target", "target_digest", "device", "device_digest", "versions",
                        "versions_digest", "measurement", "measurement_digest")],
                    sa.Column("created", sa.Double, nullable=False))
    op.create_table("workloads", sa.Column("workload_hash", sa.Text, primary_key=True),
                    sa.Column("workload", sa.Text, nullable=False), sa.Column("checksum", sa.Text, nullable=False))
    op.create_table("records", sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
                    sa.Column("identity", sa.Text, nullable=False, unique=True),
                    sa.Column("key_id", sa.Text, nullable=False), sa.Column("workload_hash", sa.Text, nullable=False),
                    sa.Column("mean_s", sa.Double, nullable=False),
                    *[sa.Column(name, sa.Text, nullable=False) for name in (
                        "run_secs", "trace", "target", "args_info", "provenance", "session")],
                    sa.Column("created", sa.Double, nullable=False), sa.Column("checksum", sa.Text, nullable=False),
                    sa.Column("stored", sa.Double, nullable=False))
    op.create_index("records_lookup", "records", ["workload_hash", "key_id", "mean_s"])
    op.create_index("records_session", "records", ["session"])
    op.create_table("sessions", sa.Column("session", sa.Text, primary_key=True),
                    sa.Column("key_id", sa.Text, nullable=False), sa.Column("info", sa.Text, nullable=False),
                    sa.Column("started", sa.Double, nullable=False), sa.Column("finished", sa.Double))
    op.create_table("imports", sa.Column("digest", sa.Text, primary_key=True),
                    sa.Column("source", sa.Text, nullable=False), sa.Column("records", sa.Integer, nullable=False),
                    sa.Column("at", sa.Double, nullable=False))
    op.create_table("quarantine", sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                            primary_key=True),
                    *[sa.Column(name, sa.Text, nullable=False) for name in ("kind", "reason", "row")],
                    sa.Column("at", sa.Double, nullable=False))


def downgrade() -> None:
    for table in ("quarantine", "imports", "sessions", "records", "workloads", "keys", "meta"):
        op.drop_table(table)
