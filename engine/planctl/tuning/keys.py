"""The cache key: an explicit list of components, each stored with its own digest.

A tuning record is found by ``workload_hash`` (TVM's structural hash of the fused PrimFunc module,
decimal string) within a *key*: the canonical target (the target document's TVM dict, keys sorted),
the device fingerprint (CPU model and ISA flags, or GPU name and compute capability), the TVM and
tvm-ffi versions, and the measurement settings. ``key_id`` hashes the four component digests.
No TVM import here except to fingerprint a GPU.
"""
from __future__ import annotations

import platform
import re
from dataclasses import asdict, dataclass
from importlib import metadata

from planctl.tuning.digest import digest

# Only instruction-set flags: hypervisors differ in mitigation and paravirt flags between VMs of one
# type, and those do not change which schedules are fast or even legal.
ISA_FLAG = re.compile(r"^(sse\d?|ssse3|sse4_[12]|avx.*|fma4?|f16c|amx.*|.*vnni.*|bmi\d|popcnt|"
                      r"asimd.*|neon|sve\d?|fp16|bf16|i8mm|dotprod)$")
COMPONENTS = ("target", "device", "versions", "measurement")


@dataclass(frozen=True)
class CacheKey:
    """Key components (plain JSON values) and the display name of the target."""

    target: dict
    device: dict
    versions: dict
    measurement: dict
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


def tvm_versions() -> dict[str, str | None]:
    """Installed apache-tvm and apache-tvm-ffi versions (None when absent)."""
    found = {}
    for name in ("apache-tvm", "apache-tvm-ffi"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_fingerprint(cpuinfo: str | None = None) -> dict:
    """CPU model name and sorted ISA flags from /proc/cpuinfo (``platform`` data elsewhere)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.split("\n\n")[0].splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    model = fields.get("model name") or fields.get("cpu model") or platform.processor() or "unknown"
    flags = fields.get("flags") or fields.get("features") or ""
    return {"kind": "cpu", "model": model, "machine": platform.machine(),
            "isa": sorted({f for f in flags.split() if ISA_FLAG.match(f)})}


def gpu_fingerprint(kind: str) -> dict:
    """GPU name and compute capability of device 0 of ``kind`` (imports TVM)."""
    import tvm

    dev = tvm.device(kind, 0)
    if not dev.exist:
        return {"kind": kind, "model": "absent"}
    return {"kind": kind, "model": dev.device_name, "compute": dev.compute_version}


def device_fingerprint(target: dict, measurement: dict) -> dict:
    """Where the records are measured: this host's CPU or GPU, or the RPC device key."""
    if measurement.get("runner") == "rpc":
        return {"kind": "rpc", "device_key": measurement.get("device_key")}
    kind = target.get("kind", "llvm")
    return cpu_fingerprint() if kind in ("llvm", "c") else gpu_fingerprint(kind)


def measurement_settings(measurement_doc: dict | None = None, number: int = 3, repeat: int = 1,
                         min_repeat_ms: int = 50) -> dict:
    """MetaSchedule runner settings (worker.py uses the same numbers) and the target's measurement."""
    doc = measurement_doc or {"kind": "local"}
    settings = {"runner": doc.get("kind", "local"), "number": number, "repeat": repeat,
                "min_repeat_ms": min_repeat_ms, "builder": "planctl.fast_build"}
    if doc.get("kind") == "rpc":
        settings["device_key"] = doc.get("device_key")
    return settings


def make_key(target_dict: dict, target_name: str = "", measurement_doc: dict | None = None,
             device: dict | None = None, versions: dict | None = None) -> CacheKey:
    """The key of records tuned here, now, for ``target_dict`` (a Target document's ``spec.tvm``)."""
    measurement = measurement_settings(measurement_doc)
    return CacheKey(target=dict(target_dict), device=device or device_fingerprint(target_dict, measurement),
                    versions=versions or tvm_versions(), measurement=measurement, target_name=target_name)
