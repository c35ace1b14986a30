"""The tuning cache on disk: one embedded SQLite database, ``<cache>/tuning.sqlite3``, and every SQL
statement planctl runs against it (the tables are in planctl.tuning.store.schema).

WAL journal and a busy timeout let two applies (and their search workers) write at once; every
write is one short transaction, so a search killed at its deadline leaves only whole records. A file
SQLite cannot read is moved aside and reported, and an empty cache starts in its place; an older
schema is migrated on open. No TVM here.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from planctl.errors import TuningError
from planctl.tuning.digest import canonical, checksum
from planctl.tuning.keys import CacheKey, Device
from planctl.tuning.store.record import FAILED_S, Record
from planctl.tuning.store.schema import device_row, key_row, migrate

DB_FILE = "tuning.sqlite3"
DEFAULT_CACHE = Path(".planctl") / "cache"
BUSY_TIMEOUT_S = 60.0
VALID = FAILED_S / 10  # a mean below this is a measured candidate, above it a failure mark
# (``stored``, when the row was written here, is left out: eviction by age uses it, the checksum not)
RECORD_COLUMNS = ("id", "key_id", "device_id", "workload_hash", "mean_s", "run_secs", "trace", "target",
                  "args_info", "provenance", "session", "created", "checksum")
ROW_BYTES = ("length(trace) + length(run_secs) + length(target) + length(args_info) + length(provenance)"
             " + 200")  # ~200 bytes of fixed columns and index entries per row
# rank of each record among those of its workload, validity key and device (times are comparable
# only on one device), best first
RANKED = ("SELECT id, ROW_NUMBER() OVER (PARTITION BY workload_hash, key_id, device_id ORDER BY mean_s, id) "
          f"AS rank, stored, {ROW_BYTES} AS bytes FROM records")


class MissingCacheError(TuningError):
    """A read-only cache command named a cache that does not exist (exit 2; nothing is created)."""


def resolve_cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``--cache`` if given, else ``$PLANCTL_CACHE``, else ``.planctl/cache`` under the cwd."""
    return Path(override or os.environ.get("PLANCTL_CACHE") or DEFAULT_CACHE)


def generation(cache_dir: Path) -> dict:
    """``{path, records, max_id, quarantined}`` of the cache under ``cache_dir`` (``state`` instead
    when it is absent or unreadable), read-only: nothing is created, migrated or changed."""
    path = Path(cache_dir).resolve() / DB_FILE
    found = {"path": str(path)}
    if not path.is_file():
        return {**found, "state": "absent"}
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            count, last = conn.execute("SELECT COUNT(*), MAX(id) FROM records").fetchone()
            quarantined = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {**found, "state": f"unreadable: {exc}"}
    return {**found, "records": count, "max_id": last, "quarantined": quarantined}


def _in(column: str, values) -> tuple[str, tuple]:
    values = tuple(values)
    return f"{column} IN ({','.join('?' * len(values))})", values


