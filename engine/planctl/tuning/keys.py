"""What makes a tuning record valid, and where it was measured.

- The **validity key** (:class:`CacheKey`) decides whether a record's schedule is correct for a
  build: the TVM target exactly as the target document writes it (``spec.tvm``, keys sorted) and the
  apache-tvm / apache-tvm-ffi versions. With the record's ``workload_hash`` (TVM's structural hash
  of the fused PrimFunc module, a decimal string) it is all a lookup compares. ``key_id`` hashes
  the component digests.
- The **device** (:class:`Device`) is provenance: the CPU (model, ISA flags) or GPU that measured
  the record, or the RPC device key, and the measurement settings. It says how fast a schedule was
  and where; it never decides whether the schedule may build. The target document's
  ``other_device_records`` policy decides what a lookup does with records measured elsewhere
  (planctl.tuning.scope).

Cache format 1 (planctl before schema 2) keyed records by all four components; :func:`split_v1`
turns such a key into the two parts. No TVM import here except to fingerprint a GPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from planctl.host import cpu_fingerprint, describe, gpu_fingerprint
from planctl.tuning.digest import digest
from planctl.versions import tvm_versions

COMPONENTS = ("target", "versions")
DEVICE_COMPONENTS = ("device", "measurement")
V1_COMPONENTS = ("target", "device", "versions", "measurement")


@dataclass(frozen=True)
class CacheKey:
    """The validity key: the target document's TVM dict and the TVM versions, plus the display name
    of the target (a label, not a component)."""

    target: dict
    versions: dict
    target_name: str = ""

    def digests(self) -> dict[str, str]:
        return {name: digest(getattr(self, name)) for name in COMPONENTS}

    @property
    def key_id(self) -> str:
        return digest(self.digests(), length=20)

    def to_dict(self) -> dict:
        return {**asdict(self), "digests": self.digests(), "key_id": self.key_id}

    @classmethod
    def from_dict(cls, data: dict) -> "CacheKey":
        return cls(**{name: data[name] for name in (*COMPONENTS, "target_name") if name in data})


@dataclass(frozen=True)
class Device:
    """Provenance of a measurement: the device fingerprint and the runner settings."""

    device: dict
    measurement: dict

    def digests(self) -> dict[str, str]:
        return {name: digest(getattr(self, name)) for name in DEVICE_COMPONENTS}

    @property
    def device_id(self) -> str:
        return digest(self.digests(), length=20)

    @property
    def label(self) -> str:
        """``AMD EPYC (x86_64, AVX2)``, or ``AMD EPYC (x86_64, AVX2), cold caches``: what "measured on ..." says."""
        cold = ", cold caches" if self.measurement.get("cache_flush") else ""
        return describe(self.device) + cold

    def to_dict(self) -> dict:
        return {**asdict(self), "digests": self.digests(), "device_id": self.device_id, "label": self.label}

    @classmethod
    def from_dict(cls, data: dict) -> "Device":
        return cls(**{name: data[name] for name in DEVICE_COMPONENTS})


def v1_key_id(data: dict) -> str:
    """The ``key_id`` format 1 gave a key of four components (to verify old record files)."""
    return digest({name: digest(data[name]) for name in V1_COMPONENTS}, length=20)


def split_v1(data: dict) -> tuple[CacheKey, Device]:
    """A format-1 key (``target``, ``device``, ``versions``, ``measurement``) as validity key and device."""
    return (CacheKey(data["target"], data["versions"], data.get("target_name", "")),
            Device(data["device"], data["measurement"]))


def device_fingerprint(target: dict, measurement: dict) -> dict:
    """Where the records are measured: this host's CPU or GPU, or the RPC device key."""
    if measurement.get("runner") == "rpc":
        return {"kind": "rpc", "device_key": measurement.get("device_key")}
    kind = target.get("kind", "llvm")
    return cpu_fingerprint() if kind in ("llvm", "c") else gpu_fingerprint(kind)


COLD_REPEAT = 20  # cold timings: one run per repeat (each after a flush), so more repeats


def measurement_settings(measurement_doc: dict | None = None, number: int = 3, repeat: int = 1,
                         min_repeat_ms: int = 50) -> dict:
    """MetaSchedule runner settings (worker.py uses the same numbers) and the target's measurement.

    ``caches: cold`` (the Target document's measurement) times each candidate ``COLD_REPEAT``
    times, one run each, after flushing its arguments but the first from the CPU caches
    (``cache_flush: true``); TVM's flush runs before each repeat, so ``number`` must be 1 for every
    run to start cold. Warm settings carry no ``cache_flush`` key, so the devices of records
    measured before the option existed keep their ids."""
    doc = measurement_doc or {"kind": "local"}
    settings = {"runner": doc.get("kind", "local"), "number": number, "repeat": repeat,
                "min_repeat_ms": min_repeat_ms, "builder": "planctl.fast_build"}
    if doc.get("caches", "warm") == "cold":
        settings.update(number=1, repeat=COLD_REPEAT, min_repeat_ms=0, cache_flush=True)
    if doc.get("kind") == "rpc":
        settings["device_key"] = doc.get("device_key")
    return settings


def make_key(target_dict: dict, target_name: str = "", versions: dict | None = None) -> CacheKey:
    """The validity key of records for ``target_dict`` (a Target document's ``spec.tvm``) under the
    installed TVM (or ``versions``)."""
    return CacheKey(target=dict(target_dict), versions=versions or tvm_versions(), target_name=target_name)


def this_device(target_dict: dict, measurement_doc: dict | None = None, device: dict | None = None) -> Device:
    """The device that measures here for ``target_dict`` (``device`` replaces the fingerprint)."""
    measurement = measurement_settings(measurement_doc)
    return Device(device or device_fingerprint(target_dict, measurement), measurement)
