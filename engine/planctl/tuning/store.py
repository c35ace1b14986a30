"""The tuning cache on disk: one embedded SQLite database, ``<cache>/tuning.sqlite3``.

Tables (``SCHEMA``): ``keys`` (the key components of planctl.tuning.keys, each with its digest),
``workloads`` (TVM's workload JSON by structural hash), ``records`` (one measured candidate each, with
its key, run times, trace, provenance and checksum), ``sessions`` (one per search: plan, budget,
trials), ``imports`` (record files already loaded), ``quarantine`` (rows that failed their checksum).

WAL journal and a busy timeout let two applies (and their search workers) write at once; every
write is one short transaction, so a search killed at its deadline leaves only whole records. A file
SQLite cannot read is moved aside and reported, and an empty cache starts in its place. No TVM here.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from planctl.errors import TuningError
from planctl.tuning.digest import canonical, checksum
from planctl.tuning.keys import COMPONENTS, CacheKey

DB_FILE = "tuning.sqlite3"
DEFAULT_CACHE = Path(".planctl") / "cache"
SCHEMA_VERSION = 1
FAILED_S = 1e10  # MetaSchedule's run time for a candidate that failed to build or run
BUSY_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
  key_id TEXT PRIMARY KEY, target_name TEXT NOT NULL,
  target TEXT NOT NULL, target_digest TEXT NOT NULL,
  device TEXT NOT NULL, device_digest TEXT NOT NULL,
  versions TEXT NOT NULL, versions_digest TEXT NOT NULL,
  measurement TEXT NOT NULL, measurement_digest TEXT NOT NULL,
  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
  workload_hash TEXT PRIMARY KEY, workload TEXT NOT NULL, checksum TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE,
  key_id TEXT NOT NULL REFERENCES keys(key_id),
  workload_hash TEXT NOT NULL REFERENCES workloads(workload_hash),
  mean_s REAL NOT NULL, run_secs TEXT NOT NULL, trace TEXT NOT NULL, target TEXT NOT NULL,
  args_info TEXT NOT NULL, provenance TEXT NOT NULL, session TEXT NOT NULL, created REAL NOT NULL,
  checksum TEXT NOT NULL, stored REAL NOT NULL);
CREATE INDEX IF NOT EXISTS records_lookup ON records(workload_hash, key_id, mean_s);
CREATE INDEX IF NOT EXISTS records_session ON records(session);
CREATE TABLE IF NOT EXISTS sessions (
  session TEXT PRIMARY KEY, key_id TEXT NOT NULL, info TEXT NOT NULL, started REAL NOT NULL,
  finished REAL);
CREATE TABLE IF NOT EXISTS imports (
  digest TEXT PRIMARY KEY, source TEXT NOT NULL, records INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, reason TEXT NOT NULL, row TEXT NOT NULL, at REAL NOT NULL);
"""
# (``stored``, when the row was written here, is left out: eviction by age uses it, the checksum not)
RECORD_COLUMNS = ("id", "key_id", "workload_hash", "mean_s", "run_secs", "trace", "target", "args_info",
                  "provenance", "session", "created", "checksum")


class MissingCacheError(TuningError):
    """A read-only cache command named a cache that does not exist (exit 2; nothing is created)."""


