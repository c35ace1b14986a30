"""Lowering tests in TVM's own style (tests/python/relax/test_transform_*.py): a small Relax module
before and the module expected after, in TVMScript, compared with ``tvm.ir.assert_structural_equal``.
Every test here imports TVM (the planctl[tvm] extra)."""
from __future__ import annotations

import pytest

tvm = pytest.importorskip("tvm")


@pytest.fixture(scope="session")
def cpu_target():
    """A generic x86-64 LLVM target: the passes under test do not depend on the CPU."""
    from planctl.lowering.tvm_env import import_tvm

    return import_tvm().target.Target({"kind": "llvm"})
