"""planctl.lowering.int8_kernels: the x86 integer dot-product paths, the schedule rule and the
design space. Code generation is checked on every path (any host); running a kernel only where
the host has the instructions (AVX2 everywhere in CI, VNNI where /proc/cpuinfo says so)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")

from planctl.lowering import int8_kernels as k8  # noqa: E402

PATH_OF = {"haswell": "avx2", "skylake-avx512": "avx512bw", "cascadelake": "avx512-vnni"}


def target(mcpu: str):
    return tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 2})


def host_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


@pytest.mark.parametrize("mcpu, path", sorted(PATH_OF.items()))
def test_kernel_path_follows_the_target_cpu_features(mcpu, path):
    assert k8.kernel_path(target(mcpu)).name == path


def test_no_kernel_path_without_avx2_or_on_a_gpu():
    assert k8.kernel_path(tvm.target.Target({"kind": "llvm"})) is None          # generic x86-64
    assert k8.kernel_path(tvm.target.Target({"kind": "cuda", "arch": "sm_90"})) is None


def test_only_the_vnni_path_keeps_eight_bit_activations():
    levels = {p.name: p.activation_levels for p in k8.PATHS}
    assert levels == {"avx512-vnni": 256, "avx512bw": 128, "avx2": 128}


def test_packed_weights_hold_sixteen_by_four_blocks():
    w = np.arange(8 * 32, dtype=np.int64).reshape(8, 32).astype(np.int8)   # [K, N]
    packed = k8.pack_weights(w)
    assert packed.shape == (2, 2, 16, 4)
    for k, n in [(0, 0), (5, 17), (7, 31), (3, 14)]:
        assert packed[n // 16, k // 4, n % 16, k % 4] == w[k, n]


def dense_module(path, m=32, n=64, k=64):
    from tvm import te

    q = te.placeholder((2, m, k), "uint8", name="q")
    w = te.placeholder((n // 16, k // 4, 16, 4), "int8", name="w")
    return tvm.IRModule({"main": te.create_prim_func([q, w, k8.int8_dense(q, w, path)])})


def scheduled(mod, tgt):
    """One candidate of the task's design space with the postprocessors applied (what the search
    builds), seeded."""
    from tvm.s_tir import meta_schedule as ms

    k8.register()
    ctx = ms.TuneContext(mod=mod, target=tgt, space_generator=k8.space_generator(tgt, mod), task_name="t",
                         rand_state=0)
    sch = ctx.generate_design_space()[0]
    for post in ctx.space_generator.postprocs:
        assert post.apply(sch), f"{post} rejected the candidate"
    return sch.mod


@pytest.mark.parametrize("mcpu", sorted(PATH_OF))
def test_the_rule_tensorizes_on_every_path(mcpu):
    tgt = target(mcpu)
    path = k8.kernel_path(tgt)
    lib = tvm.tirx.build(scheduled(dense_module(path), tgt), target=tgt)
    asm = lib.inspect_source("asm")
    for instruction in path.instructions:
        assert instruction in asm, f"{instruction} missing from the {path.name} kernel"
    if path.name != "avx512-vnni":
        assert "vpdpbusd" not in asm


@pytest.mark.parametrize("mcpu, flag", [("haswell", "avx2"), ("cascadelake", "avx512_vnni")])
def test_the_tensorized_kernel_computes_the_exact_int32_product(mcpu, flag):
    if flag not in host_flags():
        pytest.skip(f"this host has no {flag}")
    tgt = target(mcpu)
    path = k8.kernel_path(tgt)
    lib = tvm.tirx.build(scheduled(dense_module(path), tgt), target=tgt)
    rng = np.random.default_rng(0)
    q = rng.integers(0, path.activation_levels, (2, 32, 64)).astype(np.uint8)
    w = rng.integers(-127, 128, (64, 64)).astype(np.int8)
    out = tvm.runtime.empty((2, 32, 64), "int32", tvm.cpu())
    lib(tvm.runtime.tensor(q), tvm.runtime.tensor(k8.pack_weights(w)), out)
    np.testing.assert_array_equal(out.numpy(), q.astype(np.int32) @ w.astype(np.int32))


def test_space_adds_rewrite_tensorize_only_where_tvm_leaves_it_out():
    from tvm import te

    names = lambda space: [type(p).__name__ for p in space.postprocs]  # noqa: E731
    avx2 = k8.kernel_path(target("haswell"))
    assert "RewriteTensorize" in names(k8.space_generator(target("haswell"), dense_module(avx2)))
    vnni = k8.kernel_path(target("cascadelake"))
    assert k8.space_generator(target("cascadelake"), dense_module(vnni)) == "post-order-apply"   # TVM has it
    a = te.placeholder((8, 8), "float32")
    float_task = tvm.IRModule({"main": te.create_prim_func([a, te.compute((8, 8), lambda i, j: a[i, j] * 2)])})
    assert k8.space_generator(target("haswell"), float_task) == "post-order-apply"


def test_the_tensor_intrinsics_are_registered_under_planctl_names():
    from tvm.s_tir import TensorIntrin

    k8.register()
    for path in k8.PATHS:
        assert TensorIntrin.get(path.intrinsic, allow_missing=True) is not None
