"""The tuning cache on disk: one MetaSchedule JSON database per (target, TVM version) key.

Layout: ``<cache>/<key>/database_workload.json`` and ``database_tuning_record.json`` (TVM's own
JSONDatabase files, so ``MetaScheduleApplyDatabase`` and TVM's tuning read and write them directly),
``imports.json`` (digests of committed record sets already loaded) and ``key.json`` (what the key
hashes). A file lock serialises writers; JSON-lines files that a killed search left truncated are
repaired (the partial last line is dropped) before TVM opens them.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"
DEFAULT_CACHE = Path(".planctl") / "cache"


def resolve_cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``--cache`` if given, else ``$PLANCTL_CACHE``, else ``.planctl/cache`` under the cwd."""
    chosen = override or os.environ.get("PLANCTL_CACHE") or DEFAULT_CACHE
    return Path(chosen)


def cache_key(target_dict: dict, versions: dict[str, str]) -> dict:
    """The components a record set is keyed by: canonical target dict and TVM/tvm-ffi versions."""
    return {"target": target_dict, "apache-tvm": versions.get("apache-tvm"),
            "apache-tvm-ffi": versions.get("apache-tvm-ffi")}


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Store:
    """One keyed database directory inside the cache."""

    path: Path

    @classmethod
    def open(cls, cache_dir: Path, key: dict) -> "Store":
        path = cache_dir / key_digest(key)
        path.mkdir(parents=True, exist_ok=True)
        (path / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True))
        store = cls(path)
        for name in (WORKLOAD_FILE, RECORD_FILE):
            repair_jsonl(path / name)
        return store

    @property
    def workload_file(self) -> Path:
        return self.path / WORKLOAD_FILE

    @property
    def record_file(self) -> Path:
        return self.path / RECORD_FILE

    def lock(self) -> FileLock:
        return FileLock(str(self.path / ".lock"), timeout=600)

    def database(self):
        """A TVM ``JSONDatabase`` over this store's files (created when missing)."""
        from tvm.s_tir import meta_schedule as ms

        return ms.database.JSONDatabase(path_workload=str(self.workload_file),
                                        path_tuning_record=str(self.record_file), allow_missing=True)

    def read_json(self, name: str) -> dict:
        path = self.path / name
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            return {}

    def write_json(self, name: str, data: dict) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path / name)


def repair_jsonl(path: Path) -> int:
    """Drop lines that are not valid JSON (a search killed mid-write); return how many were dropped."""
    if not path.exists():
        return 0
    lines = path.read_text(errors="replace").splitlines()
    good = []
    for line in lines:
        try:
            json.loads(line)
            good.append(line)
        except json.JSONDecodeError:
            continue
    dropped = len(lines) - len(good)
    if dropped:
        path.write_text("".join(g + "\n" for g in good))
    return dropped
