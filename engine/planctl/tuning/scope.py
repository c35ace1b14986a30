"""Which stored keys may serve a lookup: the compatibility and version policy, in one place.

- ``exact``: every key component equal (target dict, device, TVM versions, measurement).
- ``compatible``: the target dict is one the target document names in ``compatible_with`` (any
  device), same versions and measurement; the report names the target that served the task.
- ``drift``: same target (or a compatible one), same measurement, another TVM/tvm-ffi version.
  Never served: with ``--allow-version-drift`` its best traces are re-measured under the current
  key first (search.py), otherwise they are ignored and the report says so.
Anything else (another target, another device for the same target dict, other measurement
settings) is ignored and counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from planctl.tuning.digest import digest
from planctl.tuning.keys import CacheKey


@dataclass
class Scope:
    """The current key and the stored keys a lookup reads, with why each was chosen or left out."""

    key: CacheKey
    serving: dict[str, str] = field(default_factory=dict)   # key_id -> "exact" | "compatible:<name>"
    drift: dict[str, CacheKey] = field(default_factory=dict)  # key_id -> key (another TVM version)
    ignored: dict[str, str] = field(default_factory=dict)    # key_id -> reason

    @property
    def key_id(self) -> str:
        return self.key.key_id

    @property
    def serving_ids(self) -> list[str]:
        return list(self.serving)

    def label(self, key_id: str | None) -> str | None:
        return self.serving.get(key_id) if key_id else None


def resolve(key: CacheKey, stored: dict[str, CacheKey], compatible: dict[str, dict] | None = None) -> Scope:
    """Classify every stored key against ``key``; ``compatible`` maps target names to TVM dicts."""
    scope = Scope(key=key, serving={key.key_id: "exact"})
    by_target = {digest(tvm): name for name, tvm in (compatible or {}).items()}
    mine = key.digests()
    for key_id, other in stored.items():
        if key_id == key.key_id:
            continue
        theirs = other.digests()
        same_target = theirs["target"] == mine["target"] and theirs["device"] == mine["device"]
        friend = by_target.get(theirs["target"]) if theirs["target"] != mine["target"] else None
        if theirs["measurement"] != mine["measurement"]:
            scope.ignored[key_id] = "other measurement settings"
        elif not same_target and friend is None:
            scope.ignored[key_id] = ("same target dict, another device" if theirs["target"] == mine["target"]
                                     else f"another target ({other.target_name or theirs['target']})")
        elif theirs["versions"] != mine["versions"]:
            scope.drift[key_id] = other
        else:
            scope.serving[key_id] = "exact" if same_target else f"compatible:{friend}"
    return scope