class Store:
    """The cache database. ``problems`` lists what integrity checks found since it was opened;
    ``migrated_from`` is the schema version this open migrated (None when none)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, problems: list[str] | None = None,
                 migrated_from: int | None = None):
        self.path = path
        self.conn = conn
        self.problems = problems if problems is not None else []
        self.migrated_from = migrated_from
        self._lock = threading.RLock()

    @classmethod
    def open(cls, cache_dir: Path, check: bool = True, create: bool = True, repair: bool = True) -> "Store":
        """Open (creating) the store under ``cache_dir``, migrating an older schema; with ``check``,
        a damaged file is moved aside (with ``repair=False``, for commands that only read, it raises
        TuningError instead). With ``create=False`` (read-only commands) a missing directory or
        database raises :class:`MissingCacheError` and nothing is created. A file of a newer schema
        raises TuningError."""
        cache_dir = Path(cache_dir)
        path = cache_dir / DB_FILE
        if not create and not path.is_file():
            what = "directory" if not cache_dir.is_dir() else "database"
            raise MissingCacheError(
                f"no tuning cache at {cache_dir} (the {what} does not exist)",
                hint="check --cache / $PLANCTL_CACHE; `planctl apply` creates the cache")
        cache_dir.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []
        with FileLock(str(cache_dir / ".open.lock"), timeout=BUSY_TIMEOUT_S):
            conn = None
            try:
                conn = _connect(path)
                if check:
                    _check_file(conn)
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                if not repair:
                    raise TuningError(f"{path}: unreadable database ({exc}); nothing was changed",
                                      hint="`planctl cache verify` moves it aside and starts an empty cache") from exc
                moved = _move_aside(path)
                problems.append(f"{path}: unreadable database ({exc}); moved to {moved.name}, "
                                "starting an empty cache")
                conn = _connect(path)
            try:
                migrated = migrate(conn, path)
            except BaseException:
                conn.close()
                raise
        store = cls(path, conn, problems, migrated)
        if migrated is not None:
            store.problems.extend(f"quarantined {r[0]}" for r in store.query(
                "SELECT reason FROM quarantine WHERE reason LIKE '%while migrating%' AND at >= ?", (time.time() - 60,)))
        return store

    @property
    def cache_dir(self) -> Path:
        return self.path.parent

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self):
        """One IMMEDIATE transaction (waits up to BUSY_TIMEOUT_S for another writer)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, args).fetchall()

    # keys and devices ------------------------------------------------------------------------
    def ensure_key(self, key: CacheKey) -> str:
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO keys VALUES (?,?,?,?,?,?,?)", key_row(key))
        return key.key_id

    def keys(self) -> dict[str, CacheKey]:
        rows = self.query("SELECT key_id, target_name, target, versions FROM keys")
        return {r[0]: CacheKey(json.loads(r[2]), json.loads(r[3]), target_name=r[1]) for r in rows}

    def ensure_device(self, device: Device) -> str:
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO devices VALUES (?,?,?,?,?,?,?)", device_row(device))
        return device.device_id

    def devices(self) -> dict[str, Device]:
        rows = self.query("SELECT device_id, device, measurement FROM devices")
        return {r[0]: Device(json.loads(r[1]), json.loads(r[2])) for r in rows}

    # workloads -------------------------------------------------------------------------------
    def put_workload(self, workload_hash: str, blob: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO workloads VALUES (?,?,?)",
                         (str(workload_hash), blob, checksum(str(workload_hash), blob)))

    def workload(self, workload_hash: str) -> str | None:
        """The workload blob (base64 of TVM's JSON), None when absent or quarantined."""
        rows = self.query("SELECT workload, checksum FROM workloads WHERE workload_hash=?", (workload_hash,))
        if not rows:
            return None
        blob, stored = rows[0]
        if checksum(workload_hash, blob) != stored:
            self.quarantine("workload", f"workload {workload_hash}: checksum mismatch",
                            {"workload_hash": workload_hash, "checksum": stored},
                            "DELETE FROM workloads WHERE workload_hash=?", (workload_hash,))
            return None
        return blob

    def workload_hashes(self) -> set[str]:
        return {r[0] for r in self.query("SELECT workload_hash FROM workloads")}

    # records: writing ------------------------------------------------------------------------
    def add(self, records: list[Record]) -> int:
        """Insert records (one transaction); returns how many were new (identity not yet stored)."""
        added = 0
        with self.write() as conn:
            for rec in records:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO records (identity, key_id, device_id, workload_hash, mean_s, run_secs,"
                    " trace, target, args_info, provenance, session, created, checksum, stored)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (rec.identity(), rec.key_id, rec.device_id, rec.workload_hash, rec.mean_s, rec.run_secs,
                     rec.trace, rec.target, rec.args_info, rec.provenance, rec.session, rec.created, rec.checksum,
                     time.time()))
                added += cur.rowcount
        return added

    # records: reading ------------------------------------------------------------------------
    def _records(self, where: str = "1", args=(), order: str = "mean_s, id", limit: int = -1) -> list[Record]:
        """Records matching ``where`` whose checksum holds; the others are quarantined, never returned."""
        rows = self.query(f"SELECT {', '.join(RECORD_COLUMNS)} FROM records WHERE {where} "
                          f"ORDER BY {order} LIMIT ?", (*args, limit))
        good = []
        for row in rows:
            rec = Record(**dict(zip(RECORD_COLUMNS, row)))
            if rec.checksum == _safe_checksum(rec):
                good.append(rec)
            else:
                self.quarantine("record", f"record {rec.id} (workload {rec.workload_hash}): checksum mismatch",
                                dict(zip(RECORD_COLUMNS, row)), "DELETE FROM records WHERE id=?", (rec.id,))
        return good

    def records(self, key_ids=None, device_ids=None, workloads=None, session: str | None = None) -> list[Record]:
        """Sound records, best first, optionally only of these keys, devices, workloads or session."""
        where, args = _filters(key_ids=key_ids, device_ids=device_ids, workloads=workloads, session=session)
        return self._records(where, args)

    def by_ids(self, ids: list[int]) -> list[Record]:
        where, args = _in("id", ids)
        return self._records(where, args)

    def find(self, prefix: str) -> list[Record]:
        """Records whose workload hash, key id or device id starts with ``prefix``, best first."""
        like = prefix + "%"
        return self._records("workload_hash LIKE ? OR key_id LIKE ? OR device_id LIKE ?", (like, like, like))

    def top_k(self, workload_hash: str, key_ids: list[str], k: int, device_ids: list[str] | None = None,
              prefer: str | None = None) -> list[Record]:
        """Best ``k`` valid records of a workload among ``key_ids`` (failed candidates skipped, like
        TVM), only measured on ``device_ids`` when given; records measured on ``prefer`` (a device
        id) come first, since run times are comparable only on one device."""
        where, args = _filters(key_ids=key_ids, device_ids=device_ids, workloads=[workload_hash])
        order, order_args = ("(device_id = ?) DESC, mean_s, id", (prefer,)) if prefer else ("mean_s, id", ())
        return self._records(f"{where} AND mean_s < ?", (*args, VALID, *order_args), order=order, limit=k)

    def serving_rows(self, key_ids: list[str]) -> list[dict]:
        """One row per record of ``key_ids`` (no checksum check: a census, not a lookup):
        ``workload_hash, key_id, device_id, identity, valid, mean_s``."""
        where, args = _filters(key_ids=key_ids)
        rows = self.query(f"SELECT workload_hash, key_id, device_id, identity, mean_s < ?, mean_s FROM records "
                          f"WHERE {where}", (VALID, *args))
        return [{"workload_hash": r[0], "key_id": r[1], "device_id": r[2], "identity": r[3], "valid": bool(r[4]),
                 "mean_s": r[5]} for r in rows]

    def count(self, key_ids=None, device_ids=None, workloads=None, session: str | None = None) -> int:
        where, args = _filters(key_ids=key_ids, device_ids=device_ids, workloads=workloads, session=session)
        return self.query(f"SELECT COUNT(*) FROM records WHERE {where}", args)[0][0]

    def session_counts(self, session: str) -> dict[str, int]:
        """{workload hash: records the session committed}."""
        return dict(self.query("SELECT workload_hash, COUNT(*) FROM records WHERE session=? "
                               "GROUP BY workload_hash", (session,)))

    def session_summary(self, session: str) -> dict[str, tuple[int, bool]]:
        """{workload hash: (records the session committed, whether any was a re-measurement)}."""
        rows = self.query("SELECT workload_hash, COUNT(*), MAX(provenance LIKE '%\"remeasured\"%') "
                          "FROM records WHERE session=? GROUP BY workload_hash", (session,))
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    def key_device_summary(self) -> list[dict]:
        """Per (validity key, device): records, valid records, workloads (for ``planctl cache ls``)."""
        rows = self.query("SELECT key_id, device_id, COUNT(*), SUM(mean_s < ?), COUNT(DISTINCT workload_hash) "
                          "FROM records GROUP BY key_id, device_id ORDER BY key_id, device_id", (VALID,))
        return [{"key_id": r[0], "device_id": r[1], "records": r[2], "valid": r[3] or 0, "workloads": r[4]}
                for r in rows]

    # sessions, imports, quarantine -----------------------------------------------------------
    def start_session(self, session: str, key_id: str, device_id: str, info: dict) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,NULL)",
                         (session, key_id, device_id, canonical(info), time.time()))

    def finish_session(self, session: str, info: dict) -> None:
        with self.write() as conn:
            conn.execute("UPDATE sessions SET info=?, finished=? WHERE session=?",
                         (canonical(info), time.time(), session))

    def stamp_session(self, session: str, extra: dict[str, dict]) -> None:
        """Merge ``extra[workload_hash]`` into the provenance of the session's records (e.g. the
        trials the task got), re-sealing each checksum."""
        records = self.records(session=session)  # read first: a quarantine writes itself
        with self.write() as conn:
            for rec in records:
                if rec.workload_hash not in extra:
                    continue
                rec.provenance = canonical({**rec.json("provenance"), **extra[rec.workload_hash]})
                conn.execute("UPDATE records SET provenance=?, checksum=? WHERE id=?",
                             (rec.provenance, rec.expected_checksum(), rec.id))

    def imported(self, file_digest: str) -> bool:
        return bool(self.query("SELECT 1 FROM imports WHERE digest=?", (file_digest,)))

    def note_import(self, file_digest: str, source: str, records: int) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO imports VALUES (?,?,?,?)",
                         (file_digest, source, records, time.time()))

    def quarantine(self, kind: str, reason: str, row: dict, delete_sql: str, delete_args) -> None:
        """Move a damaged row to ``quarantine`` (kept for inspection) and report it."""
        with self.write() as conn:
            conn.execute("INSERT INTO quarantine (kind, reason, row, at) VALUES (?,?,?,?)",
                         (kind, reason, json.dumps(row, default=str), time.time()))
            conn.execute(delete_sql, delete_args)
        self.problems.append(f"quarantined {reason}")

    def quarantined(self) -> int:
        return self.query("SELECT COUNT(*) FROM quarantine")[0][0]

    # eviction (the policy is planctl.tuning.eviction) ----------------------------------------
    def size_bytes(self) -> int:
        """Size of the database file's pages, in bytes."""
        return self.query("PRAGMA page_count")[0][0] * self.query("PRAGMA page_size")[0][0]

    def evict(self, keep: int, stored_before: float, max_bytes: int, dry_run: bool) -> tuple[int, int, int, int]:
        """Delete (unless ``dry_run``) records ranked beyond ``keep`` per workload, key and device,
        records stored before ``stored_before`` (unix seconds), then the worst until the payload
        fits ``max_bytes``, and workloads no record uses. Returns the four counts."""
        with self.write() as conn:
            beyond = _delete(conn, f"SELECT id FROM ({RANKED}) WHERE rank > ?", (keep,), dry_run)
            old = _delete(conn, "SELECT id FROM records WHERE stored < ?", (stored_before,), dry_run)
            over = _trim(conn, max_bytes, dry_run)
            workloads = 0 if dry_run else conn.execute(
                "DELETE FROM workloads WHERE workload_hash NOT IN (SELECT workload_hash FROM records)").rowcount
        if not dry_run:
            self.query("PRAGMA incremental_vacuum")
            if self.query("PRAGMA freelist_count")[0][0]:
                # free pages left: the file predates auto-vacuum (older planctl set it after WAL mode,
                # where SQLite ignores it); one full VACUUM returns the space and converts the file
                self.query("VACUUM")
        return beyond, old, over, workloads


