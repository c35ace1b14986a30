"""Stores with hand-made records (no TVM needed): the cache's governance is tested on them, on
SQLite and on PostgreSQL (the suite's server, tests/conftest.py; each test a database of its own)."""
from __future__ import annotations

from pathlib import Path

import pytest

from planctl.tuning.keys import CacheKey, Device
from planctl.tuning.store import Record, Store

TARGET = {"kind": "llvm", "mcpu": "haswell", "num-cores": 2}
DEVICE = {"kind": "cpu", "model": "Test CPU", "machine": "x86_64", "isa": ["avx2", "fma"]}
VERSIONS = {"apache-tvm": "0.27.0.post1", "apache-tvm-ffi": "0.1.14.post0"}
MEASUREMENT = {"runner": "local", "number": 3, "repeat": 1, "min_repeat_ms": 50, "builder": "planctl.fast_build"}


def make_key(**changes) -> CacheKey:
    fields = {"target": TARGET, "versions": VERSIONS, "target_name": "x86-64-avx2", **changes}
    return CacheKey(**fields)


def make_device(**changes) -> Device:
    fields = {"device": DEVICE, "measurement": MEASUREMENT, **changes}
    return Device(**fields)


def make_record(key: CacheKey, workload: str = "111", secs: float = 1e-3, n: int = 0, device: Device | None = None,
                **provenance) -> Record:
    trace = [["GetSBlock", [], ["matmul", "main"], [f"b{n}"]]]
    return Record.new(key.key_id, (device or make_device()).device_id, workload, trace, [secs],
                      {**key.target, "keys": ["cpu"], "tag": ""}, [["TENSOR", "float32", [32, 128]]],
                      {"plan": "p", "seed": 0, "n": n, **provenance})


def fill(store: Store, key: CacheKey, workloads=("111", "222"), per_workload: int = 3,
         device: Device | None = None) -> None:
    device = device or make_device()
    store.ensure_key(key)
    store.ensure_device(device)
    for w in workloads:
        store.put_workload(w, f"blob-of-{w}")
    store.add([make_record(key, w, secs=(i + 1) * 1e-3, n=i, device=device)
               for w in workloads for i in range(per_workload)])


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def cache_location(request, tmp_path: Path) -> str:
    """The cache under test, as ``--cache`` names it: a folder (SQLite) or a postgresql:// URL."""
    if request.param == "sqlite":
        return str(tmp_path / "cache")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(cache_location: str) -> Store:
    opened = Store.open(cache_location)
    yield opened
    opened.close()


@pytest.fixture
def kit():
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(make_key=make_key, make_device=make_device, make_record=make_record, fill=fill,
                           TARGET=TARGET, DEVICE=DEVICE, VERSIONS=VERSIONS, MEASUREMENT=MEASUREMENT)
