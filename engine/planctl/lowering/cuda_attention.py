"""Fused attention on CUDA targets (plan technique ``fused-attention``).

``softmax(Q.K^T * scale + mask) . V`` becomes one TIR kernel per layer, FlashAttention-style
IO-aware: each thread block holds one (batch, head)'s K and V in shared memory, keeps the score
rows in registers and writes only the output, so the [B, H, S, S] score and probability tensors
never reach device memory, and the transposes around the attention disappear (the kernel reads Q,
K, V in their [B, S, H*D] projection layout and writes O in the layout the next matmul reads).

What it supports (anything else keeps TVM's unfused route, recorded as ``tvm (fallback)`` with
the reason, in the report's kernel routes):

===============  ===================================================================================
dtypes           float16 Q/K/V/O: tensor cores (``mma.sync.m16n8k16``, fp32 accumulation and fp32
                 softmax); float32: CUDA cores, fp32 throughout (online softmax, one pass over keys,
                 four lanes per query row merged with warp shuffles)
head dim D       float16: a multiple of 16, at most 128; float32: at most 128
sequence S       float16: a multiple of 16, at most 128 (a warp per 16 query rows, one block per
                 batch and head, all keys in one pass); float32: at most 256
mask             none, or an additive float32 mask broadcastable as [B or 1, 1, S or 1, S]
scale            a constant scalar multiply or divide between the two matmuls
===============  ===================================================================================

The kernels are hand-scheduled TIR (TVMScript, already lowered: thread launches, shared and local
buffers, ``ptx mma`` calls), marked ``tirx.is_scheduled`` so neither dlight nor MetaSchedule
re-schedule them. Source of the fragment layouts: PTX ISA, "Matrix Fragments for mma.m16n8k16".
"""
from __future__ import annotations

from dataclasses import dataclass

from planctl.lowering import relax_match as rm
from planctl.lowering.cuda_library import RouteDecision, add_routes

MAX_SEQ = {"float16": 128, "float32": 256}
MAX_HEAD_DIM = 128


@dataclass(frozen=True)
class AttentionSite:
    """One matched attention; ``var`` is the binding it ends at (O in [B, S, H*D])."""

    var: object
    q: object
    k: object
    v: object
    mask: object  # Relax expr, or None
    batch: int
    seq: int
    heads: int
    head_dim: int
    dtype: str
    out_dtype: str
    scale: float
    mask_shape: tuple | None
    fast_exp: bool = False  # the softmax was fast-math's fast_softmax (planctl.lowering.fast_math)

    @property
    def signature(self) -> str:
        mask = "none" if self.mask_shape is None else "x".join(map(str, self.mask_shape))
        return (f"attention B={self.batch} S={self.seq} H={self.heads} D={self.head_dim} "
                f"{self.dtype}->{self.out_dtype} mask={mask}")


class NoMatch(Exception):
    """The chain around a softmax is not an attention this kernel runs; the message says why."""


# ------------------------------------------------------------------ matching
def find_attention(func, unsupported=None) -> tuple[list[AttentionSite], list[str]]:
    """(sites, reasons): each softmax of ``func`` either matched, or the reason it did not.
    ``unsupported(site)``: why a kernel cannot run a matched site, or None (default: the CUDA
    kernels' :func:`why_unsupported`). A softmax is ``relax.nn.softmax``, or fast-math's
    ``fast_softmax`` kernel over the last axis (planctl.lowering.fast_math names it so)."""
    b = rm.collect(func)
    sites, reasons = [], []
    for var in b.order:
        sm = rm.call_of(b, var, "relax.nn.softmax")
        fast = sm is None and _fast_softmax_input(b, var)
        if sm is None and fast is None:
            continue
        try:
            sites.append(_match(b, var, sm, fast, unsupported or why_unsupported))
        except NoMatch as why:
            reasons.append(str(why))
    return sites, reasons


def fallback_routes(matched: list[dict], reasons: list[str]) -> list[dict]:
    """The route rows of a fused-attention pass (CUDA or CPU): ``matched`` rows, then one
    ``tvm (fallback)`` row per reason a softmax did not match; a pass that found no softmax at all
    gets a row saying the technique changed nothing, so the report never says nothing."""
    routes = list(matched) + [RouteDecision("attention", "softmax not fused", reasons.count(why), "tvm (fallback)",
                                            None, None, why).to_dict() for why in dict.fromkeys(reasons)]
    return routes or [RouteDecision("attention", "no softmax in the model", 0, "tvm (fallback)", None, None,
                                    "fused-attention found no attention to fuse: it changed nothing").to_dict()]


