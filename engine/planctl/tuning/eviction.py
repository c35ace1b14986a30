"""Eviction: keep the best ``keep`` records per (workload, key), drop records stored more than
``max_age_days`` ago, then trim to ``max_bytes`` (worst, then oldest, first; the best record of a
workload and key goes last). Failed candidates rank last, so a workload whose every candidate failed
keeps its failure marks (they say it was searched). Space is returned with incremental vacuum.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from planctl.tuning.store import Store

DEFAULT_KEEP = 16
DEFAULT_MAX_AGE_DAYS = 180.0
DEFAULT_MAX_BYTES = 1 << 30
ROW_BYTES = ("length(trace) + length(run_secs) + length(target) + length(args_info) + length(provenance)"
             " + 200")  # ~200 bytes of fixed columns and index entries per row

RANKED = ("SELECT id, ROW_NUMBER() OVER (PARTITION BY workload_hash, key_id ORDER BY mean_s, id) AS rank, "
          f"stored, {ROW_BYTES} AS bytes FROM records")


@dataclass
class PruneResult:
    """Rows removed by each rule, and the database size (bytes) before and after."""

    beyond_top_k: int = 0
    too_old: int = 0
    over_size: int = 0
    workloads: int = 0
    log_dirs: int = 0     # per-search log folders (logs/<session>/) older than the age limit
    bytes_before: int = 0
    bytes_after: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def database_bytes(store: Store) -> int:
    pages = store.query("PRAGMA page_count")[0][0]
    return pages * store.query("PRAGMA page_size")[0][0]


def prune(store: Store, keep: int = DEFAULT_KEEP, max_age_days: float = DEFAULT_MAX_AGE_DAYS,
          max_bytes: int = DEFAULT_MAX_BYTES, dry_run: bool = False, now: float | None = None) -> PruneResult:
    """Apply the three rules in order; with ``dry_run`` nothing is deleted (counts only)."""
    result = PruneResult(bytes_before=database_bytes(store))
    now = time.time() if now is None else now
    with store.write() as conn:
        result.beyond_top_k = _delete(conn, f"SELECT id FROM ({RANKED}) WHERE rank > ?", (keep,), dry_run)
        result.too_old = _delete(conn, "SELECT id FROM records WHERE stored < ?",
                                 (now - max_age_days * 86400,), dry_run)
        result.over_size = _trim(conn, max_bytes, dry_run)
        if not dry_run:
            result.workloads = conn.execute(
                "DELETE FROM workloads WHERE workload_hash NOT IN (SELECT workload_hash FROM records)").rowcount
    if not dry_run:
        store.query("PRAGMA incremental_vacuum")
        if store.query("PRAGMA freelist_count")[0][0]:
            # free pages left: the file predates auto-vacuum (older planctl set it after WAL mode,
            # where SQLite ignores it); one full VACUUM returns the space and converts the file
            store.query("VACUUM")
    result.log_dirs = _prune_logs(store.cache_dir / "logs", now - max_age_days * 86400, dry_run)
    result.bytes_after = database_bytes(store)
    return result


def _prune_logs(logs: Path, before: float, dry_run: bool) -> int:
    """Remove the search folders (MetaSchedule's task logs, candidate counts) older than ``before``."""
    import shutil

    old = [d for d in logs.iterdir() if d.is_dir() and d.stat().st_mtime < before] if logs.is_dir() else []
    if not dry_run:
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)
    return len(old)


def _delete(conn, select: str, args, dry_run: bool) -> int:
    ids = [r[0] for r in conn.execute(select, args).fetchall()]
    if ids and not dry_run:
        conn.executemany("DELETE FROM records WHERE id=?", [(i,) for i in ids])
    return len(ids)


def _trim(conn, max_bytes: int, dry_run: bool) -> int:
    """Delete until the records' payload fits ``max_bytes``: worst-ranked rows first, each workload's best last."""
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
