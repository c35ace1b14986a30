"""The target's float32 SIMD unit, as planctl's hand-written CPU kernels (planctl.lowering.cpu_attention)
and the register-tile sweep (planctl.tuning.sweep) size their register blocks by it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VectorUnit:
    """The target's float32 SIMD registers: ``lanes`` per register, ``registers`` architectural ones;
    ``rows``: query rows per block, the first that divides S is taken; ``chunk_registers``: the
    registers one row of a Q.K^T block may take (its keys: at most that many registers' lanes).

    The block sizes are measured, not derived (the kernel alone at MiniLM's attentions, B x S =
    1 x 64, 32 x 16, 8 x 128 and 32 x 128, H = 12, D = 32, 2 threads): on an Intel Xeon with AVX-512
    (2026-12-03) 8 rows x 16 keys ran 1.05-2.2x faster than 4 x 32 (the largest block that fits) at
    every shape, and 8 x 32, 4 x 64 and 16 x 16 were slower than both; the AVX2 build on the same host
    was fastest at 4 rows x 16 keys, ahead of 8 x 8 by 18%."""

    lanes: int
    registers: int
    rows: tuple[int, ...]
    chunk_registers: int

    @property
    def accumulators(self) -> int:
        """Registers a block's accumulators may take: 4 stay free for the broadcast operand, the
        loaded row and the loop's addresses, or LLVM spills accumulators to the stack, and each
        FMA then waits on a store-to-load round trip (the AVX2 profile at 4 rows x 32 keys: 16
        accumulators, the Q.K^T and P.V loops 2-3x slower than their FMA count)."""
        return self.registers - 4


AVX512 = VectorUnit(lanes=16, registers=32, rows=(8, 4, 2, 1), chunk_registers=1)
AVX2 = VectorUnit(lanes=8, registers=16, rows=(4, 2, 1), chunk_registers=2)


def vector_unit(target) -> VectorUnit:
    """AVX-512 when the LLVM target has ``avx512f`` (e.g. mcpu cascadelake, znver4), else AVX2's 16
    registers of 8 lanes (the x86-64 baseline this kernel is written for); the feature test is
    planctl.lowering.int8_kernels.kernel_path's."""
    from tvm.target import codegen

    return AVX512 if codegen.llvm_cpu_has_features("avx512f", target) else AVX2

