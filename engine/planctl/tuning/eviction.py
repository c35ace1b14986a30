"""Eviction: keep the best ``keep`` records per (workload, key, device), drop records stored more
than ``max_age_days`` ago, then trim to ``max_bytes`` (worst, then oldest, first; the best record of
a workload, key and device goes last). Failed candidates rank last, so a workload whose every
candidate failed keeps its failure marks (they say it was searched). On SQLite space is returned
with incremental vacuum; on PostgreSQL autovacuum makes the deleted rows' space reusable by later
records (the tables do not shrink: VACUUM FULL would lock the team out). The size cap counts the
records' payload, the same on both. The policy is here; its SQL is ``Store.evict``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from planctl.tuning.store import Store

DEFAULT_KEEP = 16
DEFAULT_MAX_AGE_DAYS = 180.0
DEFAULT_MAX_BYTES = 1 << 30


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

    def summary(self, verb: str = "removed") -> str:
        """One line for a person: what each rule removed, and the size before and after."""
        return (f"{verb} {self.beyond_top_k} beyond the best, {self.too_old} too old, {self.over_size} over the "
                f"size cap, {self.log_dirs} search log folder(s); {self.bytes_before:,} -> {self.bytes_after:,} bytes")


def prune(store: Store, keep: int = DEFAULT_KEEP, max_age_days: float = DEFAULT_MAX_AGE_DAYS,
          max_bytes: int = DEFAULT_MAX_BYTES, dry_run: bool = False, now: float | None = None) -> PruneResult:
    """Apply the three rules in order; with ``dry_run`` nothing is deleted (counts only)."""
    result = PruneResult(bytes_before=store.size_bytes())
    now = time.time() if now is None else now
    before = now - max_age_days * 86400
    result.beyond_top_k, result.too_old, result.over_size, result.workloads = store.evict(
        keep, before, max_bytes, dry_run)
    result.log_dirs = _prune_logs(store.cache_dir / "logs", before, dry_run)
    result.bytes_after = store.size_bytes()
    return result


def _prune_logs(logs: Path, before: float, dry_run: bool) -> int:
    """Remove the search folders (MetaSchedule's task logs, candidate counts) older than ``before``."""
    import shutil

    old = [d for d in logs.iterdir() if d.is_dir() and d.stat().st_mtime < before] if logs.is_dir() else []
    if not dry_run:
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)
    return len(old)
