"""Kernel routes on CUDA targets: library GEMMs (cuBLASLt) and the fused attention kernel.

The matching, the route decisions and the code generation run in CI without a GPU (code generation
needs nvcc and a C++ compiler, and is skipped cleanly without them); the numerics run only where a
CUDA device is present (the lent GPU), against numpy references on fresh random inputs.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tvm
pytest.importorskip("tvm")
REPO = Path(__file__).resolve().parents[2]
HAVE_NVCC = shutil.which("nvcc") is not None or Path("/usr/local/cuda/bin/nvcc").exists()
HAVE_CXX = shutil.which("g++") is not None


def _has_gpu() -> bool:
    import tvm

    return tvm.cuda(0).exist


def _target():
    from planctl.documents.load import load_target
    from planctl.lowering import build

    return build.make_target(load_target(REPO / "targets" / "nvidia-h200.yaml").model.spec.tvm)


def encoder_block(B=2, S=32, H=2, D=16, dtype="float16", mask=True, seed=0):
    """One attention block as the ONNX export lowers it (mixed precision's casts for float16).

    Returns (Relax module, weights dict) with main(x [B, S, H*D] dtype, m [B, 1, S, S] float32).
    """
    from tvm import relax

    rng = np.random.default_rng(seed)
    E = H * D
    w = {n: (rng.standard_normal((E, E)) / np.sqrt(E)).astype(dtype) for n in ("q", "k", "v", "o")}
    w.update({f"b{n}": (rng.standard_normal(E) * 0.1).astype(dtype) for n in ("q", "k", "v", "o")})
    acc = "float32"
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((B, S, E), dtype))
    params = [x]
    m = None
    if mask:
        m = relax.Var("m", relax.TensorType((B, 1, S, S), "float32"))
        params.append(m)
    op = relax.op
    with bb.function("main", params):
        with bb.dataflow():
            def linear(inp, name, residual=None):
                y = bb.emit(op.matmul(inp, relax.const(w[name]), out_dtype=acc if dtype == "float16" else None))
                if dtype == "float16":
                    y = bb.emit(op.astype(y, dtype))
                y = bb.emit(op.add(y, relax.const(w["b" + name])))
                if residual is not None:
                    y = bb.emit(op.add(bb.emit(op.astype(y, "float32")) if dtype == "float16" else y, residual))
                return y

            def heads(t, axes):
                return bb.emit(op.permute_dims(bb.emit(op.reshape(t, (B, S, H, D))), axes))
            q = heads(linear(x, "q"), [0, 2, 1, 3])
            k = heads(linear(x, "k"), [0, 2, 3, 1])
            v = heads(linear(x, "v"), [0, 2, 1, 3])
            s = bb.emit(op.matmul(q, k, out_dtype=acc if dtype == "float16" else None))
            if dtype == "float16":
                s = bb.emit(op.astype(s, dtype))
            s = bb.emit(op.multiply(s, relax.const(1 / np.sqrt(D), dtype)))
            if dtype == "float16":
                s = bb.emit(op.astype(s, "float32"))
            if mask:
                s = bb.emit(op.add(s, m))
            p = bb.emit(op.nn.softmax(s, axis=-1))
            if dtype == "float16":
                p = bb.emit(op.astype(p, dtype))
            o = bb.emit(op.matmul(p, v, out_dtype=acc if dtype == "float16" else None))
            if dtype == "float16":
                o = bb.emit(op.astype(o, dtype))
            o = bb.emit(op.reshape(bb.emit(op.permute_dims(o, [0, 2, 1, 3])), (B, S, E)))
            res = bb.emit(op.astype(x, "float32")) if dtype == "float16" else x
            out = bb.emit_output(linear(o, "o", residual=res))
        bb.emit_func_output(out)
    return bb.get(), w


def reference(x, m, w, H, D):
    """float64 numpy of encoder_block."""
    B, S, E = x.shape
    f = {k: v.astype(np.float64) for k, v in w.items()}
    x64 = x.astype(np.float64)

    def lin(t, n):
        return t @ f[n] + f["b" + n]
    q, k, v = (lin(x64, n).reshape(B, S, H, D).transpose(0, 2, 1, 3) for n in "qkv")
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D) + (m.astype(np.float64) if m is not None else 0)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(B, S, E)
    return lin(o, "o") + x64


def _techniques(select="always"):
    from planctl.documents.models.plan import FusedAttention, LibraryDispatch

    return [FusedAttention(technique="fused-attention"), LibraryDispatch(technique="library-dispatch", select=select)]


# ------------------------------------------------------------------ matching and decisions (CPU)
def test_gemm_sites_take_the_cast_bias_and_residual_chain():
    from planctl.lowering.cuda_library import find_gemm_sites

    mod, _ = encoder_block()
    sites = find_gemm_sites(mod["main"])
    assert sorted(s.epilogue for s in sites) == ["bias", "bias", "bias", "bias+residual"]
    out = next(s for s in sites if s.residual is not None)
    assert (out.m, out.n, out.k, out.ab_dtype, out.out_dtype) == (64, 32, 32, "float16", "float32")


def test_route_decisions_follow_the_measurement():
    from planctl.lowering.cuda_library import decide, find_gemm_sites

    sites = find_gemm_sites(encoder_block()[0]["main"])
    sigs = sorted({s.signature for s in sites})
    timings = {sigs[0]: (0.01, 0.05), sigs[1]: (0.09, 0.02)}
    decided = decide(sites, timings)
    assert decided[sigs[0]].route == "cublaslt" and decided[sigs[0]].reason == "measured faster"
    assert decided[sigs[1]].route == "tvm" and decided[sigs[1]].library_ms == 0.09
    unmeasured = decide(sites, None)
    assert all(d.route == "cublaslt" and "not measured" in d.reason for d in unmeasured.values())
    failed = decide(sites, {s: (None, 0.1) for s in sigs})
    assert all(d.route == "tvm" for d in failed.values())


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_attention_is_matched_with_its_mask_and_scale(dtype):
    from planctl.lowering.cuda_attention import find_attention

    sites, reasons = find_attention(encoder_block(dtype=dtype)[0]["main"])
    assert reasons == [] and len(sites) == 1
    site = sites[0]
    assert (site.batch, site.seq, site.heads, site.head_dim, site.dtype) == (2, 32, 2, 16, dtype)
    assert site.mask_shape == (2, 1, 32, 32) and site.scale == pytest.approx(0.25, rel=1e-3)


def test_unsupported_attention_keeps_tvm_and_says_why():
    from planctl.lowering.cuda_attention import find_attention

    sites, reasons = find_attention(encoder_block(S=24)[0]["main"])
    assert sites == [] and reasons == ["float16 needs S and D multiples of 16 (S=24, D=16)"]


def test_fallback_route_is_recorded_by_the_pass():
    import tvm

    from planctl.lowering.cuda_attention import fused_attention_pass
    from planctl.lowering.cuda_library import read_routes

    with _target(), tvm.transform.PassContext(opt_level=3):
        mod = fused_attention_pass()(encoder_block(S=24)[0])
    routes = read_routes(mod)
    assert [r["route"] for r in routes] == ["tvm (fallback)"] and "multiples of 16" in routes[0]["reason"]


# ------------------------------------------------------------------ code generation (nvcc, no GPU)
@pytest.mark.skipif(not (HAVE_NVCC and HAVE_CXX), reason="nvcc and g++ are needed for CUDA code generation")
def test_routes_build_with_tensor_cores_and_link_the_extension(tmp_path):
    from planctl.lowering import build
    from planctl.measure.gpu_profile import cuda_source

    target = _target()
    lowered = build.lower_candidate(encoder_block()[0], target, _techniques())
    assert {r["route"] for r in lowered.routes} == {"tir-fused-attention", "cublaslt"}
    executable = build.build_candidate(lowered.mod, target, _techniques())
    source = cuda_source(executable)
    assert "mma.sync.aligned.m16n8k16" in source  # the attention kernel's tensor-core instructions
    library = tmp_path / "candidate.so"
    executable.export_library(str(library))
    assert b"__tvm_ffi_planctl_cublaslt_gemm_bias_residual" in library.read_bytes()


def _cublaslt_header() -> Path | None:
    import sys

    dirs = [Path("/usr/local/cuda/include")] + [Path(p) / "nvidia" / s / "include" for p in sys.path if p
                                                 for s in ("cu13", "cu12", "cublas")]
    return next((d for d in dirs if (d / "cublasLt.h").exists()), None)


@pytest.mark.skipif(not HAVE_CXX, reason="g++ is needed")
def test_extension_declarations_match_cublaslt_h(tmp_path):
    """The extension declares the cuBLASLt subset it uses; where the real header is installed, the
    values must agree with it."""
    header = _cublaslt_header()
    if header is None or not (Path("/usr/local/cuda/include") / "library_types.h").exists():
        pytest.skip("cublasLt.h (CUDA toolkit or the nvidia-cublas wheel) is not installed")
    src = (REPO / "engine" / "planctl" / "lowering" / "cuda_ext" / "cublaslt_gemm.cc").read_text()
    checks = {"kComputeF32": "CUBLAS_COMPUTE_32F", "kDataF32": "CUDA_R_32F", "kDataF16": "CUDA_R_16F",
              "kDescTransA": "CUBLASLT_MATMUL_DESC_TRANSA", "kDescTransB": "CUBLASLT_MATMUL_DESC_TRANSB",
              "kDescEpilogue": "CUBLASLT_MATMUL_DESC_EPILOGUE", "kDescBiasPointer": "CUBLASLT_MATMUL_DESC_BIAS_POINTER",
              "kDescBiasDataType": "CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE",
              "kEpilogueDefault": "CUBLASLT_EPILOGUE_DEFAULT", "kEpilogueBias": "CUBLASLT_EPILOGUE_BIAS",
              "kEpilogueGelu": "CUBLASLT_EPILOGUE_GELU", "kEpilogueGeluBias": "CUBLASLT_EPILOGUE_GELU_BIAS",
              "kPrefMaxWorkspace": "CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES", "kOpN": "CUBLAS_OP_N"}
    import re

    lines = ["#include <cublasLt.h>"]
    for ours, theirs in checks.items():
        value = re.search(rf"constexpr \w+ {ours} = (\d+);", src).group(1)
        lines.append(f"static_assert({theirs} == {value}, \"{ours}\");")
    lines.append("static_assert(sizeof(cublasLtMatmulHeuristicResult_t) == 96, \"Heuristic\");")
    test = tmp_path / "check.cc"
    test.write_text("\n".join(lines) + "\n")
    done = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", str(test), f"-I{header}",
                           "-I/usr/local/cuda/include"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ numerics (GPU only)
@pytest.mark.skipif(not HAVE_NVCC, reason="nvcc is needed")
@pytest.mark.parametrize("dtype,S,D,mask", [("float16", 128, 32, True), ("float16", 64, 64, False),
                                             ("float32", 128, 32, True), ("float32", 40, 24, True)])
def test_routed_block_matches_float64_reference_on_the_gpu(dtype, S, D, mask):
    if not _has_gpu():
        pytest.skip("no CUDA device")
    import tvm
    from tvm import relax

    from planctl.lowering import build

    H, B = 2, 3
    mod, w = encoder_block(B=B, S=S, H=H, D=D, dtype=dtype, mask=mask, seed=S + D)
    target = _target()
    lowered = build.lower_candidate(mod, target, _techniques())
    assert "tir-fused-attention" in {r["route"] for r in lowered.routes}
    vm = relax.VirtualMachine(build.build_candidate(lowered.mod, target, _techniques()), tvm.cuda())
    rng = np.random.default_rng(7)
    for _ in range(2):  # fresh inputs each time
        x = rng.standard_normal((B, S, H * D)).astype(dtype)
        m = np.where(rng.random((B, 1, S, S)) < 0.2, np.float32(-3.4e38), np.float32(0)).astype("float32")
        args = [tvm.runtime.tensor(x, tvm.cuda())] + ([tvm.runtime.tensor(m, tvm.cuda())] if mask else [])
        got = vm["main"](*args).numpy().astype(np.float64)
        want = reference(x, m if mask else None, w, H, D)
        rel = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert np.isfinite(got).all() and rel < (1e-2 if dtype == "float16" else 1e-5), rel


# ------------------------------------------------------------------ LayerNorm with its cast
def layer_norm_block(rows=(4, 32), C=256, seed=0):
    """main(x f32 [*rows, C]) -> (layer_norm(x) f32 + x, float16 copy of layer_norm(x)), as mixed
    precision leaves a layer_norm: its float32 result feeds the residual and its cast the next matmul."""
    from tvm import relax

    rng = np.random.default_rng(seed)
    gamma, beta = rng.standard_normal(C).astype("float32"), rng.standard_normal(C).astype("float32")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((*rows, C), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            ln = bb.emit(relax.op.nn.layer_norm(x, relax.const(gamma), relax.const(beta), axes=[-1], epsilon=1e-12))
            half = bb.emit(relax.op.astype(ln, "float16"))
            res = bb.emit(relax.op.add(ln, x))
            out = bb.emit_output(relax.Tuple([res, half]))
        bb.emit_func_output(out)
    return bb.get(), gamma, beta


def test_layer_norm_with_cast_is_one_site_and_odd_widths_fall_back():
    from planctl.lowering.cuda_layer_norm import find_layer_norms

    sites, reasons = find_layer_norms(layer_norm_block()[0]["main"])
    assert len(sites) == 1 and sites[0].cast is not None and sites[0].rows == 128 and reasons == []
    sites, reasons = find_layer_norms(layer_norm_block(C=200)[0]["main"])
    assert sites == [] and "multiple of 128" in reasons[0]


def half_layer_norm_block(C=256):
    """main(x f16 [4, 32, C]) -> matmul(layer_norm(x) with float16 gamma/beta, W) float32: a
    layer_norm that TVM's ToMixedPrecision would leave in float16 (its inputs all are)."""
    from tvm import relax

    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((4, 32, C), "float16"))
    with bb.function("main", [x]):
        with bb.dataflow():
            ln = bb.emit(relax.op.nn.layer_norm(x, relax.const(rng.standard_normal(C).astype("float16")),
                                                relax.const(rng.standard_normal(C).astype("float16")), axes=[-1]))
            w = relax.const(rng.standard_normal((C, 128)).astype("float16"))
            out = bb.emit_output(relax.op.matmul(ln, w, out_dtype="float32"))
        bb.emit_func_output(out)
    return bb.get()


