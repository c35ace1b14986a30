"""The ``environment`` section of the run record, collected without importing TVM or onnxruntime
(package versions come from installed distribution metadata)."""
from __future__ import annotations

import os
import platform
from typing import Iterable

from planctl.versions import version

# Variables that change measured latency or numerics; recorded when set.
ENV_VARS = ("TVM_NUM_THREADS", "TVM_BIND_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "GLIBC_TUNABLES")

_DISTRIBUTIONS = {"tvm": "apache-tvm", "tvm_ffi": "apache-tvm-ffi", "onnxruntime": "onnxruntime",
                  "numpy": "numpy"}


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()`` or machine."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect_environment(env_vars: Iterable[str] = ENV_VARS) -> dict:
    """``{python, tvm, tvm_ffi, onnxruntime, numpy, cpu, cores, env}`` (versions None when absent;
    ``cores``: CPUs this process may run on)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {key: version(dist) for key, dist in _DISTRIBUTIONS.items()}
    return {"python": platform.python_version(), **versions, "cpu": cpu_model(), "cores": cores,
            "env": {k: os.environ[k] for k in env_vars if k in os.environ}}