def _filters(key_ids=None, device_ids=None, workloads=None, session: str | None = None) -> tuple[str, tuple]:
    where, args = ["1"], []
    for column, values in (("key_id", key_ids), ("device_id", device_ids), ("workload_hash", workloads)):
        if values is not None:
            clause, found = _in(column, values)
            where.append(clause)
            args += found
    if session is not None:
        where.append("session=?")
        args.append(session)
    return " AND ".join(where), tuple(args)


def _delete(conn, select: str, args, dry_run: bool) -> int:
    ids = [r[0] for r in conn.execute(select, args).fetchall()]
    if ids and not dry_run:
        conn.executemany("DELETE FROM records WHERE id=?", [(i,) for i in ids])
    return len(ids)


def _trim(conn, max_bytes: int, dry_run: bool) -> int:
    """Delete until the records' payload fits ``max_bytes``: worst-ranked rows first, each group's best last."""
    rows = conn.execute(f"SELECT id, bytes FROM ({RANKED}) ORDER BY rank = 1, rank DESC, stored, id").fetchall()
    total = sum(b for _, b in rows)
    doomed = []
    for row_id, size in rows:
        if total <= max_bytes:
            break
        doomed.append((row_id,))
        total -= size
    if doomed and not dry_run:
        conn.executemany("DELETE FROM records WHERE id=?", doomed)
    return len(doomed)


def _safe_checksum(rec: Record) -> str | None:
    try:
        return rec.expected_checksum()
    except (TypeError, ValueError):
        return None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    # incremental auto-vacuum lets prune give space back without an exclusive VACUUM; it takes
    # effect only on a new file and only when set before journal_mode=WAL (SQLite ignores it after)
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash may lose the last commit, never corrupt
    return conn


def _check_file(conn: sqlite3.Connection) -> None:
    """Raise sqlite3.DatabaseError when the file is not a sound planctl store."""
    result = conn.execute("PRAGMA quick_check").fetchall()
    if result != [("ok",)]:
        raise sqlite3.DatabaseError("quick_check: " + "; ".join(str(r[0]) for r in result[:3]))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "records" not in tables:
        raise sqlite3.DatabaseError("not a planctl tuning store (no records table)")


def _move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL/SHM files) to ``*.corrupt-<unix time>``."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.replace(Path(str(target) + suffix))
    return target
