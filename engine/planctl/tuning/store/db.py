"""The cache database and every query planctl runs against it, written once in SQLAlchemy Core for
SQLite (``<cache>/tuning.sqlite3``, one engineer) and PostgreSQL (``postgresql://``, a team).

The tables are in planctl.tuning.store.tables, their migrations in planctl.tuning.store.schema,
what differs between the two databases in planctl.tuning.store.engines. Rows two writers may add at
once (keys, devices, workloads, records by identity) are inserted with ``ON CONFLICT DO NOTHING``:
two applies sharing a cache lose nothing and store nothing twice. A SQLite file SQLite cannot read
is moved aside and reported, and an empty cache starts in its place; an older schema is migrated on
open. No TVM here.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock

from planctl.errors import TuningError
from planctl.tuning.digest import canonical, checksum
from planctl.tuning.keys import CacheKey, Device
from planctl.tuning.store import engines
from planctl.tuning.store.location import CacheLocation, resolve_cache
from planctl.tuning.store.record import FAILED_S, Record
from planctl.tuning.store.rows import device_row, key_row
from planctl.tuning.store.schema import migrate
from planctl.tuning.store.tables import (RECORD_COLUMNS, devices, imports, keys, quarantine, records, sessions,
                                         workloads)

VALID = FAILED_S / 10  # a time below this is a measured candidate, above it a failure mark
R = records.c
# ~200 bytes of fixed columns and index entries per row, plus the text columns
ROW_BYTES = (sa.func.length(R.trace) + sa.func.length(R.run_secs) + sa.func.length(R.target)
             + sa.func.length(R.args_info) + sa.func.length(R.provenance) + 200)


# a record a search re-measured (planctl.tuning.worker.remeasure), in its canonical provenance JSON
RETIMED = '%"source":"remeasured"%'


def _superseded():
    """True for a record whose time another day re-timed: a later session re-measured records of
    its workload, key and device (``tune --refine``, or another device's records timed here). Times
    are comparable only when measured beside each other: a shared host drifts between days (an 8 x 16
    matmul record stored at 1.03 ms timed 1.39 ms a day later, AMD EPYC Zen 3, 2026-12-01), so the
    re-timing session's times rank above every older one of that device; the older stay stored."""
    later = records.alias("later")
    L = later.c
    return sa.exists().where(L.workload_hash == R.workload_hash, L.key_id == R.key_id, L.device_id == R.device_id,
                             L.session != R.session, L.created > R.created, L.min_s < VALID,
                             L.provenance.like(RETIMED))


def _best_first():
    """The ranking of records within one workload, key and device: current before superseded, then time."""
    return (sa.case((_superseded(), 1), else_=0), R.min_s, R.id)


def _ranked():
    """Each record's rank among those of its workload, validity key and device (times are
    comparable only on one device; superseded ones last, see :func:`_superseded`), best first,
    with its stored time and approximate bytes."""
    rank = sa.func.row_number().over(partition_by=(R.workload_hash, R.key_id, R.device_id), order_by=_best_first())
    return sa.select(R.id, rank.label("rank"), R.stored, ROW_BYTES.label("bytes")).subquery("ranked")


class MissingCacheError(TuningError):
    """A read-only cache command named a cache that does not exist (exit 2; nothing is created)."""


def _insert(conn: sa.Connection, table: sa.Table):
    """``INSERT`` in the connection's dialect, for ``ON CONFLICT`` (both dialects spell it alike)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _insert_new(conn: sa.Connection, table: sa.Table, values: dict, unique=None) -> int:
    """Insert one row unless a row with its primary key (or the ``unique`` column) exists; returns 1
    when it was new. Counted with RETURNING: psycopg reports no rowcount for ON CONFLICT DO NOTHING."""
    key = list(table.primary_key.columns)[0]
    statement = _insert(conn, table).values(values).on_conflict_do_nothing(
        index_elements=[unique] if unique is not None else None).returning(key)
    return len(conn.execute(statement).all())


def generation(cache=None) -> dict:
    """``{path, records, max_id, quarantined}`` of the cache (``state`` instead when it is absent,
    unreadable or unreachable), read-only: nothing is created, migrated or changed. ``path`` is
    the SQLite file or the URL with its password masked."""
    location = resolve_cache(cache)
    found = {"path": location.shown}
    if not location.is_postgresql:
        path = location.sqlite_file.resolve()
        found = {"path": str(path)}
        if not path.is_file():
            return {**found, "state": "absent"}
        engine = sa.create_engine("sqlite://", poolclass=sa.pool.NullPool, creator=lambda: sqlite3.connect(
            f"{path.as_uri()}?mode=ro", uri=True, timeout=5.0))
    else:
        engine = sa.create_engine(location.url, poolclass=sa.pool.NullPool,
                                  connect_args={"connect_timeout": engines.CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as conn:
            if "records" not in sa.inspect(conn).get_table_names():
                return {**found, "state": "absent"}
            count, last = conn.execute(sa.select(sa.func.count(), sa.func.max(R.id))).one()
            quarantined = conn.scalar(sa.select(sa.func.count()).select_from(quarantine))
    except sa.exc.DBAPIError as exc:
        return {**found, "state": f"unreadable: {engines.describe_error(exc, location)}"}
    finally:
        engine.dispose()
    return {**found, "records": count, "max_id": last, "quarantined": quarantined}


class Store:
    """The cache database. ``problems`` lists what integrity checks found since it was opened;
    ``migrated_from`` is the schema version this open migrated (None when none); ``where`` is what
    messages print (the SQLite file, or the URL with its password masked); ``cache_dir`` is this
    machine's folder for search logs and bindings."""

    def __init__(self, location: CacheLocation, engine: sa.Engine, problems: list[str] | None = None,
                 migrated_from: int | None = None):
        self.location = location
        self.engine = engine
        self.problems = problems if problems is not None else []
        self.migrated_from = migrated_from
        self._lock = threading.RLock()

    @classmethod
    def open(cls, cache=None, check: bool = True, create: bool = True, repair: bool = True) -> "Store":
        """Open (creating) the store ``cache`` names (a folder, a ``postgresql://`` URL or a
        CacheLocation; default: planctl.tuning.store.location.resolve_cache), migrating an older
        schema. With ``check``, a damaged SQLite file is moved aside (with ``repair=False``, for
        commands that only read, it raises TuningError instead). With ``create=False`` (read-only
        commands) a missing cache raises :class:`MissingCacheError` and nothing is created. A
        database of a newer schema, or a server that cannot be reached, raises TuningError."""
        location = resolve_cache(str(cache) if isinstance(cache, os.PathLike) else cache)
        if location.is_postgresql:
            return cls._open_postgresql(location, create)
        return cls._open_sqlite(location, check, create, repair)

    @classmethod
    def _open_postgresql(cls, location: CacheLocation, create: bool) -> "Store":
        engine = engines.create_engine(location)
        try:
            with engine.begin() as conn:
                if not create and "records" not in sa.inspect(conn).get_table_names():
                    raise MissingCacheError(f"no tuning cache in {location.shown} (the database has no planctl "
                                            "tables)", hint="check --cache / $PLANCTL_CACHE; `planctl apply` or "
                                                            "`planctl cache migrate --to` creates them")
                migrated = migrate(conn, location.shown)
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            raise TuningError(f"cannot use the tuning cache {location.shown}: {engines.describe_error(exc, location)}",
                              hint="check the URL, that the server is up, and the credentials ($PGPASSWORD, "
                                   "~/.pgpass or a pg_service.conf service)") from None
        except BaseException:
            engine.dispose()
            raise
        store = cls(location, engine, [], migrated)
        store._report_migration()
        return store

    @classmethod
    def _open_sqlite(cls, location: CacheLocation, check: bool, create: bool, repair: bool) -> "Store":
        cache_dir, path = location.local_dir, location.sqlite_file
        if not create and not path.is_file():
            what = "directory" if not cache_dir.is_dir() else "database"
            raise MissingCacheError(
                f"no tuning cache at {cache_dir} (the {what} does not exist)",
                hint="check --cache / $PLANCTL_CACHE; `planctl apply` creates the cache")
        cache_dir.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []
        with FileLock(str(cache_dir / ".open.lock"), timeout=engines.BUSY_TIMEOUT_S):
            engine = engines.create_engine(location)
            try:
                if check:
                    with engine.connect() as conn:
                        engines.check_sqlite(conn)
            except sa.exc.DatabaseError as exc:
                engine.dispose()
                why = engines.describe_error(exc, location)
                if not repair:
                    raise TuningError(f"{path}: unreadable database ({why}); nothing was changed",
                                      hint="`planctl cache verify` moves it aside and starts an empty cache") from None
                moved = engines.move_aside(path)
                problems.append(f"{path}: unreadable database ({why}); moved to {moved.name}, starting an empty cache")
                engine = engines.create_engine(location)
            try:
                with engine.connect().execution_options(planctl_write=True) as conn, conn.begin():
                    migrated = migrate(conn, str(path))
            except BaseException:
                engine.dispose()
                raise
        store = cls(location, engine, problems, migrated)
        store._report_migration()
        return store

    def _report_migration(self) -> None:
        if self.migrated_from is not None:
            self.problems.extend(f"quarantined {reason}" for reason in self._scalars(
                sa.select(quarantine.c.reason).where(quarantine.c.reason.like("%while migrating%"),
                                                     quarantine.c.at >= time.time() - 60)))

    @property
    def where(self) -> str:
        """The SQLite file, or the URL with its password masked."""
        return self.location.shown

    @property
    def path(self) -> str:
        return self.where

    @property
    def cache_dir(self) -> Path:
        """This machine's folder: search logs, bindings (and the SQLite file, for a SQLite cache)."""
        return self.location.local_dir

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self):
        """One write transaction (on SQLite, BEGIN IMMEDIATE: waits up to BUSY_TIMEOUT_S for another writer)."""
        with self._lock, self.engine.connect().execution_options(planctl_write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self):
        with self._lock, self.engine.connect() as conn:
            yield conn

    def _rows(self, statement) -> list[sa.Row]:
        with self.read() as conn:
            return list(conn.execute(statement))

    def _scalars(self, statement) -> list:
        with self.read() as conn:
            return list(conn.scalars(statement))

    def _scalar(self, statement):
        with self.read() as conn:
            return conn.scalar(statement)

    def sql(self, text: str, **params) -> list[tuple]:
        """Run one raw SQL statement (tests and diagnostics only: everything planctl does is a method).
        A SQLite PRAGMA runs outside any transaction (some, like wal_checkpoint, refuse one)."""
        if self.dialect == "sqlite" and text.lstrip().upper().startswith("PRAGMA"):
            raw = self.engine.raw_connection()
            try:
                return [tuple(r) for r in raw.driver_connection.execute(text, params).fetchall()]
            finally:
                raw.close()
        with self.write() as conn:
            result = conn.execute(sa.text(text), params)
            return [tuple(r) for r in result] if result.returns_rows else []

    # keys and devices ------------------------------------------------------------------------
    def ensure_key(self, key: CacheKey) -> str:
        with self.write() as conn:
            _insert_new(conn, keys, key_row(key))
        return key.key_id

    def keys(self) -> dict[str, CacheKey]:
        rows = self._rows(sa.select(keys.c.key_id, keys.c.target_name, keys.c.target, keys.c.versions))
        return {r[0]: CacheKey(json.loads(r[2]), json.loads(r[3]), target_name=r[1]) for r in rows}

    def ensure_device(self, device: Device) -> str:
        with self.write() as conn:
            _insert_new(conn, devices, device_row(device))
        return device.device_id

    def devices(self) -> dict[str, Device]:
        rows = self._rows(sa.select(devices.c.device_id, devices.c.device, devices.c.measurement))
        return {r[0]: Device(json.loads(r[1]), json.loads(r[2])) for r in rows}

    # workloads -------------------------------------------------------------------------------
    def put_workload(self, workload_hash: str, blob: str) -> None:
        with self.write() as conn:
            _insert_new(conn, workloads, {"workload_hash": str(workload_hash), "workload": blob,
                                          "checksum": checksum(str(workload_hash), blob)})

    def workload(self, workload_hash: str) -> str | None:
        """The workload blob (base64 of TVM's JSON), None when absent or quarantined."""
        rows = self._rows(sa.select(workloads.c.workload, workloads.c.checksum)
                          .where(workloads.c.workload_hash == str(workload_hash)))
        if not rows:
            return None
        blob, stored = rows[0]
        if checksum(str(workload_hash), blob) != stored:
            self.quarantine("workload", f"workload {workload_hash}: checksum mismatch",
                            {"workload_hash": workload_hash, "checksum": stored},
                            workloads.delete().where(workloads.c.workload_hash == str(workload_hash)))
            return None
        return blob

    def workload_hashes(self) -> set[str]:
        return set(self._scalars(sa.select(workloads.c.workload_hash)))

    # records: writing ------------------------------------------------------------------------
    def add(self, new: list[Record]) -> int:
        """Insert records (one transaction); returns how many were new (identity not yet stored)."""
        added = 0
        with self.write() as conn:
            for rec in new:
                added += _insert_new(conn, records, _record_row(rec, time.time()), unique=R.identity)
        return added

    # records: reading ------------------------------------------------------------------------
    def _records(self, where=sa.true(), order=None, limit: int | None = None) -> list[Record]:
        """Records matching ``where`` whose checksum holds, best first (:func:`_best_first`) unless
        ``order`` is given; the others are quarantined, never returned."""
        order = _best_first() if order is None else order
        rows = self._rows(sa.select(*[R[c] for c in RECORD_COLUMNS]).where(where).order_by(*order).limit(limit))
        good = []
        for row in rows:
            fields = dict(zip(RECORD_COLUMNS, row))
            rec = Record(**fields)
            if rec.checksum == _safe_checksum(rec):
                good.append(rec)
            else:
                self.quarantine("record", f"record {rec.id} (workload {rec.workload_hash}): checksum mismatch",
                                fields, records.delete().where(R.id == rec.id))
        return good

    def records(self, key_ids=None, device_ids=None, workloads=None, session: str | None = None) -> list[Record]:
        """Sound records, best first (superseded ones last, :func:`_superseded`), optionally only of
        these keys, devices, workloads or session."""
        return self._records(_filters(key_ids=key_ids, device_ids=device_ids, workloads=workloads, session=session))

    def by_ids(self, ids: list[int]) -> list[Record]:
        return self._records(R.id.in_(list(ids)))

    def find(self, prefix: str) -> list[Record]:
        """Records whose workload hash, key id or device id starts with ``prefix``, best first."""
        return self._records(sa.or_(R.workload_hash.startswith(prefix, autoescape=True),
                                    R.key_id.startswith(prefix, autoescape=True),
                                    R.device_id.startswith(prefix, autoescape=True)))

    def top_k(self, workload_hash: str, key_ids: list[str], k: int, device_ids: list[str] | None = None,
              prefer: str | None = None) -> list[Record]:
        """Best ``k`` valid records of a workload among ``key_ids`` (failed candidates skipped, like
        TVM), only measured on ``device_ids`` when given; records measured on ``prefer`` (a device
        id) come first, since run times are comparable only on one device, and of one device's the
        records a later session re-timed come last (:func:`_superseded`)."""
        where = sa.and_(_filters(key_ids=key_ids, device_ids=device_ids, workloads=[workload_hash]), R.min_s < VALID)
        order = (sa.case((R.device_id == prefer, 0), else_=1), *_best_first()) if prefer else _best_first()
        return self._records(where, order=order, limit=k)

    def retiming(self, rec: Record) -> Record | None:
        """The best valid record that ``rec``'s session re-measured for its workload, key and device
        (the evidence that supersedes older records, :func:`_superseded`), unless that is ``rec``."""
        where = sa.and_(_filters(key_ids=[rec.key_id], device_ids=[rec.device_id], workloads=[rec.workload_hash],
                                 session=rec.session), R.provenance.like(RETIMED), R.min_s < VALID)
        found = self._records(where, order=(R.min_s, R.id), limit=1)
        return found[0] if found and found[0].id != rec.id else None

    def serving_rows(self, key_ids: list[str]) -> list[dict]:
        """One row per record of ``key_ids`` (no checksum check: a census, not a lookup):
        ``workload_hash, key_id, device_id, identity, valid, min_s, current`` (False: superseded,
        :func:`_superseded`)."""
        rows = self._rows(sa.select(R.workload_hash, R.key_id, R.device_id, R.identity, R.min_s, _superseded())
                          .where(_filters(key_ids=key_ids)))
        return [{"workload_hash": r[0], "key_id": r[1], "device_id": r[2], "identity": r[3], "valid": r[4] < VALID,
                 "min_s": r[4], "current": not r[5]} for r in rows]

    def count(self, key_ids=None, device_ids=None, workloads=None, session: str | None = None) -> int:
        where = _filters(key_ids=key_ids, device_ids=device_ids, workloads=workloads, session=session)
        return self._scalar(sa.select(sa.func.count()).select_from(records).where(where))

    def session_counts(self, session: str) -> dict[str, int]:
        """{workload hash: records the session committed}."""
        return dict(self._rows(sa.select(R.workload_hash, sa.func.count()).where(R.session == session)
                               .group_by(R.workload_hash)))

    def session_summary(self, session: str) -> dict[str, tuple[int, bool]]:
        """{workload hash: (records the session committed, whether any was a re-measurement)}."""
        remeasured = sa.func.max(sa.case((R.provenance.like('%"remeasured"%'), 1), else_=0))
        rows = self._rows(sa.select(R.workload_hash, sa.func.count(), remeasured).where(R.session == session)
                          .group_by(R.workload_hash))
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    def sessions_of(self, key_id: str) -> list[str]:
        """Sessions (searches) that committed records under ``key_id``, oldest first."""
        return self._scalars(sa.select(sessions.c.session).where(sessions.c.key_id == key_id)
                             .order_by(sessions.c.started))

    def key_device_summary(self) -> list[dict]:
        """Per (validity key, device): records, valid records, workloads (for ``planctl cache ls``)."""
        valid = sa.func.sum(sa.case((R.min_s < VALID, 1), else_=0))
        rows = self._rows(sa.select(R.key_id, R.device_id, sa.func.count(), valid,
                                    sa.func.count(sa.distinct(R.workload_hash)))
                          .group_by(R.key_id, R.device_id).order_by(R.key_id, R.device_id))
        return [{"key_id": r[0], "device_id": r[1], "records": r[2], "valid": int(r[3] or 0), "workloads": r[4]}
                for r in rows]

    # sessions, imports, quarantine -----------------------------------------------------------
    def start_session(self, session: str, key_id: str, device_id: str, info: dict) -> None:
        with self.write() as conn:
            values = {"key_id": key_id, "device_id": device_id, "info": canonical(info), "started": time.time(),
                      "finished": None}
            conn.execute(_insert(conn, sessions).values(session=session, **values)
                         .on_conflict_do_update(index_elements=[sessions.c.session], set_=values))

    def finish_session(self, session: str, info: dict) -> None:
        with self.write() as conn:
            conn.execute(sessions.update().where(sessions.c.session == session)
                         .values(info=canonical(info), finished=time.time()))

    def stamp_session(self, session: str, extra: dict[str, dict]) -> None:
        """Merge ``extra[workload_hash]`` into the provenance of the session's records (e.g. the
        trials the task got), re-sealing each checksum."""
        found = self.records(session=session)  # read first: a quarantine writes itself
        with self.write() as conn:
            for rec in found:
                if rec.workload_hash not in extra:
                    continue
                rec.provenance = canonical({**rec.json("provenance"), **extra[rec.workload_hash]})
                conn.execute(records.update().where(R.id == rec.id)
                             .values(provenance=rec.provenance, checksum=rec.expected_checksum()))

    def imported(self, file_digest: str) -> bool:
        return bool(self._rows(sa.select(imports.c.digest).where(imports.c.digest == file_digest)))

    def note_import(self, file_digest: str, source: str, count: int) -> None:
        with self.write() as conn:
            values = {"source": source, "records": count, "at": time.time()}
            conn.execute(_insert(conn, imports).values(digest=file_digest, **values)
                         .on_conflict_do_update(index_elements=[imports.c.digest], set_=values))

    def quarantine(self, kind: str, reason: str, row: dict, delete) -> None:
        """Move a damaged row to ``quarantine`` (kept for inspection) and report it; ``delete`` is
        the statement that removes it from use."""
        with self.write() as conn:
            conn.execute(quarantine.insert().values(kind=kind, reason=reason, row=json.dumps(row, default=str),
                                                    at=time.time()))
            conn.execute(delete)
        self.problems.append(f"quarantined {reason}")

    def quarantined(self) -> int:
        return self._scalar(sa.select(sa.func.count()).select_from(quarantine))

    # eviction (the policy is planctl.tuning.eviction) ----------------------------------------
    def size_bytes(self) -> int:
        """Bytes the store takes (planctl.tuning.store.engines.size_bytes)."""
        with self.read() as conn:
            return engines.size_bytes(conn)

    def evict(self, keep: int, stored_before: float, max_bytes: int, dry_run: bool) -> tuple[int, int, int, int]:
        """Delete (unless ``dry_run``) records ranked beyond ``keep`` per workload, key and device,
        records stored before ``stored_before`` (unix seconds), then the worst until the payload
        fits ``max_bytes``, and workloads no record uses. Returns the four counts."""
        ranked = _ranked()
        with self.write() as conn:
            beyond = _delete(conn, sa.select(ranked.c.id).where(ranked.c.rank > keep), dry_run)
            old = _delete(conn, sa.select(R.id).where(R.stored < stored_before), dry_run)
            over = _trim(conn, max_bytes, dry_run)
            unused = 0 if dry_run else conn.execute(workloads.delete().where(
                workloads.c.workload_hash.not_in(sa.select(R.workload_hash)))).rowcount
        if not dry_run:
            engines.reclaim(self.engine)
        return beyond, old, over, unused

    # copying into another cache (planctl cache migrate) --------------------------------------
    def copy_into(self, other: "Store") -> dict[str, int]:
        """Copy every sound row of this store into ``other`` (rows already there are skipped, by
        key: identity for records); damaged records and workloads are quarantined here instead.
        Record ids are ``other``'s own; ``stored`` times are kept (eviction by age stays true).
        Returns counts of new rows per table, and ``records_read`` (sound records here)."""
        copied = {name: 0 for name in ("keys", "devices", "workloads", "sessions", "imports", "quarantine")}
        found = self.records()
        sound = {h for h in self.workload_hashes() if self.workload(h) is not None}
        stored = dict(self._rows(sa.select(R.id, R.stored)))
        plain = {"keys": keys, "devices": devices, "sessions": sessions, "imports": imports}
        rows = {name: [dict(r) for r in self._rows_mapped(sa.select(table))] for name, table in plain.items()}
        rows["workloads"] = [dict(r) for r in self._rows_mapped(sa.select(workloads)) if r["workload_hash"] in sound]
        held = [dict(r) for r in self._rows_mapped(sa.select(quarantine))]
        with other.write() as conn:
            for name, table in (*plain.items(), ("workloads", workloads)):
                for row in rows[name]:
                    copied[name] += _insert_new(conn, table, row)
            seen = {(r.reason, r.at) for r in conn.execute(sa.select(quarantine.c.reason, quarantine.c.at))}
            for row in held:
                if (row["reason"], row["at"]) not in seen:
                    conn.execute(quarantine.insert().values({k: v for k, v in row.items() if k != "id"}))
                    copied["quarantine"] += 1
            copied["records"] = sum(_insert_new(conn, records, _record_row(rec, stored.get(rec.id, time.time())),
                                                unique=R.identity) for rec in found)
        return {**copied, "records_read": len(found)}

    def _rows_mapped(self, statement) -> list:
        with self.read() as conn:
            return list(conn.execute(statement).mappings())

    # the one-search-at-a-time lock -----------------------------------------------------------
    def search_locks(self) -> engines.SearchLocks:
        """Exclusive locks by name across every process sharing this cache (planctl.tuning.store.engines.SearchLocks)."""
        return engines.SearchLocks(self.engine, self.cache_dir)


