"""What differs between the two databases, kept to this module: connecting, checking a file,
measuring and returning space, and the lock that lets one search run per workload.

SQLite (one file, WAL journal, busy timeout): every write is one ``BEGIN IMMEDIATE`` transaction
(SQLAlchemy's documented pysqlite recipe: the driver's own transaction handling is switched off and
the ``begin`` event emits BEGIN), so two applies and their search workers write at once and a
search killed at its deadline leaves only whole records.

PostgreSQL (psycopg 3): READ COMMITTED transactions, ``INSERT ... ON CONFLICT DO NOTHING`` for rows
that two writers may add at once, ``pg_advisory_lock`` for the search lock.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from planctl.tuning.store.location import CacheLocation, redact_text
from planctl.tuning.store.tables import metadata

BUSY_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10


def create_engine(location: CacheLocation) -> sa.Engine:
    if location.is_postgresql:
        return sa.create_engine(location.url, pool_pre_ping=True, pool_size=2, max_overflow=8,
                                connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "planctl"})
    engine = sa.create_engine(location.url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below decides (pysqlite recipe)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    # incremental auto-vacuum lets prune give space back without an exclusive VACUUM; it takes
    # effect only on a new file and only when set before journal_mode=WAL (SQLite ignores it after)
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash may lose the last commit, never corrupt
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # a write takes the database's write lock up front (waiting up to the busy timeout), so it
    # never fails half-way on a lock upgrade; a read begins deferred and never waits for a writer
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("planctl_write") else "BEGIN")


def check_sqlite(conn: sa.Connection) -> None:
    """Raise sqlalchemy.exc.DatabaseError when the file is not a sound planctl store."""
    result = conn.exec_driver_sql("PRAGMA quick_check").fetchall()
    if result != [("ok",)]:
        raise sa.exc.DatabaseError("quick_check: " + "; ".join(str(r[0]) for r in result[:3]), None, Exception())
    tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "records" not in tables:
        raise sa.exc.DatabaseError("not a planctl tuning store (no records table)", None, Exception())


def move_aside(path: Path) -> Path:
    """Rename a damaged SQLite database (and its WAL/SHM files) to ``*.corrupt-<time>``."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.replace(Path(str(target) + suffix))
    return target


def size_bytes(conn: sa.Connection) -> int:
    """Bytes the store takes: the SQLite file's pages, or PostgreSQL's tables with their indexes
    and TOAST (``pg_total_relation_size``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import REGCLASS

        return int(sum(conn.scalar(sa.select(sa.func.pg_total_relation_size(sa.cast(sa.literal(t.name), REGCLASS))))
                       for t in metadata.sorted_tables))
    return conn.exec_driver_sql("PRAGMA page_count").scalar() * conn.exec_driver_sql("PRAGMA page_size").scalar()


def reclaim(engine: sa.Engine) -> None:
    """Give deleted rows' space back. SQLite: incremental vacuum (a full VACUUM once for a file
    made without auto-vacuum, by older planctl). PostgreSQL: autovacuum makes dead rows' space
    reusable by later inserts; nothing to do here (VACUUM FULL would lock the team out)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # the driver's connection, autocommit: VACUUM refuses a transaction
    try:
        cursor = raw.driver_connection.cursor()
        cursor.execute("PRAGMA incremental_vacuum").fetchall()
        if cursor.execute("PRAGMA freelist_count").fetchone()[0]:
            # free pages left: the file predates auto-vacuum (older planctl set it after WAL mode,
            # where SQLite ignores it); one full VACUUM returns the space and converts the file
            cursor.execute("VACUUM")
        cursor.close()
    finally:
        raw.close()


def describe_error(exc: BaseException, location: CacheLocation) -> str:
    """The driver's message of a database error (no SQL, no parameters), password masked."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    return redact_text(text, location)


# search locks ----------------------------------------------------------------------------------
def lock_key(name: str) -> int:
    """A signed 64-bit integer for ``pg_advisory_lock`` from a lock name (first 8 bytes of sha256)."""
    return int.from_bytes(hashlib.sha256(f"planctl-search:{name}".encode()).digest()[:8], "big", signed=True)


class SearchLocks:
    """Exclusive locks by name, held by this process until :meth:`release`: PostgreSQL
    session-level advisory locks on one dedicated connection, or, on SQLite, ``filelock`` files in
    ``<cache>/locks/``. Both are released by the server or the kernel when the holder dies, so a
    killed apply never leaves a stale lock behind (a claim row in a table would)."""

    def __init__(self, engine: sa.Engine, local_dir: Path):
        self.engine = engine
        self.local_dir = local_dir
        self._conn: sa.Connection | None = None
        self._files: dict[str, object] = {}
        self._held: list[str] = []

    def try_acquire(self, name: str) -> bool:
        """Take the lock ``name`` if free; True when this process holds it now."""
        if name in self._held:
            return True
        if self.engine.dialect.name == "postgresql":
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(self._conn.scalar(sa.select(sa.func.pg_try_advisory_lock(lock_key(name)))))
        else:
            from filelock import FileLock, Timeout

            folder = self.local_dir / "locks"
            folder.mkdir(parents=True, exist_ok=True)
            lock = self._files.setdefault(name, FileLock(str(folder / f"{lock_key(name) & (2**64 - 1):016x}.lock"),
                                                          thread_local=False))
            try:
                lock.acquire(timeout=0)
                got = True
            except Timeout:
                got = False
        if got:
            self._held.append(name)
        return got

    @property
    def held(self) -> list[str]:
        return list(self._held)

    def release(self) -> None:
        """Release every lock this object holds (idempotent)."""
        if self._conn is not None:
            try:
                self._conn.scalar(sa.select(sa.func.pg_advisory_unlock_all()))
            finally:
                self._conn.close()
                self._conn = None
        for lock in self._files.values():
            while lock.is_locked:
                lock.release()
        self._held.clear()