def resolve_cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``--cache`` if given, else ``$PLANCTL_CACHE``, else ``.planctl/cache`` under the cwd."""
    return Path(override or os.environ.get("PLANCTL_CACHE") or DEFAULT_CACHE)


def mean_of(run_secs: list) -> float:
    """Mean run time in seconds; FAILED_S when there is none (MetaSchedule's failure mark)."""
    secs = [float(s) for s in run_secs or []]
    return sum(secs) / len(secs) if secs else FAILED_S


@dataclass
class Record:
    """One stored tuning record; JSON fields are kept as their stored text for the checksum."""

    key_id: str
    workload_hash: str
    run_secs: str
    trace: str
    target: str
    args_info: str
    provenance: str
    session: str = ""
    created: float = field(default_factory=time.time)
    checksum: str = ""
    id: int | None = None
    mean_s: float = FAILED_S

    @classmethod
    def new(cls, key_id, workload_hash, trace, run_secs, target, args_info, provenance,
            session: str = "", created: float | None = None) -> "Record":
        rec = cls(key_id, str(workload_hash), canonical([float(s) for s in run_secs or []]), canonical(trace),
                  canonical(target), canonical(args_info), canonical(provenance), session,
                  time.time() if created is None else created)
        rec.mean_s = mean_of(json.loads(rec.run_secs))
        rec.checksum = rec.expected_checksum()
        return rec

    def expected_checksum(self) -> str:
        return checksum(self.key_id, self.workload_hash, self.run_secs, self.trace, self.target,
                        self.args_info, self.provenance, self.session, repr(float(self.created)))

    def identity(self) -> str:
        """Content identity (what was measured, where): re-imports of one record collapse to one row."""
        return checksum(self.key_id, self.workload_hash, self.run_secs, self.trace, self.target, self.args_info)

    def json(self, name: str):
        return json.loads(getattr(self, name))

    @property
    def valid(self) -> bool:
        return self.mean_s < FAILED_S / 10


class Store:
    """The cache database. ``problems`` lists what integrity checks found since it was opened."""

    def __init__(self, path: Path, conn: sqlite3.Connection | None = None, problems: list[str] | None = None):
        self.binding = None
        if conn is None:
            # ``Store(path)`` with the path a run record keeps in ``tuning_stores`` (a binding file
            # that GovernedCache.bind wrote): for stages outside tuning/ that need ``database()``
            self.binding = json.loads(Path(path).read_text())
            opened = Store.open(Path(self.binding["cache"]), check=False)
            path, conn, problems = opened.path, opened.conn, opened.problems
        self.path = path
        self.conn = conn
        self.problems = problems if problems is not None else []
        self._lock = threading.RLock()

    def database(self):
        """The MetaSchedule database of the binding this store was opened from (imports TVM)."""
        from planctl.tuning.governed import GovernedCache

        if self.binding is None:
            raise ValueError("Store.database() needs a store opened from a binding file")
        return GovernedCache.from_binding(self, self.binding).database()

    @classmethod
    def open(cls, cache_dir: Path, check: bool = True, create: bool = True, repair: bool = True) -> "Store":
        """Open (creating) the store under ``cache_dir``; with ``check``, a damaged file is moved aside
        (with ``repair=False``, for commands that only read, it raises TuningError instead).
        With ``create=False`` (read-only commands) a missing directory or database raises
        :class:`MissingCacheError` and nothing is created."""
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
                    _check_file(conn, path)
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
            conn.executescript(SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return cls(path, conn, problems)

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

    # keys ------------------------------------------------------------------------------------
    def ensure_key(self, key: CacheKey) -> str:
        digests = key.digests()
        row = [key.key_id, key.target_name]
        for name in COMPONENTS:
            row += [canonical(getattr(key, name)), digests[name]]
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO keys VALUES (?,?,?,?,?,?,?,?,?,?,?)", (*row, time.time()))
        return key.key_id

    def keys(self) -> dict[str, CacheKey]:
        rows = self.query("SELECT key_id, target_name, target, device, versions, measurement FROM keys")
        return {r[0]: CacheKey(*(json.loads(v) for v in r[2:]), target_name=r[1]) for r in rows}

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

    # records ---------------------------------------------------------------------------------
    def add(self, records: list[Record]) -> int:
        """Insert records (one transaction); returns how many were new (identity not yet stored)."""
        added = 0
        with self.write() as conn:
            for rec in records:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO records (identity, key_id, workload_hash, mean_s, run_secs, trace,"
                    " target, args_info, provenance, session, created, checksum, stored)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (rec.identity(), rec.key_id, rec.workload_hash, rec.mean_s, rec.run_secs, rec.trace,
                     rec.target, rec.args_info, rec.provenance, rec.session, rec.created, rec.checksum,
                     time.time()))
                added += cur.rowcount
        return added

    def records(self, where: str = "1", args=(), order: str = "mean_s, id", limit: int = -1) -> list[Record]:
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

    def top_k(self, workload_hash: str, key_ids: list[str], k: int) -> list[Record]:
        """Best ``k`` valid records of a workload among ``key_ids`` (failed candidates skipped, like TVM)."""
        marks = ",".join("?" * len(key_ids))
        return self.records(f"workload_hash=? AND key_id IN ({marks}) AND mean_s < ?",
                            (workload_hash, *key_ids, FAILED_S / 10), limit=k)

    def summary(self, key_ids: list[str]) -> dict[str, dict]:
        """Per workload among ``key_ids``: records, valid records, best mean seconds and its key."""
        marks = ",".join("?" * len(key_ids))
        rows = self.query(
            f"SELECT workload_hash, COUNT(*), SUM(mean_s < ?), MIN(mean_s) FROM records "
            f"WHERE key_id IN ({marks}) GROUP BY workload_hash", (FAILED_S / 10, *key_ids))
        out = {r[0]: {"records": r[1], "valid": r[2] or 0, "best_s": r[3] if (r[2] or 0) else None}
               for r in rows}
        for wl, info in out.items():
            best = self.query(f"SELECT key_id FROM records WHERE workload_hash=? AND key_id IN ({marks}) "
                              "ORDER BY mean_s, id LIMIT 1", (wl, *key_ids))
            info["key_id"] = best[0][0] if best else None
        return out

    def session_counts(self, session: str) -> dict[str, int]:
        """{workload hash: records the session committed}."""
        return dict(self.query("SELECT workload_hash, COUNT(*) FROM records WHERE session=? "
                               "GROUP BY workload_hash", (session,)))

    def count(self, where: str = "1", args=()) -> int:
        return self.query(f"SELECT COUNT(*) FROM records WHERE {where}", args)[0][0]

    # sessions, imports, quarantine -----------------------------------------------------------
    def start_session(self, session: str, key_id: str, info: dict) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,NULL)",
                         (session, key_id, canonical(info), time.time()))

    def finish_session(self, session: str, info: dict) -> None:
        with self.write() as conn:
            conn.execute("UPDATE sessions SET info=?, finished=? WHERE session=?",
                         (canonical(info), time.time(), session))

    def stamp_session(self, session: str, extra: dict[str, dict]) -> None:
        """Merge ``extra[workload_hash]`` into the provenance of the session's records (e.g. the
        trials the task got), re-sealing each checksum."""
        records = self.records("session=?", (session,))  # read first: a quarantine writes itself
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


def _check_file(conn: sqlite3.Connection, path: Path) -> None:
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
