"""The capability table (``capabilities.yaml``): which bottlenecks a technique addresses, which
layer owns it, whether it changes numerics, and what it needs from a target. Rules read this
table, never TVM, so ``check`` stays a pre-commit-speed step."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

TABLE = Path(__file__).with_name("capabilities.yaml")
LAYERS = ("graph", "kernel", "runtime", "serving")


@dataclass(frozen=True)
class Requirement:
    """What a technique needs from a target, optionally only for some parameter values."""

    why: str
    when: dict = field(default_factory=dict)
    devices: tuple[str, ...] = ()
    features_any: tuple[str, ...] = ()

    def applies(self, technique) -> bool:
        """Every ``when`` entry holds: the parameter equals the value, or, for a list parameter
        (library-dispatch's ``libraries``), contains it."""
        return all(_matches(getattr(technique, k, None), v) for k, v in self.when.items())


def _matches(actual, wanted) -> bool:
    if isinstance(actual, (list, tuple)) and not isinstance(wanted, (list, tuple)):
        return wanted in actual
    return actual == wanted


@dataclass(frozen=True)
class TechniqueInfo:
    name: str
    layer: str
    addresses: tuple[str, ...] | str
    numerics: str
    enabler: bool = False
    enables: tuple[str, ...] = ()
    requires: tuple[Requirement, ...] = ()

    @property
    def changes_numerics(self) -> bool:
        return self.numerics == "quality-trade"


@dataclass(frozen=True)
class CapabilityTable:
    techniques: dict[str, TechniqueInfo]
    dtype_features: dict[str, tuple[tuple[str, ...], str]]

    def technique(self, name: str) -> TechniqueInfo:
        return self.techniques[name]


def _technique(name: str, raw: dict) -> TechniqueInfo:
    addresses = raw["addresses"]
    return TechniqueInfo(
        name=name, layer=raw["layer"], numerics=raw["numerics"],
        addresses=addresses if addresses == "any" else tuple(addresses),
        enabler=bool(raw.get("enabler", False)), enables=tuple(raw.get("enables", ())),
        requires=tuple(Requirement(why=r["why"], when=dict(r.get("when", {})),
                                   devices=tuple(r.get("devices", ())),
                                   features_any=tuple(r.get("features_any", ())))
                       for r in raw.get("requires", ())))


@functools.cache
def load_table(path: Path = TABLE) -> CapabilityTable:
    raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return CapabilityTable(
        techniques={n: _technique(n, t) for n, t in raw["techniques"].items()},
        dtype_features={d: (tuple(v["compute_features_any"]), v["why"])
                        for d, v in raw.get("dtypes", {}).items()})


_WIDTH = re.compile(r"^(?:u?int|b?float)([0-9]+)")


def dtype_bits(dtype: str) -> int:
    """Width in bits of one element of ``dtype``: the number in its name (``int8`` -> 8,
    ``float8_e4m3fn`` -> 8, ``bfloat16`` -> 16), and 1 for ``bool`` (as TVM's ``DataType``
    counts it). Raises ValueError for a name without a width."""
    if dtype == "bool":
        return 1
    match = _WIDTH.match(dtype)
    if match is None:
        raise ValueError(f"no bit width in dtype {dtype!r}")
    return int(match.group(1))


def target_features(target) -> set[str]:
    """A target's features, with ``tensor_cores: true`` counted as the ``tensor-cores`` feature."""
    caps = target.spec.capabilities
    return set(caps.features) | ({"tensor-cores"} if caps.tensor_cores else set())
