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


def cpu(cpuinfo: str | None = None) -> dict:
    """``{"model", "machine", "flags"}`` of this CPU (all flags, sorted); ``cpuinfo`` is the text of
    /proc/cpuinfo to parse instead of this host's (tests). The override file wins when set."""
    override = _override() if cpuinfo is None else None
    if override is not None and "cpu" in override:
        given = override["cpu"]
        return {"model": str(given.get("model", "unknown")), "machine": str(given.get("machine", "x86_64")),
                "flags": sorted(str(f) for f in given.get("flags", []))}
    fields: dict[str, str] = {}
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).split("\n\n")[0].splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    model = fields.get("model name") or fields.get("cpu model") or platform.processor() or "unknown"
    flags = fields.get("flags") or fields.get("features") or ""
    return {"model": model, "machine": platform.machine(), "flags": sorted(set(flags.split()))}


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


def describe(device: dict) -> str:
    """A device fingerprint in a few words: ``AMD EPYC (x86_64)``, ``NVIDIA H200 (compute 9.0)``,
    ``RPC device key rk3399``."""
    if device.get("kind") == "rpc":
        return f"RPC device key {device.get('device_key')}"
    if device.get("kind") == "cpu":
        return f"{device.get('model', 'unknown CPU')} ({device.get('machine', '?')})"
    compute = f", compute {device['compute']}" if device.get("compute") else ""
    return f"{device.get('model', 'unknown GPU')} ({device.get('kind', '?')}{compute})"
