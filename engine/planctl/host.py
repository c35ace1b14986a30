"""This host's hardware: CPU model, machine and instruction-set flags, and GPUs.

Tuning records name the device that measured them (planctl.tuning.keys), and apply checks that
this host can run a target's code before it builds (planctl.lowering.compat); both read the
fingerprint here. The CPU comes from ``/proc/cpuinfo`` (``platform`` elsewhere), a GPU from TVM.

``PLANCTL_HOST_FINGERPRINT`` (test-only) names a JSON file that replaces what is detected, so a
test can run apply "as if" on another machine:
``{"cpu": {"model": "Intel(R) Xeon(R) Platinum 8375C", "machine": "x86_64", "flags": ["avx2", ...]},
"gpus": [{"kind": "cuda", "model": "NVIDIA H200", "compute": "9.0"}]}`` (``gpus`` optional: without
it GPUs are detected). Never set it outside tests: the host check would trust it.
"""
from __future__ import annotations

import json
import os
import platform
import re
from functools import lru_cache

from planctl.errors import PlanctlError

OVERRIDE_ENV = "PLANCTL_HOST_FINGERPRINT"
# Only instruction-set flags: hypervisors differ in mitigation and paravirt flags between VMs of one
# type, and those change neither which schedules are fast nor which code runs.
ISA_FLAG = re.compile(r"^(sse\d?|ssse3|sse4_[12]|avx.*|fma4?|f16c|amx.*|.*vnni.*|bmi\d|popcnt|"
                      r"asimd.*|neon|sve\d?|fp16|bf16|i8mm|dotprod)$")


def _override() -> dict | None:
    path = os.environ.get(OVERRIDE_ENV)
    if not path:
        return None
    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise PlanctlError(f"{OVERRIDE_ENV}={path}: unreadable host fingerprint ({exc})",
                           hint=f"unset {OVERRIDE_ENV} (it is for tests only)") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cpu", {}), dict):
        raise PlanctlError(f"{OVERRIDE_ENV}={path}: expected {{\"cpu\": {{...}}, \"gpus\": [...]}}",
                           hint=f"unset {OVERRIDE_ENV} (it is for tests only)")
    return data


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _first_cpu_fields(cpuinfo: str | None) -> dict[str, str]:
    """The first processor's ``name: value`` lines of /proc/cpuinfo (or ``cpuinfo``), names lowercased."""
    fields: dict[str, str] = {}
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).split("\n\n")[0].splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    return fields


def cpu(cpuinfo: str | None = None) -> dict:
    """``{"model", "machine", "flags"}`` of this CPU (all flags, sorted); ``cpuinfo`` is the text of
    /proc/cpuinfo to parse instead of this host's (tests). The override file wins when set."""
    override = _override() if cpuinfo is None else None
    if override is not None and "cpu" in override:
        given = override["cpu"]
        return {"model": str(given.get("model", "unknown")), "machine": str(given.get("machine", "x86_64")),
                "flags": sorted(str(f) for f in given.get("flags", []))}
    fields = _first_cpu_fields(cpuinfo)
    model = fields.get("model name") or fields.get("cpu model") or platform.processor() or "unknown"
    flags = fields.get("flags") or fields.get("features") or ""
    return {"model": model, "machine": platform.machine(), "flags": sorted(set(flags.split()))}


def cpu_identity(cpuinfo: str | None = None) -> dict:
    """``{"vendor", "family", "model", "stepping", "mhz", "cache"}`` of /proc/cpuinfo's first CPU (the
    fields present): what tells CPU generations apart when a VM names them all alike (AMD family 25
    model 1 is a Zen 3 EPYC, family 26 a Zen 5; "AMD EPYC" either way). Provenance for figures only:
    no record's device id depends on it."""
    fields = _first_cpu_fields(cpuinfo)
    names = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "stepping": "stepping",
             "cpu mhz": "mhz", "cache size": "cache"}
    return {ours: fields[theirs] for theirs, ours in names.items() if fields.get(theirs)}