def _filters(key_ids=None, device_ids=None, workloads=None, session: str | None = None):
    where = [sa.true()]
    for column, values in ((R.key_id, key_ids), (R.device_id, device_ids), (R.workload_hash, workloads)):
        if values is not None:
            where.append(column.in_([str(v) for v in values]))
    if session is not None:
        where.append(R.session == session)
    return sa.and_(*where)


def _delete(conn: sa.Connection, select, dry_run: bool) -> int:
    ids = list(conn.scalars(select))
    if ids and not dry_run:
        conn.execute(records.delete().where(R.id == sa.bindparam("doomed")), [{"doomed": i} for i in ids])
    return len(ids)


def _trim(conn: sa.Connection, max_bytes: int, dry_run: bool) -> int:
    """Delete until the records' payload fits ``max_bytes``: worst-ranked rows first, each group's best last."""
    ranked = _ranked()
    rows = conn.execute(sa.select(ranked.c.id, ranked.c.bytes)
                        .order_by(sa.case((ranked.c.rank == 1, 1), else_=0), ranked.c.rank.desc(), ranked.c.stored,
                                  ranked.c.id)).all()
    total = sum(b for _, b in rows)
    doomed = []
    for row_id, size in rows:
        if total <= max_bytes:
            break
        doomed.append({"doomed": row_id})
        total -= size
    if doomed and not dry_run:
        conn.execute(records.delete().where(R.id == sa.bindparam("doomed")), doomed)
    return len(doomed)


def _record_row(rec: Record, stored: float) -> dict:
    return {"identity": rec.identity(), "key_id": rec.key_id, "device_id": rec.device_id,
            "workload_hash": rec.workload_hash, "min_s": rec.min_s, "run_secs": rec.run_secs, "trace": rec.trace,
            "target": rec.target, "args_info": rec.args_info, "provenance": rec.provenance, "session": rec.session,
            "created": rec.created, "checksum": rec.checksum, "stored": stored}


def _safe_checksum(rec: Record) -> str | None:
    try:
        return rec.expected_checksum()
    except (TypeError, ValueError):
        return None
