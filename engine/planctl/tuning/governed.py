"""The governed cache as ``apply`` uses it: one store, the current key, the scope of keys that may
serve it, and the operations of one apply (import committed records, search, replay, export)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from planctl.errors import TuningError
from planctl.files import atomic_write_text
from planctl.tuning import records as record_files
from planctl.tuning import search
from planctl.tuning.budget import Budget
from planctl.tuning.eviction import prune
from planctl.tuning.keys import CacheKey, make_key
from planctl.tuning.scope import Scope, resolve
from planctl.tuning.store import Store, resolve_cache_dir


@dataclass
class GovernedCache:
    store: Store
    key: CacheKey
    compatible: dict[str, dict] = field(default_factory=dict)  # target name -> TVM dict

    @property
    def scope(self) -> Scope:
        # re-resolved on every use: an import or another apply may have added keys since
        return resolve(self.key, self.store.keys(), self.compatible)

    def database(self):
        """A MetaSchedule database over the serving keys (imports TVM)."""
        from planctl.tuning.database import StoreDatabase

        return StoreDatabase(self.store, self.scope)

    def import_records(self, source: Path, provenance: dict) -> int:
        """Load a committed record set (JSONL file, or TVM's directory format); returns records added."""
        result = record_files.import_any(self.store, source, self.key, provenance, verify_workload=_verify_workload)
        return result.added

    def tune(self, mod, target, budget: Budget, seed: int, plan: tuple[str, str], allow_drift: bool,
             allow_search: bool = True, progress: bool = False) -> search.TuningReport:
        report = search.tune(mod, self.key.target, target, self.store, self.scope, budget, seed,
                             log_dir=self.store.cache_dir / "logs", plan=plan, compatible=self.compatible,
                             allow_drift=allow_drift, allow_search=allow_search, progress=progress)
        if report.session:  # the cache grew: apply the default eviction policy (see eviction.py)
            pruned = prune(self.store)
            removed = pruned.beyond_top_k + pruned.too_old + pruned.over_size
            if removed:
                report.notes.append(f"eviction removed {removed} record(s) ({pruned.to_dict()})")
        return report

    def export(self, workloads: list[str], directory: Path) -> int:
        """Best record per workload among the serving keys: ``records.jsonl`` plus TVM's JSON pair."""
        chosen = _best_per_workload(record_files.select(self.store, self.scope.serving_ids, workloads, top_k=1))
        record_files.export_jsonl(self.store, directory / record_files.JSONL_NAME, chosen)
        return record_files.export_tvm_json(self.store, directory, chosen)

    def bind(self) -> Path:
        """Write ``<cache>/bindings/<key_id>.json`` (cache, key, compatible targets) so a later stage
        can reopen this view with ``load_binding``; returns its path."""
        data = {"cache": str(self.store.cache_dir), "key": self.key.to_dict(), "compatible": self.compatible}
        return atomic_write_text(self.store.cache_dir / "bindings" / f"{self.key.key_id}.json",
                                 json.dumps(data, indent=2, sort_keys=True))

    @classmethod
    def from_binding(cls, store: Store, data: dict) -> "GovernedCache":
        return cls(store, CacheKey.from_dict(data["key"]), data.get("compatible", {}))


def open_cache(cache_dir, target_doc, target_name: str, root: Path) -> GovernedCache:
    """Open the store for a Target document (its ``spec``); compatible targets are loaded by name."""
    spec = target_doc.spec
    key = make_key(spec.tvm, target_name, spec.measurement.model_dump())
    store = Store.open(resolve_cache_dir(cache_dir))
    store.ensure_key(key)
    return GovernedCache(store, key, _compatible(spec.compatible_with, root))


def load_binding(path: Path) -> GovernedCache:
    """The cache view ``bind()`` saved at ``path``."""
    data = json.loads(Path(path).read_text())
    return GovernedCache.from_binding(Store.open(Path(data["cache"]), check=False), data)


def _compatible(names: list[str], root: Path) -> dict[str, dict]:
    from planctl.documents.load import find_target, load_target

    found = {}
    for name in names:
        try:
            found[name] = dict(load_target(find_target(name, root)).model.spec.tvm)
        except Exception as exc:  # noqa: BLE001 - a missing friend is reported, never fatal
            raise TuningError(f"compatible target '{name}' cannot be loaded: {exc}",
                              hint="fix spec.compatible_with of the target document") from exc
    return found


def _best_per_workload(records: list) -> list:
    best: dict[str, object] = {}
    for rec in records:
        if rec.workload_hash not in best or rec.mean_s < best[rec.workload_hash].mean_s:
            best[rec.workload_hash] = rec
    return list(best.values())


def _verify_workload(workload_hash: str, blob: str) -> bool:
    """Recompute TVM's structural hash of a workload blob (TVM is loaded on apply's path anyway)."""
    from tvm.s_tir.meta_schedule.database import Workload

    from planctl.tuning.database import structural_hash

    try:
        return structural_hash(Workload.from_json([workload_hash, blob]).mod) == str(workload_hash)
    except Exception:  # noqa: BLE001 - an undecodable workload is a bad record, not a crash
        return False