def _fast_softmax_input(b: rm.Bindings, var):
    """The input of ``var`` when it is a last-axis ``fast_softmax`` kernel call, else None."""
    from planctl.lowering.fast_math import LAST_AXIS_SOFTMAX

    call = rm.call_of(b, var, "relax.call_tir")
    if call is None or not LAST_AXIS_SOFTMAX.match(call.args[0].name_hint) or len(call.args[1].fields) != 1:
        return None
    return call.args[1].fields[0]


def _single(b: rm.Bindings, var, what: str):
    if b.sole_user(var) is None:
        raise NoMatch(f"{what} is read more than once")
    return b.sole_user(var)


def _strip_casts_back(b: rm.Bindings, expr):
    """Follow ``astype`` producers backwards (each single-use)."""
    while (cast := rm.call_of(b, expr, "relax.astype")) is not None:
        _single(b, cast.args[0], "a cast input")
        expr = cast.args[0]
    return expr


def _skip_casts_forward(b: rm.Bindings, var):
    while (user := b.sole_user(var)) is not None and rm.call_of(b, user, "relax.astype") is not None:
        var = user
    return var


def _projection(b: rm.Bindings, expr, axes: list[int], name: str):
    """``permute_dims(reshape(x2d, [B, S, H, D]), axes)`` -> (x [B, S, H*D], B, S, H, D)."""
    perm = rm.call_of(b, expr, "relax.permute_dims")
    if perm is None or [int(a) for a in perm.attrs.axes] != axes:
        raise NoMatch(f"{name} is not a head split (reshape + permute_dims {axes})")
    _single(b, perm.args[0], f"{name}'s head split")
    reshape = rm.call_of(b, perm.args[0], "relax.reshape")
    if reshape is None:
        raise NoMatch(f"{name} is not reshaped from its projection")
    src, split = rm.tensor_type(reshape.args[0]), rm.tensor_type(perm.args[0])
    if src is None or split is None or len(split[0]) != 4 or len(src[0]) != 3:
        raise NoMatch(f"{name}'s shapes are not static [B, S, H*D] -> [B, S, H, D]")
    (bsz, seq, heads, dim), (sb, ss, hd) = split[0], src[0]
    if (sb, ss, hd) != (bsz, seq, heads * dim):
        raise NoMatch(f"{name}'s reshape is not [B, S, H*D] -> [B, S, H, D]")
    return reshape.args[0], bsz, seq, heads, dim


