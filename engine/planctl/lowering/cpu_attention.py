"""Fused attention on CPU targets (plan technique ``fused-attention`` on an ``llvm`` target).

``softmax(Q.K^T * scale + mask) . V`` becomes one TIR kernel per layer, parallel over (batch,
head): each iteration copies its head's Q, and its K transposed into a [D, S] buffer (16 KB at
MiniLM's S = 128, D = 32: they stay in L1), then per block of query rows computes their score rows,
their softmax and their rows of P.V, and writes only those output rows. The [B, H, S, S]
scores and probabilities (25 MB at 32 x 128 for MiniLM) are never written, the head transposes
around the attention disappear (Q, K and V are read in their [B, S, H*D] projection layout, through
a column offset when they are slices of one fused Q/K/V matmul, planctl.lowering.horizontal), and
three kernels plus four transposes per layer become one.

Why: the CPU profile of the tuned MiniLM build (AMD EPYC Zen 5, x86-64-avx512) had the three
attention kernels (Q.K^T with the mask, softmax, P.V) at 20% of the call at S = 128, against 13%
for OpenVINO's fused MHA subgraph on the same host (bench/README.md).

The matcher is the CUDA kernel's (planctl.lowering.cuda_attention.find_attention); what differs is
what the kernel supports: float32 only, S and D up to :data:`MAX_SEQ` and :data:`MAX_HEAD_DIM`.
The exponent is TVM's ``fast_exp`` polynomial (topi/elemwise.h, the same one ``fast_softmax``
uses) when the plan's ``fast-math`` turned the softmax into ``fast_softmax``, else ``T.exp``.
The kernel is marked ``tirx.is_scheduled``: MetaSchedule does not search it.
"""
from __future__ import annotations

from planctl.lowering import relax_match as rm
from planctl.lowering.cuda_attention import AttentionSite, fallback_routes, find_attention, flops, parse_kernel
from planctl.lowering.cuda_library import RouteDecision, add_routes
from planctl.lowering.vector_unit import AVX512, VectorUnit, vector_unit

MAX_SEQ = 512        # the score row lives in a [S] buffer per iteration (2 KB)
MAX_HEAD_DIM = 256   # K^T of one head: D * S * 4 bytes, 512 KB at the limits (in L2)


def why_unsupported(site: AttentionSite) -> str | None:
    """The reason the CPU kernel cannot run ``site``, or None."""
    if site.dtype != "float32" or site.out_dtype != "float32":
        return f"dtype {site.dtype}->{site.out_dtype} (the CPU kernel is float32)"
    if site.seq > MAX_SEQ:
        return f"sequence length {site.seq} > {MAX_SEQ}"
    if site.head_dim > MAX_HEAD_DIM:
        return f"head dim {site.head_dim} > {MAX_HEAD_DIM}"
    return None


def _exp(x: str, fast: bool) -> str:
    """TVMScript of e^x: TVM's fast_exp (topi/include/tvm/topi/elemwise.h: clamp to +-88.376,
    2^n by exponent bits, a degree-7 polynomial on the remainder), or T.exp."""
    if not fast:
        return f"T.exp({x})"
    c = f"T.max(T.min({x}, T.float32(88.3762626647950)), T.float32(-88.3762626647949))"
    n = f"T.floor({c} * T.float32(1.44269504088896341) + T.float32(0.5))"
    f = f"({c} - {n} * T.float32(0.6931471805599453))"
    poly = f"T.float32(1.9875691500e-4)"
    for coef in ("1.3981999507e-3", "8.3334519073e-3", "4.1665795894e-2", "1.6666665459e-1", "5.0000001201e-1"):
        poly = f"({poly} * {f} + T.float32({coef}))"
    y = f"({poly} * {f} * {f} + {f} + T.float32(1))"
    two_n = f'T.reinterpret("float32", T.shift_left(T.Cast("int32", {n} + T.float32(127)), 23))'
    return f"T.max({two_n} * {y}, {x})"


CHUNK = (32, 16, 8, 4, 2, 1)  # keys per Q.K^T block


