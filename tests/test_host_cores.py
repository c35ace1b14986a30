"""planctl.host.physical_cores counts cores, not hardware threads, and import_tvm gives TVM that
many threads unless the user chose a count (TVM's own default halves the vCPUs of a VM whose
vCPUs are separate cores: one thread on a 2-vCPU host)."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec

import pytest

from planctl.host import physical_cores

CPUS = sorted(os.sched_getaffinity(0))


def fake_sysfs(root, core_of) -> str:
    for index in CPUS:
        topology = root / f"cpu{index}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text("0\n")
        (topology / "core_id").write_text(f"{core_of(index)}\n")
    return str(root)


def test_each_vcpu_its_own_core_counts_every_cpu(tmp_path):
    assert physical_cores(fake_sysfs(tmp_path, lambda i: i)) == len(CPUS)


def test_hyperthread_siblings_count_once(tmp_path):
    assert physical_cores(fake_sysfs(tmp_path, lambda i: i // 2)) == len({i // 2 for i in CPUS})


def test_without_sysfs_every_cpu_of_the_affinity_mask_counts(tmp_path):
    assert physical_cores(str(tmp_path / "absent")) == len(CPUS)


def _threads_seen(env: dict) -> str:
    code = ("import os\nfrom planctl.lowering.tvm_env import import_tvm\nimport_tvm()\n"
            "print(os.environ.get('TVM_NUM_THREADS'))\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("TVM_NUM_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**clean, **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.tvm
@pytest.mark.skipif(find_spec("tvm") is None, reason="needs tvm installed")
def test_tvm_gets_one_thread_per_physical_core_by_default():
    assert _threads_seen({}) == str(physical_cores())


@pytest.mark.tvm
@pytest.mark.skipif(find_spec("tvm") is None, reason="needs tvm installed")
def test_a_thread_count_the_user_set_wins():
    assert _threads_seen({"TVM_NUM_THREADS": "1"}) == "1"
    assert _threads_seen({"OMP_NUM_THREADS": "1"}) == "None"   # TVM reads OMP_NUM_THREADS itself