@pytest.mark.parametrize("keep,route,why", [
    (None, "tir-fused-layer-norm", "float16 copy written in the same pass"),   # the default keeps layer_norm
    ([], "tvm (fallback)", "input is not a static float32 tensor")])
def test_keep_fp32_ops_gives_fused_layer_norm_its_float32_input(keep, route, why):
    """mixed-precision's keep_fp32_ops (default: layer_norm among them) computes layer_norm in
    float32 and casts its result to float16: the fused kernel's pattern (float32 result and its
    float16 copy in one pass). Without it the float16 layer_norm keeps TVM's kernel, recorded."""
    from planctl.documents.models.plan import FusedLayerNorm, MixedPrecision
    from planctl.lowering import build

    mixed = {"technique": "mixed-precision", "precision": {"weights": "float16", "activations": "float16",
                                                           "kv_cache": "none"}}
    chosen = [MixedPrecision(**mixed, **({} if keep is None else {"keep_fp32_ops": keep})),
              FusedLayerNorm(technique="fused-layer-norm")]
    lowered = build.lower_candidate(half_layer_norm_block(), _target(), chosen)
    assert [(r["route"], why in r["reason"]) for r in lowered.routes] == [(route, True)]


@pytest.mark.skipif(not HAVE_NVCC, reason="nvcc is needed")
def test_fused_layer_norm_matches_float64_reference_on_the_gpu():
    if not _has_gpu():
        pytest.skip("no CUDA device")
    import tvm
    from tvm import relax

    from planctl.documents.models.plan import FusedLayerNorm
    from planctl.lowering import build

    mod, gamma, beta = layer_norm_block(rows=(3, 40), C=384)
    chosen = [FusedLayerNorm(technique="fused-layer-norm")]
    lowered = build.lower_candidate(mod, _target(), chosen)
    assert [r["route"] for r in lowered.routes] == ["tir-fused-layer-norm"]
    vm = relax.VirtualMachine(build.build_candidate(lowered.mod, _target(), chosen), tvm.cuda())
    x = (np.random.default_rng(3).standard_normal((3, 40, 384)) * 3 + 1).astype("float32")
    res, half = vm["main"](tvm.runtime.tensor(x, tvm.cuda()))
    x64 = x.astype(np.float64)
    ln = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-12) * gamma + beta
    assert np.abs(res.numpy() - (ln + x64)).max() < 1e-4
    assert np.abs(half.numpy().astype(np.float64) - ln).max() < 1e-2


def test_gelu_joins_the_epilogue_only_when_the_plan_asks():
    from tvm import relax

    from planctl.lowering.cuda_library import find_gemm_sites

    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 16, 64), "float16"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.matmul(x, relax.const(rng.standard_normal((64, 128)).astype("float16")),
                                        out_dtype="float32"))
            y = bb.emit(relax.op.add(bb.emit(relax.op.astype(y, "float16")),
                                     relax.const(rng.standard_normal(128).astype("float16"))))
            out = bb.emit_output(relax.op.nn.gelu(y))
        bb.emit_func_output(out)
    func = bb.get()["main"]
    assert [s.epilogue for s in find_gemm_sites(func)] == ["bias"]
    assert [s.epilogue for s in find_gemm_sites(func, gelu_tanh=True)] == ["bias+gelu(tanh)"]
