"""The store as a MetaSchedule database (``PyDatabase``), so TVM's own tuning and
``MetaScheduleApplyDatabase`` read and write the SQLite cache directly.

One ``StoreDatabase`` is a view for one scope (planctl.tuning.scope): reads see only the keys that
may serve this target (TVM's own lookup ignores the target) and the devices the other-device policy
lets serve, records measured here first; writes go to the current key and this device with the
session's provenance. Records whose checksum fails are quarantined by the store and never returned.
"""
from __future__ import annotations

import time

from planctl.lowering.tvm_env import import_tvm

import_tvm()  # before tvm_ffi, so that it skips torch (planctl.lowering.tvm_env._torch_hidden)
import tvm  # noqa: E402
import tvm_ffi  # noqa: E402
from tvm.ir.utils import derived_object  # noqa: E402
from tvm.s_tir.meta_schedule.database import PyDatabase, TuningRecord, Workload

from planctl.tuning.scope import Scope
from planctl.tuning.store import Record, Store


def structural_hash(mod) -> str:
    """The workload key TVM's JSONDatabase uses: the structural hash as a decimal string."""
    return str(tvm_ffi.structural_hash(mod))


def plain_json(value):
    """TVM's JSON of a record as plain Python values, the way MetaSchedule's ``JSONDatabase`` writes
    it (``JSONDumps`` in src/s_tir/meta_schedule/utils.h): an ``IndexMap`` (the layout rewrites of
    ``prepack_weights``) becomes the text of ``tvm.ir.save_json``, which ``TuningRecord.from_json``
    reads back. ``TuningRecord.as_json()`` raises ``TypeError`` for it. Raises TypeError for a
    value no TVM database can store either."""
    from tvm_ffi import Array, Map
    from tvm.tirx import FloatImm, IndexMap, IntImm

    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (IntImm, FloatImm)):
        return value.value
    if isinstance(value, Array):
        return [plain_json(item) for item in value]
    if isinstance(value, Map):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, IndexMap):
        return tvm.ir.save_json(value)
    raise TypeError(f"a tuning record holds a {type(value).__name__}, which no TVM database can store")


def record_json(record) -> list:
    """``[trace, run_secs, target, args_info]`` of a TuningRecord (TVM's own ``AsJSON``)."""
    from tvm.s_tir.meta_schedule import _ffi_api

    return plain_json(_ffi_api.TuningRecordAsJSON(record))


def to_tvm(rec: Record, workload) -> TuningRecord:
    return TuningRecord.from_json([rec.json("trace"), rec.json("run_secs"), rec.json("target"),
                                   rec.json("args_info")], workload)


@derived_object
class StoreDatabase(PyDatabase):
    """A MetaSchedule database over ``store`` restricted to ``scope``.

    ``provenance`` is stamped on every committed record (plus the time and the trial's ordinal
    for its workload); ``session`` groups the records of one search.
    """

    def __init__(self, store: Store, scope: Scope, provenance: dict | None = None, session: str = ""):
        self.store = store
        self.scope = scope
        self.provenance = provenance or {}
        self.session = session
        self.trials: dict[str, int] = {}      # workload hash -> records committed through this view
        self._workloads: dict[str, object] = {}
        self._hashed: list[tuple[object, str]] = []

    def workload_key(self, workload) -> str:
        """The store's key of a MetaSchedule ``Workload``: TVM's structural hash, as a decimal string."""
        for seen, key in self._hashed:
            if workload.same_as(seen):
                return key
        key = structural_hash(workload.mod)
        self._hashed.append((workload, key))
        return key

    def _workload(self, workload_hash: str):
        if workload_hash not in self._workloads:
            blob = self.store.workload(workload_hash)
            if blob is None:
                return None
            self._workloads[workload_hash] = Workload.from_json([workload_hash, blob])
        return self._workloads[workload_hash]

    def has_workload(self, mod) -> bool:
        key = structural_hash(mod)
        return key in self._workloads or self.store.workload(key) is not None

    def commit_workload(self, mod):
        key = structural_hash(mod)
        if key not in self._workloads:
            workload = Workload(mod)
            if self.store.workload(key) is None:
                self.store.put_workload(key, workload.as_json()[1])
            self._workloads[key] = workload
            self._hashed.append((workload, key))
        return self._workloads[key]

    def commit_tuning_record(self, record) -> None:
        key = self.workload_key(record.workload)
        trace, run_secs, target, args_info = record_json(record)
        self.trials[key] = self.trials.get(key, 0) + 1
        provenance = {**self.provenance, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "trial": self.trials[key]}
        self.store.add([Record.new(self.scope.key_id, self.scope.device_id, key, trace, run_secs, target,
                                   args_info, provenance, session=self.session)])

    def get_top_k(self, workload, top_k: int) -> list:
        records = self.store.top_k(self.workload_key(workload), self.scope.serving_ids, top_k,
                                   device_ids=self.scope.device_ids, prefer=self.scope.device_id)
        return [to_tvm(rec, workload) for rec in records]

    def get_all_tuning_records(self) -> list:
        out = []
        for rec in self.store.records(key_ids=self.scope.serving_ids, device_ids=self.scope.device_ids):
            workload = self._workload(rec.workload_hash)
            if workload is not None:
                out.append(to_tvm(rec, workload))
        return out

    def best_of_each_workload(self, failed_s: float) -> list[tuple[str, object]]:
        """``(workload hash, TuningRecord)``: the fastest valid record (fastest repeat under ``failed_s``) of
        each workload this view serves, fastest first."""
        best: dict[str, object] = {}
        for rec in self.store.records(key_ids=self.scope.serving_ids, device_ids=self.scope.device_ids):
            if rec.min_s < failed_s and rec.workload_hash not in best:
                best[rec.workload_hash] = rec
        return [(key, to_tvm(rec, workload)) for key, rec in best.items()
                if (workload := self._workload(key)) is not None]

    def __len__(self) -> int:
        return self.store.count(key_ids=self.scope.serving_ids, device_ids=self.scope.device_ids)


def workload_hash_holds(workload_hash: str, blob: str) -> bool:
    """Whether a workload blob (base64 of TVM's JSON) still has TVM's structural hash ``workload_hash``."""
    try:
        return structural_hash(Workload.from_json([workload_hash, blob]).mod) == str(workload_hash)
    except Exception:  # noqa: BLE001 - an undecodable workload is a bad record, not a crash
        return False
