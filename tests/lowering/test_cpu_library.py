"""The CPU library route (planctl.lowering.cpu_library): float32 matmuls with a constant weight, with
their bias and residual adds, run in OpenBLAS's sgemm through planctl's extension, split over TVM's
thread pool. Routed, built, exported and loaded back on this host, and compared with numpy; a GELU
stays TVM's; a missing OpenBLAS and a library the target cannot call are named before any build."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.tvm,
              pytest.mark.skipif(shutil.which("g++") is None, reason="the extension is compiled with g++")]
pytest.importorskip("tvm")
pytest.importorskip("scipy_openblas32")


def ffn_block(M=24, E=32, F=64, seed=0):
    """x [2, M/2, E] -> x + (gelu(x.W1 + b1).W2 + b2): a transformer FFN block, float32.
    Returns (Relax module, weights)."""
    from tvm import relax

    rng = np.random.default_rng(seed)
    w = {"w1": rng.standard_normal((E, F)).astype("float32") / np.sqrt(E), "b1": rng.standard_normal(F).astype("float32"),
         "w2": rng.standard_normal((F, E)).astype("float32") / np.sqrt(F), "b2": rng.standard_normal(E).astype("float32")}
    op, bb = relax.op, relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, M // 2, E), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            h = bb.emit(op.add(bb.emit(op.matmul(x, relax.const(w["w1"]))), relax.const(w["b1"])))
            h = bb.emit(op.nn.gelu(h))
            y = bb.emit(op.add(bb.emit(op.matmul(h, relax.const(w["w2"]))), relax.const(w["b2"])))
            out = bb.emit_output(bb.emit(op.add(y, x)))
        bb.emit_func_output(out)
    return bb.get(), w


def reference(x, w):
    from math import erf

    f = {k: v.astype(np.float64) for k, v in w.items()}
    h = x.astype(np.float64) @ f["w1"] + f["b1"]
    h = 0.5 * h * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    return h @ f["w2"] + f["b2"] + x


def _target():
    import tvm

    return tvm.target.Target({"kind": "llvm", "mattr": ["+avx2", "+fma"]})


def _dispatch():
    from planctl.documents.models.plan import LibraryDispatch

    return [LibraryDispatch(technique="library-dispatch")]


def test_matmuls_run_in_openblas_and_the_exported_artifact_matches_numpy(tmp_path: Path):
    import tvm
    from tvm import relax

    from planctl.lowering import build

    mod, w = ffn_block()
    lowered = build.lower_candidate(mod, _target(), _dispatch())
    routes = {r["signature"]: (r["route"], r["sites"]) for r in lowered.routes}
    assert routes == {"gemm M=24 N=64 K=32 float32->float32 epilogue=bias": ("openblas", 1),
                      "gemm M=24 N=32 K=64 float32->float32 epilogue=bias+residual": ("openblas", 1)}
    assert "gelu" in lowered.mod.script()                       # the GELU stays TVM's kernel
    executable = build.build_candidate(lowered.mod, _target(), _dispatch())
    executable.export_library(str(tmp_path / "artifact.so"))   # one library: the extension compiled in
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(tmp_path / "artifact.so")), tvm.cpu())
    for seed in range(3):
        x = np.random.default_rng(seed + 10).standard_normal((2, 12, 32)).astype("float32")
        got = vm["main"](tvm.runtime.tensor(x)).numpy()
        np.testing.assert_allclose(got, reference(x, w), rtol=1e-4, atol=1e-4)


def test_a_missing_openblas_is_named_with_the_install_step(monkeypatch):
    from planctl.errors import LoweringError
    from planctl.lowering import build, cpu_library

    monkeypatch.setattr(cpu_library, "find_openblas", lambda: None)
    with pytest.raises(LoweringError, match="needs OpenBLAS") as raised:
        build.lower_candidate(ffn_block()[0], _target(), _dispatch())
    assert "scipy-openblas32" in raised.value.hint


def test_a_library_the_target_cannot_call_is_refused():
    from planctl.documents.models.plan import LibraryDispatch
    from planctl.errors import LoweringError
    from planctl.lowering import techniques

    only_cuda = LibraryDispatch(technique="library-dispatch", libraries=["cublaslt"])
    with pytest.raises(LoweringError, match="a llvm target's route calls openblas"):
        techniques.REGISTRY["library-dispatch"].passes(only_cuda, _target())
