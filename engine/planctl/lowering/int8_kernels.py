"""Integer dot-product kernels for x86: the tensor intrinsics, the MetaSchedule rule that tiles an
int8 matmul around them, and the design space that tensorizes on every x86 target.

The product ``uint8 activations x int8 weights -> int32`` in blocks of 16 output channels x 4
reduction steps is what x86 integer dot-product instructions compute:

- ``avx512-vnni``: one ``vpdpbusd zmm`` (AVX-512 VNNI) per block, no intermediate saturation;
- ``avx512bw``: ``vpmaddubsw zmm`` + ``vpmaddwd zmm`` (AVX-512 BW without VNNI);
- ``avx2``: two ``vpmaddubsw ymm`` + ``vpmaddwd ymm`` (any AVX2 CPU).

``vpmaddubsw`` adds pairs of ``u8 x s8`` products into an int16 with saturation; 255 x 127 x 2
overflows it, so on those two paths activations use 7 bits (0..127, :data:`ACTIVATION_LEVELS`),
as onnxruntime's ``reduce_range`` does for the same reason; VNNI accumulates into int32 and uses
all 8 bits.

TVM 0.27 ships VNNI and AVX-512 intrinsics (``tvm.s_tir.tensor_intrin.x86``, ``dot_16x4_vnni``),
but its VNNI implementation passes ``<16 x i32>`` operands to ``llvm.x86.avx512.vpdpbusd.512``,
which LLVM 22 (the LLVM inside the 0.27 wheel) declares with ``<64 x i8>`` operands: every
candidate fails LLVM's module verifier, so a search "succeeds" with 0 valid records. The
intrinsics here are registered under planctl's own names with LLVM 22's operand types.

The matmul kernel is an ordinary TE compute whose block carries the annotation
``schedule_rule: planctl_int8_dense_<path>``; MetaSchedule's ``ApplyCustomRule`` (first of the
default CPU rules) then calls the rule registered as
``s_tir.meta_schedule.cpu.planctl_int8_dense_<path>`` (:func:`int8_dense_rule`): it splits the
output channels by 16 and the reduction by 4, samples a four-level spatial and two-level reduction
tiling (so the search tunes it like any other task and the records go to the same governed cache),
and marks the 16 x 4 block ``meta_schedule.auto_tensorize``; TVM's ``RewriteTensorize``
postprocessor tensorizes it after parallelization and vectorization (tensorizing inside the rule
makes ``RewriteParallelVectorizeUnroll`` reject every candidate). TVM adds ``RewriteTensorize`` to
the postprocessors only for targets with AVX-512 BW, so :func:`space_generator` appends it for the
other LLVM targets.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

LANES = 16          # output channels per dot-product block (one zmm of int32, two ymm)
REDUCE = 4          # reduction steps per block (4 x uint8 in one int32 lane)
RULE_PREFIX = "planctl_int8_dense_"


@dataclass(frozen=True)
class KernelPath:
    """How an int8 matmul runs on a target: ``name`` (avx512-vnni, avx512bw, avx2), the tensor
    intrinsic, the instructions it uses, and the activation levels (256 or 128, see the module
    doc). ``rule`` is the block annotation that selects :func:`int8_dense_rule`."""

    name: str
    intrinsic: str
    instructions: tuple[str, ...]
    activation_levels: int
    features: tuple[str, ...]

    @property
    def rule(self) -> str:
        return RULE_PREFIX + self.name.replace("-", "_")


PATHS = (
    KernelPath("avx512-vnni", "planctl_dot_16x4_u8s8s32_avx512vnni", ("vpdpbusd",), 256,
               ("avx512f", "avx512bw", "avx512vnni")),
    KernelPath("avx512bw", "planctl_dot_16x4_u8s8s32_avx512bw", ("vpmaddubsw", "vpmaddwd"), 128,
               ("avx512f", "avx512bw")),
    KernelPath("avx2", "planctl_dot_16x4_u8s8s32_avx2", ("vpmaddubsw", "vpmaddwd"), 128, ("avx2",)),
)


def kernel_path(target) -> Optional[KernelPath]:
    """The fastest path ``target`` (a ``tvm.target.Target``) has instructions for, by LLVM's
    feature list of its ``mcpu``/``mattr``; None for a non-x86 or pre-AVX2 target."""
    from tvm.target import codegen

    if target.kind.name != "llvm" or "x86" not in str(target.attrs.get("mtriple", "x86_64")):
        return None
    for path in PATHS:
        if codegen.llvm_cpu_has_features(list(path.features), target):
            return path
    return None


# ------------------------------------------------------------------------------- intrinsics
def _intrinsics():
    """``{name: (desc, impl)}`` of the three intrinsics (TVMScript, parsed on first use)."""
    from tvm.script import tirx as T

    @T.prim_func(s_tir=True)
    def desc(A: T.Buffer((4,), "uint8", offset_factor=1), B: T.Buffer((16, 4), "int8", offset_factor=1),
             C: T.Buffer((16,), "int32", offset_factor=1)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            for i in T.serial(0, 16):
                for k in T.serial(0, 4):
                    with T.sblock("update"):
                        vi, vk = T.axis.remap("SR", [i, k])
                        C[vi] = C[vi] + T.cast(A[vk], "int32") * T.cast(B[vi, vk], "int32")

    @T.prim_func(s_tir=True)
    def vnni(A: T.Buffer((4,), "uint8", offset_factor=1), B: T.Buffer((16, 4), "int8", offset_factor=1),
             C: T.Buffer((16,), "int32", offset_factor=1)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            a32 = T.reinterpret(A.vload([0], "uint8x4"), dtype="int32")
            # LLVM 22: declare <16 x i32> @llvm.x86.avx512.vpdpbusd.512(<16 x i32>, <64 x i8>, <64 x i8>)
            C[T.ramp(T.int32(0), 1, 16)] = T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.512"),
                C.vload([0], dtype="int32x16"), T.reinterpret(T.broadcast(a32, 16), dtype="int8x64"),
                B.vload([0, 0], dtype="int8x64"), dtype="int32x16")

    @T.prim_func(s_tir=True)
    def avx512bw(A: T.Buffer((4,), "uint8", offset_factor=1), B: T.Buffer((16, 4), "int8", offset_factor=1),
                 C: T.Buffer((16,), "int32", offset_factor=1)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            a32 = T.reinterpret(A.vload([0], "uint8x4"), dtype="int32")
            pairs = T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id("llvm.x86.avx512.pmaddubs.w.512"),
                T.reinterpret(T.broadcast(a32, 16), dtype="uint8x64"), B.vload([0, 0], dtype="int8x64"),
                dtype="int16x32")
            C[T.ramp(T.int32(0), 1, 16)] = C.vload([0], dtype="int32x16") + T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id("llvm.x86.avx512.pmaddw.d.512"), pairs, T.int16x32(1),
                dtype="int32x16")

    @T.prim_func(s_tir=True)
    def avx2(A: T.Buffer((4,), "uint8", offset_factor=1), B: T.Buffer((16, 4), "int8", offset_factor=1),
             C: T.Buffer((16,), "int32", offset_factor=1)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            a = T.reinterpret(T.broadcast(T.reinterpret(A.vload([0], "uint8x4"), dtype="int32"), 8),
                              dtype="uint8x32")
            for half in T.unroll(2):
                pairs = T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id("llvm.x86.avx2.pmadd.ub.sw"), a,
                    B.vload([half * 8, 0], dtype="int8x32"), dtype="int16x16")
                C[T.ramp(half * 8, 1, 8)] = C.vload([half * 8], dtype="int32x8") + T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id("llvm.x86.avx2.pmadd.wd"), pairs, T.int16x16(1), dtype="int32x8")

    impls = {"avx512-vnni": vnni, "avx512bw": avx512bw, "avx2": avx2}
    return {path.intrinsic: (desc, impls[path.name]) for path in PATHS}


@functools.lru_cache(maxsize=None)
def register() -> None:
    """Register the intrinsics and the schedule rules in this process (idempotent). Every process
    that generates a design space or replays a tuning record of an int8 kernel needs them."""
    import tvm_ffi
    from tvm.s_tir import TensorIntrin

    for name, (desc, impl) in _intrinsics().items():
        TensorIntrin.register(name, desc, impl, override=True)
    for path in PATHS:
        tvm_ffi.register_global_func(f"s_tir.meta_schedule.cpu.{path.rule}", int8_dense_rule(path.intrinsic),
                                     override=True)


# ------------------------------------------------------------------------------- schedule
def int8_dense_rule(intrinsic: str):
    """The custom MetaSchedule rule of an int8 matmul block ``C[m, *s, n] += a[m, k] * w[...]``.

    Loops: the rows (the group for per-group scales, then the matmul's leading dims), then ``n``
    (output channels, a multiple of 16), ``k`` (reduction, a multiple of 4) last. The last row
    loop is ``m`` (the tokens of a sequence), the others stay outermost (fusing them into ``m``
    gives bindings ``blockize`` cannot divide); ``n`` is split by 16 and ``k`` by 4 into the
    intrinsic's block; ``m`` and ``n / 16`` get four sampled tile levels and ``k / 4`` two (the SSRSRS
    structure of TVM's MultiLevelTilingWithIntrin), the register tile innermost
    (``m3 x n3`` int32 vectors, at most 8 x 4, within the 32 zmm registers).
    """
    def apply(sch, block):
        loops = sch.get_loops(block)
        outer, m, n, k = loops[:-3], loops[-3], loops[-2], loops[-1]
        n_outer, n_inner = sch.split(n, [None, LANES])
        k_outer, k_inner = sch.split(k, [None, REDUCE])
        m0, m1, m2, m3 = sch.split(m, sch.sample_perfect_tile(m, n=4, max_innermost_factor=8))
        n0, n1, n2, n3 = sch.split(n_outer, sch.sample_perfect_tile(n_outer, n=4, max_innermost_factor=4))
        k0, k1 = sch.split(k_outer, sch.sample_perfect_tile(k_outer, n=2, max_innermost_factor=64))
        k1, k_unit = sch.split(k1, [None, 1])
        # the register tile (m3 x n3 accumulators) is unrolled and closed by a unit reduction loop:
        # RewriteParallelVectorizeUnroll vectorizes the innermost spatial loops of a block, and
        # vector lanes around the intrinsic fail to build ("Cannot broadcast lanes=32 to 128")
        sch.reorder(*outer, m0, n0, m1, n1, k0, m2, n2, k1, m3, n3, k_unit, n_inner, k_inner)
        sch.unroll(m3)
        sch.unroll(n3)
        sch.annotate(sch.blockize(n_inner), "meta_schedule.auto_tensorize", intrinsic)
        return [sch]
    return apply


def has_int8_kernel(mod) -> bool:
    """Whether a task's module holds a block annotated for :func:`int8_dense_rule`."""
    from tvm import tirx
    from tvm.s_tir import Schedule

    sch = Schedule(mod)
    for gv, func in mod.functions.items():
        if not isinstance(func, tirx.PrimFunc):
            continue
        sch.work_on(gv.name_hint)
        stack = [sch.get_sblock("root")]
        while stack:
            block = stack.pop()
            if str(sch.get(block).annotations.get("schedule_rule", "")).startswith(RULE_PREFIX):
                return True
            stack.extend(sch.get_child_blocks(block))
    return False


def space_generator(target, mod):
    """The design space of the task ``mod`` on ``target``: ``post-order-apply`` (TVM's default),
    except for a task with an int8 kernel on an LLVM target whose default postprocessors lack
    ``RewriteTensorize`` (targets without AVX-512 BW): the same rules and mutators, with
    ``RewriteTensorize`` added after ``RewriteReductionBlock``, so the kernel is tensorized on
    every x86 path."""
    from tvm.s_tir import meta_schedule as ms

    if target.kind.name != "llvm" or not has_int8_kernel(mod):
        return "post-order-apply"
    default = ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply", task_name="space")
    postprocs = list(default.space_generator.postprocs)
    if not any(p.__class__.__name__ == "RewriteTensorize" for p in postprocs):
        at = next((i + 1 for i, p in enumerate(postprocs) if p.__class__.__name__ == "RewriteReductionBlock"),
                  len(postprocs))
        postprocs.insert(at, ms.postproc.RewriteTensorize(vectorize_init_loop=True))
    else:
        return "post-order-apply"
    return ms.space_generator.PostOrderApply(sch_rules="from-target", postprocs=postprocs,
                                             mutator_probs="from-target")


# ------------------------------------------------------------------------------- TE kernels
def pack_weights(wq):
    """``int8 [K, N] -> [N / 16, K / 4, 16, 4]``: the 16 x 4 blocks the intrinsic loads as one
    64-byte vector (numpy in, numpy out)."""
    k, n = wq.shape
    return wq.T.reshape(n // LANES, LANES, k // REDUCE, REDUCE).transpose(0, 2, 1, 3).copy()


def int8_dense(q, packed, path: KernelPath, groups: int = 1):
    """TE: ``acc[..., n] = sum_k int32(q[..., k]) * int32(w[k, n])`` (``groups`` > 1:
    ``acc[g, ..., n]`` over the k of group g); ``q``: uint8 [..., K], ``packed``: int8
    [N / 16, K / 4, 16, 4] (:func:`pack_weights`). The block is annotated for :func:`int8_dense_rule`."""
    from tvm import te

    lead = [int(d) for d in q.shape[:-1]]
    k_size = int(q.shape[-1])
    n_size = int(packed.shape[0]) * LANES
    attrs = {"schedule_rule": path.rule}

    def product(row, n, k):
        return q[(*row, k)].astype("int32") * packed[n // LANES, k // REDUCE, n % LANES, k % REDUCE].astype("int32")

    if groups == 1:
        k = te.reduce_axis((0, k_size), name="k")
        return te.compute([*lead, n_size], lambda *i: te.sum(product(i[:-1], i[-1], k), axis=k), name="q8_dense",
                          attrs=attrs)
    size = k_size // groups
    k = te.reduce_axis((0, size), name="k")
    return te.compute([groups, *lead, n_size], lambda *i: te.sum(product(i[1:-1], i[-1], i[0] * size + k), axis=k),
                      name="q8_dense", attrs=attrs)
