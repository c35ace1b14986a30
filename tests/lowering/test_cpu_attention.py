"""The fused attention kernel on CPU targets (planctl.lowering.cpu_attention): it matches the
attention of an encoder block, also after fast-math turned its softmax into fast_softmax and after
horizontal fusion made Q, K and V slices of one matmul (read in place, never copied), and the
block built with it matches a float64 numpy reference on fresh random inputs."""
from __future__ import annotations

import numpy as np
import pytest

from tests.lowering.test_cuda_routes import encoder_block, reference

pytestmark = pytest.mark.tvm
tvm = pytest.importorskip("tvm")

TARGET = {"kind": "llvm", "mcpu": "haswell", "num-cores": 2}


def _techniques(*names):
    from planctl.documents.models.plan import FastMath, FusedAttention, HorizontalFusion

    made = {"horizontal-fusion": HorizontalFusion(technique="horizontal-fusion"),
            "fast-math": FastMath(technique="fast-math"),
            "fused-attention": FusedAttention(technique="fused-attention")}
    return [made[n] for n in names]


def _ops(mod, name: str) -> int:
    from tvm import relax

    found = []
    relax.analysis.post_order_visit(mod["main"], lambda e: found.append(
        isinstance(e, relax.Call) and getattr(e.op, "name", None) == name))
    return sum(found)


def _run(techniques, B, S, H, D, mask=True, seed=0):
    from tvm import relax

    from planctl.lowering import build

    mod, w = encoder_block(B=B, S=S, H=H, D=D, dtype="float32", mask=mask, seed=seed)
    target = build.make_target(TARGET)
    lowered = build.lower_candidate(mod, target, techniques)
    vm = relax.VirtualMachine(build.build_candidate(lowered.mod, target, techniques), tvm.cpu())
    rng = np.random.default_rng(seed + 1)
    errors = []
    for _ in range(2):  # fresh inputs each time
        x = rng.standard_normal((B, S, H * D)).astype("float32")
        m = np.where(rng.random((B, 1, S, S)) < 0.2, np.float32(-3.4e38), np.float32(0)).astype("float32")
        args = [tvm.runtime.tensor(x)] + ([tvm.runtime.tensor(m)] if mask else [])
        got = vm["main"](*args).numpy().astype(np.float64)
        want = reference(x, m if mask else None, w, H, D)
        errors.append(np.linalg.norm(got - want) / np.linalg.norm(want))
    return lowered, max(errors)


@pytest.mark.parametrize("B,S,H,D,mask", [(2, 32, 2, 16, True), (3, 24, 3, 8, False), (1, 13, 2, 12, True),
                                         (2, 32, 2, 32, True)])   # D = 32 on AVX2: P.V in two column blocks
def test_fused_block_matches_float64_reference(B, S, H, D, mask):
    lowered, rel = _run(_techniques("fused-attention"), B, S, H, D, mask)
    assert [r["route"] for r in lowered.routes] == ["tir-fused-attention"]
    assert _ops(lowered.mod, "relax.nn.softmax") == 0
    assert rel < 1e-5, rel


def test_after_horizontal_fusion_and_fast_math_the_slices_are_read_in_place():
    lowered, rel = _run(_techniques("horizontal-fusion", "fast-math", "fused-attention"), 2, 32, 2, 16)
    assert [r["route"] for r in lowered.routes] == ["tir-fused-attention"]
    kernels = [f for f in lowered.mod.functions.values()
               if f.attrs is not None and f.attrs.get("planctl.kernel") == "fused-attention-cpu"]
    assert len(kernels) == 1
    assert _ops(lowered.mod, "relax.strided_slice") == 0   # Q, K and V read at their column offsets
    assert not any("strided_slice" in gv.name_hint or "softmax" in gv.name_hint
                   for gv in lowered.mod.functions.keys())
    assert rel < 1e-5, rel   # fast_exp's error is far below float32 parity


def test_an_unsupported_attention_keeps_tvms_kernels_and_says_why():
    from planctl.lowering import build

    mod, _ = encoder_block(B=1, S=16, H=2, D=8, dtype="float16", mask=False)
    lowered = build.lower_candidate(mod, build.make_target(TARGET), _techniques("fused-attention"))
    routes = lowered.routes
    assert [r["route"] for r in routes] == ["tvm (fallback)"] and "float32" in routes[0]["reason"]


def test_a_model_without_attention_is_reported_as_unchanged():
    from tvm import relax

    from planctl.lowering import build

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.matmul(x, relax.const(np.ones((8, 4), "float32"))))
        bb.emit_func_output(out)
    lowered = build.lower_candidate(bb.get(), build.make_target(TARGET), _techniques("fused-attention"))
    assert [(r["sites"], r["route"]) for r in lowered.routes] == [(0, "tvm (fallback)")]
    assert "changed nothing" in lowered.routes[0]["reason"]


@pytest.mark.parametrize("seq,head_dim", [(128, 32), (64, 32), (16, 32), (13, 12), (24, 8), (512, 256), (128, 64)])
def test_blocks_keep_their_accumulators_in_registers(seq, head_dim):
    from planctl.lowering.cpu_attention import tiles
    from planctl.lowering.vector_unit import AVX2, AVX512

    for unit in (AVX2, AVX512):
        rows, chunk, cols = tiles(seq, head_dim, unit)
        assert seq % rows == 0 and seq % chunk == 0 and head_dim % cols == 0
        for width in (chunk, cols):   # Q.K^T's and P.V's accumulators: rows x width floats
            assert rows * -(-width // unit.lanes) <= unit.registers - 4, (unit, rows, width)


def test_the_blocks_at_minilms_shape_are_the_measured_fastest():
    from planctl.lowering.cpu_attention import tiles
    from planctl.lowering.vector_unit import AVX2, AVX512, vector_unit

    assert tiles(128, 32, AVX512) == (8, 16, 32)   # 8 rows x one register of keys (VectorUnit's measurement)
    assert tiles(128, 32, AVX2) == (4, 16, 16)     # 8 of 16: 4 x 32 keys would take all 16 and spill
    assert vector_unit(tvm.target.Target({"kind": "llvm", "mcpu": "haswell"})) == AVX2
    assert vector_unit(tvm.target.Target({"kind": "llvm", "mcpu": "cascadelake"})) == AVX512
