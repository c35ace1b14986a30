"""Schema 3: records rank by their fastest timed repeat (``min_s``), not MetaSchedule's mean.

On a shared host, repeats that waited for a descheduled thread moved a record's mean 10x, and a
faster schedule lost to a slower one (planctl.tuning.store.record.min_of). The column is
renamed and each row's value recomputed from its stored ``run_secs``; the checksums do not cover it
(they seal ``run_secs``), so no record is re-sealed. One transaction (the caller's).

Revision ID: 0003
Revises: 0002
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from planctl.tuning.store.record import min_of

    op.drop_index("records_lookup", table_name="records")
    with op.batch_alter_table("records") as batch:   # SQLite rebuilds the table; PostgreSQL renames in place
        batch.alter_column("mean_s", new_column_name="min_s")
    op.create_index("records_lookup", "records", ["workload_hash", "key_id", "min_s"])
    conn = op.get_bind()
    records = sa.Table("records", sa.MetaData(), autoload_with=conn)
    rows = conn.execute(sa.select(records.c.id, records.c.run_secs)).all()
    for row_id, run_secs in rows:
        conn.execute(records.update().where(records.c.id == row_id).values(min_s=min_of(json.loads(run_secs))))


def downgrade() -> None:
    raise NotImplementedError("schema 3 ranks records by their fastest repeat; a planctl of schema 2 refuses this cache")