def cpu_fingerprint(cpuinfo: str | None = None) -> dict:
    """``{"kind": "cpu", "model", "machine", "isa"}``: the CPU with its instruction-set flags only."""
    found = cpu(cpuinfo)
    return {"kind": "cpu", "model": found["model"], "machine": found["machine"],
            "isa": [f for f in found["flags"] if ISA_FLAG.match(f)]}


def gpus(kind: str = "cuda") -> list[dict]:
    """``[{"kind", "model", "compute"}]`` of the visible GPUs of ``kind`` (device 0 only when
    detected through TVM, which it imports); the override's ``gpus`` when set."""
    override = _override()
    if override is not None and "gpus" in override:
        return [g for g in override["gpus"] if g.get("kind", "cuda") == kind]
    return list(_detected_gpus(kind))


@lru_cache(maxsize=None)
def _detected_gpus(kind: str) -> tuple[dict, ...]:
    from planctl.lowering.tvm_env import import_tvm

    tvm = import_tvm()
    dev = tvm.device(kind, 0)
    if not dev.exist:
        return ()
    return ({"kind": kind, "model": dev.device_name, "compute": dev.compute_version},)


def gpu_fingerprint(kind: str) -> dict:
    """The GPU that measures records of ``kind``: device 0, or ``model: absent``."""
    found = gpus(kind)
    return {"kind": kind, **{k: v for k, v in found[0].items() if k != "kind"}} if found \
        else {"kind": kind, "model": "absent"}


SYSFS_CPU = "/sys/devices/system/cpu"


def physical_cores(sysfs: str = SYSFS_CPU) -> int:
    """Physical cores this process may run on: distinct ``(physical_package_id, core_id)`` pairs of
    the CPUs in its affinity mask, from Linux's sysfs topology (``sysfs``: its root, for tests).

    The thread count a CPU runtime should use by default, as onnxruntime and OpenVINO do (one
    thread per physical core). TVM's own default is ``hardware_concurrency() / 2`` on x86
    (threading_backend.cc, "ignore hyper-threading"), which runs one thread on a 2-vCPU VM whose
    vCPUs are separate cores; counting siblings gives 2 there, and 2 on a 2-core host with SMT's 4.
    Without sysfs (not Linux, or a sandbox that hides it) every CPU of the mask counts as a core.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cores = set()
    for index in cpus:
        topology = os.path.join(sysfs, f"cpu{index}", "topology")
        try:
            cores.add(tuple(open(os.path.join(topology, name), encoding="ascii").read().strip()
                            for name in ("physical_package_id", "core_id")))
        except OSError:
            cores.add(("cpu", str(index)))
    return max(1, len(cores))


# The widest vector extension names a CPU class: VMs often hide the CPU's generation behind one model
# name ("AMD EPYC" for a Zen 3 and a Zen 5 host), and the extension is what decides which code runs fast.
VECTOR_CLASSES = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sve", "SVE"), ("asimd", "NEON"))


def vector_class(isa: list[str]) -> str | None:
    """``AVX-512``, ``AVX2``, ``AVX``, ``SVE`` or ``NEON``: the widest vector extension in ``isa``."""
    return next((name for flag, name in VECTOR_CLASSES if flag in isa), None)


def describe(device: dict) -> str:
    """A device fingerprint in a few words: ``AMD EPYC (x86_64, AVX2)``, ``NVIDIA H200 (compute 9.0)``,
    ``RPC device key rk3399``."""
    if device.get("kind") == "rpc":
        return f"RPC device key {device.get('device_key')}"
    if device.get("kind") == "cpu":
        vector = vector_class(device.get("isa", []))
        return f"{device.get('model', 'unknown CPU')} ({device.get('machine', '?')}{f', {vector}' if vector else ''})"
    compute = f", compute {device['compute']}" if device.get("compute") else ""
    return f"{device.get('model', 'unknown GPU')} ({device.get('kind', '?')}{compute})"