def _match(b: rm.Bindings, var, sm, fast_input, unsupported) -> AttentionSite:
    if sm is not None and int(sm.attrs.axis) not in (-1, 3):
        raise NoMatch("softmax is not over the last axis")
    x = sm.args[0] if sm is not None else fast_input
    _single(b, x, "the softmax input")
    add = rm.call_of(b, x, "relax.add")
    mask = None
    scores = x
    if add is not None:
        scores, mask = add.args
        if rm.call_of(b, _strip_casts_back(b, scores), "relax.matmul") is None and \
                rm.call_of(b, _strip_casts_back(b, scores), "relax.multiply") is None and \
                rm.call_of(b, _strip_casts_back(b, scores), "relax.divide") is None:
            scores, mask = mask, scores
        _single(b, scores, "the scaled scores")
    scaled = _strip_casts_back(b, scores)
    scale, mm_expr = 1.0, scaled
    for op, invert in (("relax.multiply", False), ("relax.divide", True)):
        call = rm.call_of(b, scaled, op)
        if call is not None:
            value = rm.constant_array(b, call.args[1])
            if value is None or value.size != 1:
                raise NoMatch("the score scale is not a constant scalar")
            scale = 1.0 / float(value.reshape(())) if invert else float(value.reshape(()))
            _single(b, call.args[0], "the raw scores")
            mm_expr = _strip_casts_back(b, call.args[0])
    qk = rm.call_of(b, mm_expr, "relax.matmul")
    if qk is None:
        raise NoMatch("the softmax input is not a scaled Q.K^T matmul")
    q, bsz, seq, heads, dim = _projection(b, qk.args[0], [0, 2, 1, 3], "Q")
    k, *k_shape = _projection(b, qk.args[1], [0, 2, 3, 1], "K")
    if tuple(k_shape) != (bsz, seq, heads, dim):
        raise NoMatch("K's shape differs from Q's (cross attention is not supported)")
    probs = _skip_casts_forward(b, var)
    pv_var = b.sole_user(probs)
    pv = None if pv_var is None else rm.call_of(b, pv_var, "relax.matmul")
    if pv is None or not pv.args[0].same_as(probs):
        raise NoMatch("the probabilities do not feed one P.V matmul")
    v, *v_shape = _projection(b, pv.args[1], [0, 2, 1, 3], "V")
    if tuple(v_shape) != (bsz, seq, heads, dim):
        raise NoMatch("V's shape differs from Q's")
    out = _skip_casts_forward(b, pv_var)
    merge = b.sole_user(out)
    perm = None if merge is None else rm.call_of(b, merge, "relax.permute_dims")
    if perm is None or [int(a) for a in perm.attrs.axes] != [0, 2, 1, 3]:
        raise NoMatch("the output is not merged back to [B, S, H*D]")
    end = b.sole_user(merge)
    if end is None or rm.call_of(b, end, "relax.reshape") is None or \
            rm.tensor_type(end)[0] != (bsz, seq, heads * dim):
        raise NoMatch("the output is not merged back to [B, S, H*D]")
    dtype = rm.tensor_type(q)[1]
    if {rm.tensor_type(k)[1], rm.tensor_type(v)[1]} != {dtype}:
        raise NoMatch("Q, K and V dtypes differ")
    out_dtype = rm.tensor_type(end)[1]
    mask_shape = None
    if mask is not None:
        mt = rm.tensor_type(mask)
        if mt is None or mt[1] != "float32" or len(mt[0]) != 4 or mt[0][1] != 1 or mt[0][3] != seq or \
                mt[0][0] not in (1, bsz) or mt[0][2] not in (1, seq):
            raise NoMatch(f"the mask is not an additive float32 [B|1, 1, S|1, S] tensor ({mt})")
        mask_shape = mt[0]
    site = AttentionSite(var=end, q=q, k=k, v=v, mask=mask, batch=bsz, seq=seq, heads=heads, head_dim=dim,
                         dtype=dtype, out_dtype=out_dtype, scale=scale, mask_shape=mask_shape,
                         fast_exp=sm is None)
    why = unsupported(site)
    if why:
        raise NoMatch(why)
    return site


def why_unsupported(site: AttentionSite) -> str | None:
    """The reason the kernels cannot run ``site``, or None (the table in the module docstring)."""
    if site.dtype not in MAX_SEQ or site.out_dtype not in MAX_SEQ:
        return f"dtype {site.dtype}->{site.out_dtype} (supported: float16, float32)"
    if site.seq > MAX_SEQ[site.dtype]:
        return f"sequence length {site.seq} > {MAX_SEQ[site.dtype]} for {site.dtype}"
    if site.head_dim > MAX_HEAD_DIM:
        return f"head dim {site.head_dim} > {MAX_HEAD_DIM}"
    if site.dtype == "float16" and (site.seq % 16 or site.head_dim % 16):
        return f"float16 needs S and D multiples of 16 (S={site.seq}, D={site.head_dim})"
    return None


# ------------------------------------------------------------------ kernels (TVMScript source)
def kernel_source(site: AttentionSite) -> str:
    """TVMScript of the kernel for ``site`` (a lowered PrimFunc, named ``main``)."""
    return _mma_kernel(site) if site.dtype == "float16" else _simt_kernel(site)


def _mask_term(site: AttentionSite, row: str, col: str) -> str:
    if site.mask_shape is None:
        return "T.float32(0)"
    mb, _, ms, _ = site.mask_shape
    return f"mask[{'bb' if mb > 1 else '0'}, 0, {row if ms > 1 else '0'}, {col}]"


def _signature(site: AttentionSite) -> str:
    B, S, HD = site.batch, site.seq, site.heads * site.head_dim
    params = [f'q: T.Buffer(({B}, {S}, {HD}), "{site.dtype}")', f'k: T.Buffer(({B}, {S}, {HD}), "{site.dtype}")',
              f'v: T.Buffer(({B}, {S}, {HD}), "{site.dtype}")']
    if site.mask_shape is not None:
        params.append(f'mask: T.Buffer({tuple(site.mask_shape)}, "float32")')
    params.append(f'o: T.Buffer(({B}, {S}, {HD}), "{site.out_dtype}")')
    return ", ".join(params)


_HEADER = '''# from tvm.script import tirx as T
@T.prim_func(private=True)
def main({params}):
    T.func_attr({{"tirx.is_scheduled": True, "tirx.noalias": True, "op_pattern": 8,
                 "planctl.kernel": "{kind}"}})
'''


