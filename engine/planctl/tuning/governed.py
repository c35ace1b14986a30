"""The governed cache as ``apply`` uses it: one store, the current validity key and device, the
scope of records that may serve it, and the operations of one apply (import committed records,
count where each task's schedule comes from, search, replay, export). The top of ``tuning/``:
it imports the modules below it, none of them imports it (only planctl.tuning.preview, the dry
run, uses it from above)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from planctl.files import atomic_write_text
from planctl.tuning import records as record_files
from planctl.tuning import search
from planctl.tuning.budget import Budget
from planctl.tuning.census import TaskSource
from planctl.tuning.eviction import prune
from planctl.tuning.farm import rpc_farm
from planctl.tuning.keys import CacheKey, Device, make_key, this_device
from planctl.tuning.scope import Scope, resolve
from planctl.tuning.store import Store, resolve_cache


@dataclass
class GovernedCache:
    store: Store
    key: CacheKey
    device: Device
    policy: str = "serve"  # the target's other_device_records
    compatible: dict[str, dict] = field(default_factory=dict)  # target name -> TVM dict
    committed: set[str] = field(default_factory=set)  # identities of the committed records imported
    farm: dict | None = None  # the target's RPC measurement: {tracker, device_key, session_timeout_s}

    @property
    def scope(self) -> Scope:
        # re-resolved on every use: an import or another apply may have added keys since
        return resolve(self.key, self.store.keys(), self.device, self.policy, self.compatible, self.store.devices())

    def database(self):
        """A MetaSchedule database over the serving records (imports TVM)."""
        from planctl.tuning.database import StoreDatabase

        return StoreDatabase(self.store, self.scope)

    def import_records(self, source: Path, provenance: dict, allow_empty: bool = False) -> int:
        """Load a committed record set (a JSONL file, a folder of them, or TVM's directory format);
        returns records added. ``allow_empty``: an empty folder adds nothing (planctl tune)."""
        from planctl.tuning.database import workload_hash_holds

        result = record_files.import_any(self.store, source, self.key, self.device, provenance,
                                         verify_workload=workload_hash_holds, allow_empty=allow_empty)
        self.committed |= result.identities
        return result.added

    def sources(self, mod, target, committed: Path | None = None) -> list[TaskSource]:
        """Where each task of ``mod`` would get its schedule (planctl.tuning.census), counting the
        records of ``committed`` (a JSONL file or folder) as if imported; nothing is written."""
        parsed = [p for file in (record_files.jsonl_files(committed) if committed is not None else [])
                  for p in record_files.read_jsonl(file)[0]]
        rows = [{"workload_hash": p.record.workload_hash, "key_id": p.key.key_id, "device_id": p.device.device_id,
                 "identity": p.record.identity(), "valid": p.record.valid, "min_s": p.record.min_s} for p in parsed]
        scope = resolve(self.key, {**self.store.keys(), **{p.key.key_id: p.key for p in parsed}}, self.device,
                        self.policy, self.compatible,
                        {**self.store.devices(), **{p.device.device_id: p.device for p in parsed}})
        identities = self.committed | {row["identity"] for row in rows}
        return search.task_sources(mod, target, self.store, scope, identities, rows)[1]

    def tune(self, mod, target, budget: Budget, seed: int, plan: tuple[str, str], allow_drift: bool,
             allow_search: bool = True, progress: bool = False, announce=None, shape: str = "",
             refine: tuple[str, ...] = ()) -> search.TuningReport:
        """Search what the cache cannot serve, and the served tasks matching a ``refine`` glob;
        ``announce(lines)`` hears the census first."""
        report = search.tune(mod, self.key.target, target, self.store, self.scope, budget, seed,
                             log_dir=self.store.cache_dir / "logs", plan=plan, compatible=self.compatible,
                             allow_drift=allow_drift, allow_search=allow_search, progress=progress,
                             committed=self.committed, announce=announce, shape=shape, farm=self.farm,
                             refine=refine)
        if report.session:  # the cache grew: apply the default eviction policy (see eviction.py)
            pruned = prune(self.store)
            removed = pruned.beyond_top_k + pruned.too_old + pruned.over_size
            if removed:
                report.notes.append(f"the cache's eviction policy {pruned.summary()}")
        return report

    def export(self, workloads: list[str], directory: Path) -> int:
        """The record that serves each workload (best among the serving keys and devices, this
        device's first): ``records.jsonl`` plus TVM's JSON pair."""
        scope = self.scope
        chosen = [found[0] for found in (self.store.top_k(w, scope.serving_ids, 1, device_ids=scope.device_ids,
                                                          prefer=scope.device_id) for w in workloads) if found]
        record_files.export_jsonl(self.store, directory / record_files.JSONL_NAME, chosen)
        return record_files.export_tvm_json(self.store, directory, chosen)

    def bind(self) -> Path:
        """Write ``<cache>/bindings/<key_id>-<device_id>.json`` (cache, key, device, policy,
        compatible targets) so a later stage can reopen this view with ``load_binding``; returns its path."""
        data = {"cache": self.store.location.without_password, "key": self.key.to_dict(), "device": self.device.to_dict(),
                "policy": self.policy, "compatible": self.compatible, "farm": self.farm}
        return atomic_write_text(self.store.cache_dir / "bindings" / f"{self.key.key_id}-{self.device.device_id}.json",
                                 json.dumps(data, indent=2, sort_keys=True))

    @classmethod
    def from_binding(cls, store: Store, data: dict) -> "GovernedCache":
        return cls(store, CacheKey.from_dict(data["key"]), Device.from_dict(data["device"]),
                   data.get("policy", "serve"), data.get("compatible", {}), farm=data.get("farm"))


def open_cache(cache_dir, target_spec, target_name: str, compatible: dict[str, dict] | None = None,
               create: bool = True) -> GovernedCache:
    """Open the store ``cache_dir`` names (a folder or a ``postgresql://`` URL; default ``$PLANCTL_CACHE``
    or ``.planctl/cache``) for a Target document's ``spec`` (its ``tvm``, ``measurement`` and
    ``other_device_records``); ``compatible``: ``{name: TVM dict}`` of the targets it names in
    ``compatible_with`` (planctl.documents.load.compatible_targets). With ``create=False`` a cache
    that does not exist raises planctl.tuning.store.MissingCacheError."""
    key = make_key(target_spec.tvm, target_name)
    device = this_device(target_spec.tvm, target_spec.measurement.model_dump())
    store = Store.open(resolve_cache(cache_dir), create=create)
    store.ensure_key(key)
    store.ensure_device(device)
    return GovernedCache(store, key, device, getattr(target_spec, "other_device_records", "serve"),
                         dict(compatible or {}), farm=rpc_farm(target_spec.measurement))



def load_binding(path: Path) -> GovernedCache:
    """The cache view ``bind()`` saved at ``path``."""
    data = json.loads(Path(path).read_text())
    here = resolve_cache(None)  # $PLANCTL_CACHE may hold the password the binding leaves out
    cache = here if here.without_password == data["cache"] else resolve_cache(data["cache"])
    return GovernedCache.from_binding(Store.open(cache, check=False), data)

