"""Alembic's environment: always online, on the connection (and inside the transaction) that
planctl.tuning.store.schema.migrate opened, so a migration is all or nothing and concurrent openers
wait for it."""
from alembic import context

from planctl.tuning.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