def _mma_kernel(site: AttentionSite) -> str:
    """float16: one block per (batch, head), one warp per 16 query rows, mma.m16n8k16."""
    S, H, D = site.seq, site.heads, site.head_dim
    warps, nt, nk, nd, kp = S // 16, S // 8, D // 16, D // 8, D + 8  # kp: padded smem row (no bank conflicts)
    threads = 32 * warps
    vec_per_row = D // 8
    copies = -(-S * vec_per_row // threads)
    out_cast = "T.float16" if site.out_dtype == "float16" else "T.float32"
    mask_r0 = _mask_term(site, "r0 + g", "j * 8 + t * 2 + e")
    mask_r8 = _mask_term(site, "r0 + g + 8", "j * 8 + t * 2 + e")
    return _HEADER.format(params=_signature(site), kind="fused-attention-mma") + f'''
    with T.launch_thread("blockIdx.x", {site.batch * H}) as bx:
        k_s = T.alloc_shared(({S * kp},), "float16")
        v_s = T.alloc_shared(({S * kp},), "float16")
        with T.launch_thread("threadIdx.x", {threads}) as tx:
            qa = T.alloc_local(({nk * 8},), "float16")
            kb = T.alloc_local((4,), "float16")
            pa = T.alloc_local((8,), "float16")
            vb = T.alloc_local((4,), "float16")
            acc = T.alloc_local(({nt * 4},), "float32")
            oacc = T.alloc_local(({nd * 4},), "float32")
            stat = T.alloc_local((4,), "float32")
            lanes = T.alloc_local((1,), "uint32")
            bb: T.int32 = bx // {H}
            hh: T.int32 = bx % {H}
            for c in T.serial({copies}):
                if c * {threads} + tx < {S * vec_per_row}:
                    for e in T.vectorized(8):
                        k_s[((c * {threads} + tx) // {vec_per_row}) * {kp} + ((c * {threads} + tx) % {vec_per_row}) * 8 + e] = k[bb, (c * {threads} + tx) // {vec_per_row}, hh * {D} + ((c * {threads} + tx) % {vec_per_row}) * 8 + e]
                    for e in T.vectorized(8):
                        v_s[((c * {threads} + tx) // {vec_per_row}) * {kp} + ((c * {threads} + tx) % {vec_per_row}) * 8 + e] = v[bb, (c * {threads} + tx) // {vec_per_row}, hh * {D} + ((c * {threads} + tx) % {vec_per_row}) * 8 + e]
            T.tvm_storage_sync("shared")
            r0: T.int32 = (tx // 32) * 16
            g: T.int32 = (tx % 32) // 4
            t: T.int32 = tx % 4
            for kk in T.unroll({nk}):
                for e in T.unroll(2):
                    qa[kk * 8 + e] = q[bb, r0 + g, hh * {D} + kk * 16 + t * 2 + e]
                    qa[kk * 8 + 2 + e] = q[bb, r0 + g + 8, hh * {D} + kk * 16 + t * 2 + e]
                    qa[kk * 8 + 4 + e] = q[bb, r0 + g, hh * {D} + kk * 16 + 8 + t * 2 + e]
                    qa[kk * 8 + 6 + e] = q[bb, r0 + g + 8, hh * {D} + kk * 16 + 8 + t * 2 + e]
            for j in T.unroll({nt}):
                for e in T.unroll(4):
                    acc[j * 4 + e] = T.float32(0)
                for kk in T.unroll({nk}):
                    for e in T.unroll(2):
                        kb[e] = k_s[(j * 8 + g) * {kp} + kk * 16 + t * 2 + e]
                        kb[2 + e] = k_s[(j * 8 + g) * {kp} + kk * 16 + 8 + t * 2 + e]
                    T.evaluate(T.ptx_legacy.mma("m16n8k16", "row", "col", "fp16", "fp16", "fp32", qa.data, kk * 8, kb.data, 0, acc.data, j * 4, False, dtype="float32"))
            stat[0] = T.min_value("float32")
            stat[1] = T.min_value("float32")
            for j in T.unroll({nt}):
                for e in T.unroll(2):
                    acc[j * 4 + e] = acc[j * 4 + e] * T.float32({site.scale!r}) + {mask_r0}
                    acc[j * 4 + 2 + e] = acc[j * 4 + 2 + e] * T.float32({site.scale!r}) + {mask_r8}
                    stat[0] = T.max(stat[0], acc[j * 4 + e])
                    stat[1] = T.max(stat[1], acc[j * 4 + 2 + e])
            lanes[0] = T.tvm_warp_activemask()
            for r in T.unroll(2):
                stat[r] = T.max(stat[r], T.tvm_warp_shuffle_xor(lanes[0], stat[r], 1, 32, 32))
                stat[r] = T.max(stat[r], T.tvm_warp_shuffle_xor(lanes[0], stat[r], 2, 32, 32))
            stat[2] = T.float32(0)
            stat[3] = T.float32(0)
            for j in T.unroll({nt}):
                for e in T.unroll(2):
                    acc[j * 4 + e] = T.exp(acc[j * 4 + e] - stat[0])
                    acc[j * 4 + 2 + e] = T.exp(acc[j * 4 + 2 + e] - stat[1])
                    stat[2] = stat[2] + acc[j * 4 + e]
                    stat[3] = stat[3] + acc[j * 4 + 2 + e]
            for r in T.unroll(2):
                stat[2 + r] = stat[2 + r] + T.tvm_warp_shuffle_xor(lanes[0], stat[2 + r], 1, 32, 32)
                stat[2 + r] = stat[2 + r] + T.tvm_warp_shuffle_xor(lanes[0], stat[2 + r], 2, 32, 32)
            for n in T.unroll({nd * 4}):
                oacc[n] = T.float32(0)
            for kk in T.unroll({S // 16}):
                for e in T.unroll(4):
                    pa[e] = T.Cast("float16", acc[kk * 8 + e])
                    pa[4 + e] = T.Cast("float16", acc[kk * 8 + 4 + e])
                for n in T.unroll({nd}):
                    for e in T.unroll(2):
                        vb[e] = v_s[(kk * 16 + t * 2 + e) * {kp} + n * 8 + g]
                        vb[2 + e] = v_s[(kk * 16 + 8 + t * 2 + e) * {kp} + n * 8 + g]
                    T.evaluate(T.ptx_legacy.mma("m16n8k16", "row", "col", "fp16", "fp16", "fp32", pa.data, 0, vb.data, 0, oacc.data, n * 4, False, dtype="float32"))
            for n in T.unroll({nd}):
                for e in T.unroll(2):
                    o[bb, r0 + g, hh * {D} + n * 8 + t * 2 + e] = {out_cast}(oacc[n * 4 + e] / stat[2])
                    o[bb, r0 + g + 8, hh * {D} + n * 8 + t * 2 + e] = {out_cast}(oacc[n * 4 + 2 + e] / stat[3])
'''


KEY_SPLIT = 4  # CUDA-core kernel: lanes that share one query row, each over every 4th key


def _simt_kernel(site: AttentionSite) -> str:
    """float32 (or any dtype through fp32): one block per (batch, head); each query row is shared by
    KEY_SPLIT adjacent lanes, each running an online softmax over every KEY_SPLIT-th key from shared
    memory (row stride D+1: the lanes read distinct banks), merged with warp shuffles at the end."""
    S, H, D, ks = site.seq, site.heads, site.head_dim, KEY_SPLIT
    threads = -(-S * ks // 32) * 32
    stride = D + 1
    out_cast = "T.float16" if site.out_dtype == "float16" else "T.float32"
    mask = _mask_term(site, "row", "j * %d + part" % ks)
    steps = -(-S // ks)
    shuffles = "\n".join(
        f"""            for d in T.unroll({D}):
                accv[d] = accv[d] + T.tvm_warp_shuffle_xor(lanes[0], accv[d], {w}, 32, 32)
            st[1] = st[1] + T.tvm_warp_shuffle_xor(lanes[0], st[1], {w}, 32, 32)""" for w in (1, 2))
    return _HEADER.format(params=_signature(site), kind="fused-attention-simt") + f'''
    with T.launch_thread("blockIdx.x", {site.batch * H}) as bx:
        k_s = T.alloc_shared(({S * stride},), "float32")
        v_s = T.alloc_shared(({S * stride},), "float32")
        with T.launch_thread("threadIdx.x", {threads}) as tx:
            qr = T.alloc_local(({D},), "float32")
            accv = T.alloc_local(({D},), "float32")
            st = T.alloc_local((6,), "float32")
            lanes = T.alloc_local((1,), "uint32")
            bb: T.int32 = bx // {H}
            hh: T.int32 = bx % {H}
            row: T.int32 = tx // {ks}
            part: T.int32 = tx % {ks}
            for c in T.serial({-(-S * D // threads)}):
                if c * {threads} + tx < {S * D}:
                    k_s[((c * {threads} + tx) // {D}) * {stride} + (c * {threads} + tx) % {D}] = T.Cast("float32", k[bb, (c * {threads} + tx) // {D}, hh * {D} + (c * {threads} + tx) % {D}])
                    v_s[((c * {threads} + tx) // {D}) * {stride} + (c * {threads} + tx) % {D}] = T.Cast("float32", v[bb, (c * {threads} + tx) // {D}, hh * {D} + (c * {threads} + tx) % {D}])
            T.tvm_storage_sync("shared")
            st[0] = T.min_value("float32")
            st[1] = T.float32(0)
            for d in T.unroll({D}):
                accv[d] = T.float32(0)
            if row < {S}:
                for d in T.unroll({D}):
                    qr[d] = T.Cast("float32", q[bb, row, hh * {D} + d]) * T.float32({site.scale!r})
                for j in T.serial({steps}):
                    if j * {ks} + part < {S}:
                        st[2] = T.float32(0)
                        for d in T.unroll({D}):
                            st[2] = st[2] + qr[d] * k_s[(j * {ks} + part) * {stride} + d]
                        st[2] = st[2] + {mask}
                        st[3] = T.max(st[0], st[2])
                        st[4] = T.exp(st[0] - st[3])
                        st[2] = T.exp(st[2] - st[3])
                        st[1] = st[1] * st[4] + st[2]
                        for d in T.unroll({D}):
                            accv[d] = accv[d] * st[4] + st[2] * v_s[(j * {ks} + part) * {stride} + d]
                        st[0] = st[3]
            lanes[0] = T.tvm_warp_activemask()
            st[5] = T.max(st[0], T.tvm_warp_shuffle_xor(lanes[0], st[0], 1, 32, 32))
            st[5] = T.max(st[5], T.tvm_warp_shuffle_xor(lanes[0], st[5], 2, 32, 32))
            st[4] = T.exp(st[0] - st[5])
            st[1] = st[1] * st[4]
            for d in T.unroll({D}):
                accv[d] = accv[d] * st[4]
{shuffles}
            if row < {S}:
                for d in T.unroll({D}):
                    if d % {ks} == part:
                        o[bb, row, hh * {D} + d] = {out_cast}(accv[d] / st[1])
'''


def flops(site: AttentionSite) -> int:
    """Q.K^T and P.V multiply-adds: 2 * 2 * B * H * S * S * D (softmax and scaling not counted)."""
    return 4 * site.batch * site.heads * site.seq * site.seq * site.head_dim


def parse_kernel(source: str):
    """The PrimFunc of a kernel's TVMScript ``source`` (a function named ``main``)."""
    import tvm

    parsed = tvm.script.from_source(source)
    return parsed["main"] if isinstance(parsed, tvm.IRModule) else parsed


def kernel(site: AttentionSite):
    """The parsed PrimFunc for ``site``."""
    return parse_kernel(kernel_source(site))


# ------------------------------------------------------------------ the pass
def fused_attention_pass():
    """Module pass of the ``fused-attention`` technique: each matched attention becomes a
    ``call_tir`` of its kernel; every softmax that did not match is recorded as a fallback."""
    import tvm
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name="planctl.FusedAttention")
    def run(mod, _ctx):
        sites, reasons = find_attention(mod["main"])
        by_signature = {s.signature: s for s in sites}
        if by_signature:
            bb = relax.BlockBuilder(mod)
            kernels = {sig: bb.add_func(kernel(site).with_attr("planctl.flops", float(flops(site))),
                                        f"planctl_attention_{i}")
                       for i, (sig, site) in enumerate(by_signature.items())}
            replacements = {}
            for site in sites:
                shape = (site.batch, site.seq, site.heads * site.head_dim)
                args = [site.q, site.k, site.v] + ([site.mask] if site.mask is not None else [])
                replacements[site.var] = relax.call_tir(kernels[site.signature], args,
                                                        relax.TensorType(shape, site.out_dtype))
            mod = rm.replace_bindings(bb.get(), replacements)
        matched = [RouteDecision("attention", sig, sum(1 for s in sites if s.signature == sig),
                                 "tir-fused-attention", None, None,
                                 "matched; kernel " + ("mma.m16n8k16 tensor cores" if site.dtype == "float16"
                                                       else "CUDA cores, online softmax")).to_dict()
                   for sig, site in by_signature.items()]
        return add_routes(mod, fallback_routes(matched, reasons))
    return run
