"""One stored tuning record: its validity key, the device that measured it, and TVM's JSON fields
kept as their stored text (so a checksum is verified without re-serializing anything)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from planctl.tuning.digest import canonical, checksum

FAILED_S = 1e10  # MetaSchedule's run time for a candidate that failed to build or run


def min_of(run_secs: list) -> float:
    """The fastest timed repeat in seconds; FAILED_S when there is none (MetaSchedule's failure mark).

    Records rank by it, not by MetaSchedule's mean. Another process on the host only ever adds time
    to a repeat (the reasoning of Python's ``timeit``, whose docs recommend the minimum): a repeat
    that waited for a descheduled thread moved a mean 10x ([0.099, 4.44, 0.10, 0.092, 0.092] ms),
    and under a busy neighbour most repeats of a 0.6 ms kernel took 5-9 ms, so the mean and the
    median both chose a schedule 1.2x slower than the one kept by the minimum. The repeats are
    alike cold runs (the cache is flushed before each, when the target asks for cold caches)."""
    secs = [float(s) for s in run_secs or []]
    return min(secs) if secs else FAILED_S


@dataclass
class Record:
    """``key_id``: the validity key (planctl.tuning.keys.CacheKey); ``device_id``: where it was
    measured (keys.Device); ``created``: unix seconds; ``min_s``: the fastest of ``run_secs`` (seconds)."""

    key_id: str
    device_id: str
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
    min_s: float = FAILED_S

    @classmethod
    def new(cls, key_id: str, device_id: str, workload_hash, trace, run_secs, target, args_info, provenance,
            session: str = "", created: float | None = None) -> "Record":
        rec = cls(key_id, device_id, str(workload_hash), canonical([float(s) for s in run_secs or []]),
                  canonical(trace), canonical(target), canonical(args_info), canonical(provenance), session,
                  time.time() if created is None else created)
        rec.min_s = min_of(json.loads(rec.run_secs))
        rec.checksum = rec.expected_checksum()
        return rec

    def expected_checksum(self) -> str:
        return checksum(self.key_id, self.device_id, self.workload_hash, self.run_secs, self.trace, self.target,
                        self.args_info, self.provenance, self.session, repr(float(self.created)))

    def v1_checksum(self) -> str:
        """The checksum cache schema 1 stored (no device column): verified once, when migrating."""
        return checksum(self.key_id, self.workload_hash, self.run_secs, self.trace, self.target,
                        self.args_info, self.provenance, self.session, repr(float(self.created)))

    def identity(self) -> str:
        """Content identity (what was measured, where): re-imports of one record collapse to one row."""
        return checksum(self.key_id, self.device_id, self.workload_hash, self.run_secs, self.trace, self.target,
                        self.args_info)

    def json(self, name: str):
        return json.loads(getattr(self, name))

    @property
    def valid(self) -> bool:
        return self.min_s < FAILED_S / 10