def tiles(seq: int, head_dim: int, unit: VectorUnit) -> tuple[int, int, int]:
    """(query rows per block, keys per Q.K^T block, head-dim columns per P.V block): ``unit``'s rows,
    then the largest blocks whose accumulators (rows x columns / lanes registers) fit
    ``unit.accumulators``, a Q.K^T row within ``unit.chunk_registers``."""
    def registers(rows, width):
        return rows * -(-width // unit.lanes)

    rows = next((n for n in unit.rows if seq % n == 0), 1)
    chunk = next((n for n in CHUNK if seq % n == 0 and registers(1, n) <= unit.chunk_registers
                  and registers(rows, n) <= unit.accumulators), 1)
    columns = next((n for n in range(head_dim, 0, -1)
                    if head_dim % n == 0 and registers(rows, n) <= unit.accumulators), 1)
    return rows, chunk, columns


def kernel_source(site: AttentionSite, sources: dict, unit: VectorUnit = AVX512) -> str:
    """TVMScript of the kernel (a PrimFunc named ``main``). ``sources``: for ``q``, ``k``, ``v``,
    (width of the tensor it is read from, column offset in it); ``unit``: the registers the
    blocks are sized for (:func:`tiles`).

    Per (batch, head), in parallel: the head's K and Q copied row by row with vector loads (their
    first touch: a scalar strided read of K while transposing it took a third of the kernel at
    32 x 128, waiting on cache misses one at a time), K^T into ``kt`` [D, S] from that copy; then
    per block of ``rows`` query rows, Q.K^T in blocks of ``chunk`` keys whose ``rows x chunk`` accumulators are a
    small stack buffer (LLVM keeps it in vector registers: a buffer over 1 KB would be a workspace
    allocation it cannot prove unaliased), the rows' softmax over ``sc``, and P.V per block of
    ``cols`` head-dim columns with ``rows x cols`` accumulators, each loaded V row feeding every row
    of the block."""
    B, S, H, D = site.batch, site.seq, site.heads, site.head_dim
    rows, chunk, cols = tiles(S, D, unit)
    (qw, qo), (kw, ko), (vw, vo) = sources["q"], sources["k"], sources["v"]
    params = [f'q: T.Buffer(({B}, {S}, {qw}), "float32")', f'k: T.Buffer(({B}, {S}, {kw}), "float32")',
              f'v: T.Buffer(({B}, {S}, {vw}), "float32")']
    mask = "T.float32(0)"
    if site.mask_shape is not None:
        params.append(f'mask: T.Buffer({tuple(site.mask_shape)}, "float32")')
        mb, _, ms, _ = site.mask_shape
        mask = f"mask[{'bb' if mb > 1 else '0'}, 0, {'io * %d + r' % rows if ms > 1 else '0'}, jo * {chunk} + ji]"
    params.append(f'o: T.Buffer(({B}, {S}, {H * D}), "float32")')
    fast = getattr(site, "fast_exp", False)
    row = f"(io * {rows} + r)"
    return f'''# from tvm.script import tirx as T
@T.prim_func(private=True)
def main({", ".join(params)}):
    T.func_attr({{"tirx.is_scheduled": True, "tirx.noalias": True, "op_pattern": 8,
                 "planctl.kernel": "fused-attention-cpu"}})
    for bh in T.parallel({B * H}):
        kr = T.alloc_local(({D * S},), "float32")
        qr = T.alloc_local(({D * S},), "float32")
        kt = T.alloc_local(({D * S},), "float32")
        sc = T.alloc_local(({rows * S},), "float32")
        blk = T.alloc_local(({rows * chunk},), "float32")
        part = T.alloc_local(({rows * chunk},), "float32")
        acc = T.alloc_local(({rows * cols},), "float32")
        st = T.alloc_local(({2 * rows},), "float32")
        bb: T.int32 = bh // {H}
        hh: T.int32 = bh % {H}
        for j in range({S}):
            for d in T.vectorized({D}):
                kr[j * {D} + d] = k[bb, j, {ko} + hh * {D} + d]
                qr[j * {D} + d] = q[bb, j, {qo} + hh * {D} + d]
        for j in range({S}):
            for d in range({D}):
                kt[d * {S} + j] = kr[j * {D} + d]
        for io in range({S // rows}):
            for r in T.unroll({rows}):
                for ji in T.vectorized({chunk}):
                    part[r * {chunk} + ji] = T.min_value("float32")
            for jo in range({S // chunk}):
                for r in T.unroll({rows}):
                    for ji in T.vectorized({chunk}):
                        blk[r * {chunk} + ji] = T.float32(0)
                for d in range({D}):
                    for r in T.unroll({rows}):
                        for ji in T.vectorized({chunk}):
                            blk[r * {chunk} + ji] = blk[r * {chunk} + ji] + qr[{row} * {D} + d] * kt[d * {S} + jo * {chunk} + ji]
                for r in T.unroll({rows}):
                    for ji in T.vectorized({chunk}):
                        sc[r * {S} + jo * {chunk} + ji] = blk[r * {chunk} + ji] * T.float32({float(site.scale)!r}) + {mask}
                        part[r * {chunk} + ji] = T.max(part[r * {chunk} + ji], sc[r * {S} + jo * {chunk} + ji])
            for r in range({rows}):
                st[r] = part[r * {chunk}]
                for ji in range(1, {chunk}):
                    st[r] = T.max(st[r], part[r * {chunk} + ji])
                for ji in T.vectorized({chunk}):
                    part[r * {chunk} + ji] = T.float32(0)
                for jo in range({S // chunk}):
                    for ji in T.vectorized({chunk}):
                        sc[r * {S} + jo * {chunk} + ji] = {_exp(f"(sc[r * {S} + jo * {chunk} + ji] - st[r])", fast)}
                        part[r * {chunk} + ji] = part[r * {chunk} + ji] + sc[r * {S} + jo * {chunk} + ji]
                st[{rows} + r] = part[r * {chunk}]
                for ji in range(1, {chunk}):
                    st[{rows} + r] = st[{rows} + r] + part[r * {chunk} + ji]
            for dh in range({D // cols}):
                for r in T.unroll({rows}):
                    for d in T.vectorized({cols}):
                        acc[r * {cols} + d] = T.float32(0)
                for j in range({S}):
                    for r in T.unroll({rows}):
                        for d in T.vectorized({cols}):
                            acc[r * {cols} + d] = acc[r * {cols} + d] + sc[r * {S} + j] * v[bb, j, {vo} + hh * {D} + dh * {cols} + d]
                for r in T.unroll({rows}):
                    for d in T.vectorized({cols}):
                        o[bb, {row}, hh * {D} + dh * {cols} + d] = acc[r * {cols} + d] / st[{rows} + r]
'''


def kernel(site: AttentionSite, sources: dict, unit: VectorUnit = AVX512):
    """The parsed PrimFunc for ``site`` (see :func:`kernel_source`)."""
    return parse_kernel(kernel_source(site, sources, unit))


def _ints(expr) -> list[int]:
    return [int(getattr(f, "value", f)) for f in expr.fields]


def operand_source(b: rm.Bindings, expr, site: AttentionSite) -> tuple[object, int, int]:
    """(tensor the kernel reads, its last-axis width, column offset) for Q, K or V (``expr``, a
    [B, S, H*D] tensor): the source of a unit-stride last-axis slice of a static [B, S, W] tensor
    (horizontal fusion's Q/K/V slices), so that the slice is never copied; else ``expr`` itself."""
    width = site.heads * site.head_dim
    sliced = rm.call_of(b, expr, "relax.strided_slice")
    if sliced is None or len(sliced.args) > 4:   # a fifth argument: explicit strides
        return expr, width, 0
    found = rm.tensor_type(sliced.args[0])
    axes, begin, end = (_ints(a) for a in sliced.args[1:4])
    if found is None or len(found[0]) != 3 or found[0][:2] != (site.batch, site.seq) or len(axes) != 1:
        return expr, width, 0
    if axes[0] % 3 != 2 or not 0 <= begin[0] <= found[0][2] - width or end[0] - begin[0] != width:
        return expr, width, 0
    return sliced.args[0], found[0][2], begin[0]


def fused_attention_pass(target):
    """Module pass of ``fused-attention`` on the CPU ``target`` (a tvm.target.Target): each matched
    attention becomes a ``call_tir`` of its kernel, its blocks sized for the target's registers;
    every softmax that did not match is recorded as a fallback."""
    import tvm
    from tvm import relax

    unit = vector_unit(target)

    @tvm.transform.module_pass(opt_level=0, name="planctl.FusedAttentionCPU")
    def run(mod, _ctx):
        b = rm.collect(mod["main"])
        sites, reasons = find_attention(mod["main"], why_unsupported)
        bb, kernels, replacements, counts = relax.BlockBuilder(mod), {}, {}, {}
        for site in sites:
            found = {name: operand_source(b, getattr(site, name), site) for name in "qkv"}
            layout = {name: (width, offset) for name, (_src, width, offset) in found.items()}
            key = (site.signature, site.fast_exp, tuple(layout.values()))
            if key not in kernels:
                kernels[key] = bb.add_func(kernel(site, layout, unit).with_attr("planctl.flops", float(flops(site))),
                                           f"planctl_attention_cpu_{len(kernels)}")
            counts[site.signature] = counts.get(site.signature, 0) + 1
            args = [found[name][0] for name in "qkv"] + ([site.mask] if site.mask is not None else [])
            shape = (site.batch, site.seq, site.heads * site.head_dim)
            replacements[site.var] = relax.call_tir(kernels[key], args, relax.TensorType(shape, "float32"))
        if replacements:
            mod = rm.replace_bindings(bb.get(), replacements)
        matched = [RouteDecision("attention", sig, n, "tir-fused-attention", None, None,
                                 "matched; CPU kernel, parallel over batch x heads, scores kept per query "
                                 "block").to_dict() for sig, n in counts.items()]
        return add_routes(mod, fallback_routes(matched, reasons))
    return run
