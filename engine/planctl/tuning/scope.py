"""Which stored records may serve a lookup: validity, compatibility, version drift and the
other-device policy, in one place.

Validity (planctl.tuning.keys.CacheKey) decides whether a schedule may build here:

- ``exact``: the same target dict and TVM versions.
- ``compatible:<name>``: the target dict of a target the document names in ``compatible_with``,
  same versions; the report names the target that served the task.
- ``drift``: the same (or a compatible) target under another TVM/tvm-ffi version. Never served:
  with ``--allow-version-drift`` its best traces are re-measured here first (search.py), otherwise
  they are ignored and the report says so.
- anything else (another target, e.g. another ``mcpu``) is ignored and counted: never served.

The device that measured a record (keys.Device) is provenance. The target document's
``other_device_records`` policy decides what happens to valid records measured on another device:
``serve`` (the default: they serve, and the report says "measured on <device>"), ``re-measure``
(the best few per task are timed here, within the budget, before one is chosen) or ``search``
(they are ignored and the task is searched here). Under ``serve``, records measured here rank
first: run times are comparable only on one device.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from planctl.tuning.digest import digest
from planctl.tuning.keys import CacheKey, Device

POLICIES = ("serve", "re-measure", "search")
HERE = "this CPU"  # Scope.measured_on of a record measured by this device: this CPU model and ISA, these runner settings


@dataclass
class Scope:
    """The current key and device, the stored keys a lookup reads (with why each was chosen or
    left out), the devices known to the store and the other-device policy."""

    key: CacheKey
    device: Device
    policy: str = "serve"
    serving: dict[str, str] = field(default_factory=dict)   # key_id -> "exact" | "compatible:<name>"
    drift: dict[str, CacheKey] = field(default_factory=dict)  # key_id -> key (another TVM version)
    ignored: dict[str, str] = field(default_factory=dict)    # key_id -> reason
    devices: dict[str, Device] = field(default_factory=dict)  # device_id -> device (labels)

    @property
    def key_id(self) -> str:
        return self.key.key_id

    @property
    def device_id(self) -> str:
        return self.device.device_id

    @property
    def serving_ids(self) -> list[str]:
        return list(self.serving)

    @property
    def device_ids(self) -> list[str] | None:
        """Devices whose records serve: all (None) under ``serve``, else only this one."""
        return None if self.policy == "serve" else [self.device_id]

    def label(self, key_id: str | None) -> str | None:
        return self.serving.get(key_id) if key_id else None

    def measured_on(self, device_id: str | None) -> str | None:
        """"this CPU" (the same CPU model, ISA flags and runner settings, on any host); "this CPU, warm
        caches" for this CPU under other runner settings (keys.measurement_settings); else the label of
        the device that measured a record (with its id when the label is this CPU's own: the same CPU
        model with other ISA flags)."""
        if device_id is None:
            return None
        if device_id == self.device_id:
            return HERE
        found = self.devices.get(device_id)
        if found is None:
            return f"device {device_id}"
        if found.device == self.device.device:
            return f"{HERE}, {settings_words(found.measurement, self.device.measurement)}"
        return found.label if found.label != self.device.label else f"{found.label}, device {device_id[:8]}"


def settings_words(theirs: dict, mine: dict) -> str:
    """``warm caches`` / ``cold caches`` when the cache setting differs, else the runner settings
    that do (both dicts: keys.measurement_settings)."""
    if bool(theirs.get("cache_flush")) != bool(mine.get("cache_flush")):
        return "cold caches" if theirs.get("cache_flush") else "warm caches"
    differ = sorted(name for name in {*theirs, *mine} if theirs.get(name) != mine.get(name))
    return "other runner settings (" + ", ".join(f"{name} {theirs.get(name)}" for name in differ) + ")"


def resolve(key: CacheKey, stored: dict[str, CacheKey], device: Device, policy: str = "serve",
            compatible: dict[str, dict] | None = None, devices: dict[str, Device] | None = None) -> Scope:
    """Classify every stored key against ``key``; ``compatible`` maps target names to TVM dicts.
    Raises ValueError for an unknown policy."""
    if policy not in POLICIES:
        raise ValueError(f"other-device policy must be one of {POLICIES}, not {policy!r}")
    scope = Scope(key=key, device=device, policy=policy, serving={key.key_id: "exact"}, devices=dict(devices or {}))
    by_target = {digest(tvm): name for name, tvm in (compatible or {}).items()}
    mine = key.digests()
    for key_id, other in stored.items():
        if key_id == key.key_id:
            continue
        theirs = other.digests()
        same = theirs["target"] == mine["target"]
        friend = None if same else by_target.get(theirs["target"])
        if not same and friend is None:
            scope.ignored[key_id] = f"another target ({other.target_name or theirs['target']})"
        elif theirs["versions"] != mine["versions"]:
            scope.drift[key_id] = other
        else:
            scope.serving[key_id] = "exact" if same else f"compatible:{friend}"
    return scope
