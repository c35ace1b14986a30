"""The store's schema version and its migrations (Alembic revisions under ``migrations/versions``).

``meta.schema_version`` is the version a user sees (and what planctl before Alembic read: a cache
of a newer schema is refused, never rewritten); Alembic's ``alembic_version`` row names the
revision. A new database gets the tables of :mod:`planctl.tuning.store.tables` and is stamped at
the head revision (Alembic's "building an up to date database from scratch"); a database of an
older schema is brought to the head, stamped first when it predates Alembic (schema 1 and 2
SQLite files written by earlier planctl). Everything runs inside the caller's transaction, so a
migration is all or nothing; on PostgreSQL a transaction-scoped advisory lock makes concurrent
openers wait for the first one's migration (on SQLite the open file lock and BEGIN IMMEDIATE do).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

from planctl.errors import TuningError
from planctl.tuning.store.tables import SCHEMA_VERSION, meta, metadata

REVISIONS = {1: "0001", 2: "0002", 3: "0003"}  # schema version -> the Alembic revision that produces it
HEAD = REVISIONS[SCHEMA_VERSION]
MIGRATION_LOCK = 0x706C616E63746C00  # "planctl\0": pg_advisory_xact_lock key of a migration


def version_of(conn: sa.Connection) -> int | None:
    """The database's schema version; None for a new (empty) one."""
    names = set(sa.inspect(conn).get_table_names())
    if "records" not in names:
        return None
    row = conn.execute(sa.select(meta.c.value).where(meta.c.name == "schema_version")).first() \
        if "meta" in names else None
    return int(row[0]) if row else 1


def revision_of(conn: sa.Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


@lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(_config(None)).walk_revisions())


def _config(conn: sa.Connection | None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    return config


def migrate(conn: sa.Connection, where: str) -> int | None:
    """Create the tables of a new database, or bring an older one to SCHEMA_VERSION, inside the
    transaction ``conn`` is in. Returns the version migrated from (None when nothing was migrated).
    Raises TuningError for a database of a newer schema or an unknown revision."""
    from alembic import command

    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
    found, revision = version_of(conn), revision_of(conn)
    if (found is not None and found > SCHEMA_VERSION) or (revision is not None and revision not in _known_revisions()):
        what = f"schema {found}" if found and found > SCHEMA_VERSION else f"schema revision {revision}"
        raise TuningError(f"{where}: tuning cache {what} is newer than this planctl's (schema {SCHEMA_VERSION})",
                          hint="upgrade planctl, or point --cache / $PLANCTL_CACHE at another cache")
    config = _config(conn)
    if found is None:
        metadata.create_all(conn)
        _set_version(conn)
        command.stamp(config, HEAD)
        return None
    if revision is None:
        command.stamp(config, REVISIONS[found])
    if found == SCHEMA_VERSION and revision in (None, HEAD):
        return None
    command.upgrade(config, HEAD)
    _set_version(conn)
    return found


def _set_version(conn: sa.Connection) -> None:
    conn.execute(meta.delete().where(meta.c.name == "schema_version"))
    conn.execute(meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
