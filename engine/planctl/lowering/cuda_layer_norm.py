"""LayerNorm with its cast epilogue as one kernel on CUDA targets (plan technique ``fused-layer-norm``).

Mixed precision keeps ``layer_norm`` in float32 (the residual stream) and casts its output to
float16 for the next matmul: TVM runs that as two kernels, the cast reading the whole float32
output back. Here one warp normalizes one row in registers (16-byte loads and stores) and writes
the float32 output and, when the graph casts it, the float16 copy in the same pass.

Supported: float32 input of shape [..., C] with C a multiple of 128 and at most 2048, normalization
over the last axis with constant gamma and beta (``center`` and ``scale``), population variance:
``(x - mean) * rsqrt(var + eps) * gamma + beta`` exactly as TVM's legalization computes it. Any other
``layer_norm`` keeps TVM's kernel (recorded as a ``tvm (fallback)`` route with the reason).
"""
from __future__ import annotations

from dataclasses import dataclass

from planctl.lowering import relax_match as rm
from planctl.lowering.cuda_library import RouteDecision, add_routes

WARPS_PER_BLOCK = 8


@dataclass(frozen=True)
class LayerNormSite:
    var: object  # the layer_norm binding
    cast: object  # the binding of its float16 cast, or None
    x: object
    gamma: object  # numpy [C] float32
    beta: object
    rows: int
    channels: int
    eps: float
    shape: tuple

    @property
    def signature(self) -> str:
        return f"layer_norm rows={self.rows} C={self.channels} float32" + (" +float16 copy" if self.cast is not None else "")


def find_layer_norms(func) -> tuple[list[LayerNormSite], list[str]]:
    b = rm.collect(func)
    sites, reasons = [], []
    for var in b.order:
        ln = rm.call_of(b, var, "relax.nn.layer_norm")
        if ln is None:
            continue
        why, site = _match(b, var, ln)
        if site is None:
            reasons.append(why)
        else:
            sites.append(site)
    return sites, reasons


def _match(b: rm.Bindings, var, ln):
    xt = rm.tensor_type(ln.args[0])
    gamma, beta = rm.constant_array(b, ln.args[1]), rm.constant_array(b, ln.args[2])
    if xt is None or xt[1] != "float32":
        return "input is not a static float32 tensor", None
    shape, channels = xt[0], xt[0][-1]
    axes = [int(a) for a in ln.attrs.axes]
    if axes not in ([-1], [len(shape) - 1]) or not (bool(ln.attrs.center) and bool(ln.attrs.scale)):
        return "not a last-axis layer_norm with gamma and beta", None
    if gamma is None or beta is None:
        return "gamma or beta is not a constant", None
    if channels % 128 or channels > 2048:
        return f"C={channels} (supported: a multiple of 128, at most 2048)", None
    casts = [u for u in b.users.get(var, []) if u is not None and rm.call_of(b, u, "relax.astype") is not None
             and str(rm.call_of(b, u, "relax.astype").attrs.dtype) == "float16"]
    rows = 1
    for d in shape[:-1]:
        rows *= d
    return None, LayerNormSite(var=var, cast=casts[0] if casts else None, x=ln.args[0],
                               gamma=gamma.astype("float32"), beta=beta.astype("float32"), rows=rows,
                               channels=channels, eps=float(ln.attrs.epsilon), shape=tuple(shape))


def kernel_source(site: LayerNormSite) -> str:
    """TVMScript of the kernel: one warp per row, C/128 float4 per lane, shuffles for the sums."""
    R, C = site.rows, site.channels
    vecs = C // 128
    blocks = -(-R // WARPS_PER_BLOCK)
    shape = tuple(site.shape)
    half_out = (f', y16_nd: T.Buffer({shape}, "float16")') if site.cast is not None else ""
    half_flat = (f'\n    y16 = T.decl_buffer(({R * C},), "float16", data=y16_nd.data)' if site.cast is not None else "")
    write16 = ("\n                    for e in T.vectorized(4):\n"
               f"                        y16[row * {C} + v * 128 + lane * 4 + e] = T.Cast(\"float16\", xr[v * 4 + e])"
               if site.cast is not None else "")
    return f'''# from tvm.script import tirx as T
@T.prim_func(private=True)
def main(x_nd: T.Buffer({shape}, "float32"), gamma: T.Buffer(({C},), "float32"), beta: T.Buffer(({C},), "float32"), y_nd: T.Buffer({shape}, "float32"){half_out}):
    T.func_attr({{"tirx.is_scheduled": True, "tirx.noalias": True, "op_pattern": 8, "planctl.kernel": "fused-layer-norm"}})
    x = T.decl_buffer(({R * C},), "float32", data=x_nd.data)
    y = T.decl_buffer(({R * C},), "float32", data=y_nd.data){half_flat}
    with T.launch_thread("blockIdx.x", {blocks}) as bx:
        with T.launch_thread("threadIdx.x", {32 * WARPS_PER_BLOCK}) as tx:
            xr = T.alloc_local(({vecs * 4},), "float32")
            st = T.alloc_local((2,), "float32")
            lanes = T.alloc_local((1,), "uint32")
            row: T.int32 = bx * {WARPS_PER_BLOCK} + tx // 32
            lane: T.int32 = tx % 32
            if row < {R}:
                st[0] = T.float32(0)
                for v in T.unroll({vecs}):
                    for e in T.vectorized(4):
                        xr[v * 4 + e] = x[row * {C} + v * 128 + lane * 4 + e]
                for i in T.unroll({vecs * 4}):
                    st[0] = st[0] + xr[i]
                lanes[0] = T.tvm_warp_activemask()
                for s in T.unroll(5):
                    st[0] = st[0] + T.tvm_warp_shuffle_xor(lanes[0], st[0], T.shift_left(1, s), 32, 32)
                st[0] = st[0] * T.float32({1.0 / C!r})
                st[1] = T.float32(0)
                for i in T.unroll({vecs * 4}):
                    xr[i] = xr[i] - st[0]
                    st[1] = st[1] + xr[i] * xr[i]
                for s in T.unroll(5):
                    st[1] = st[1] + T.tvm_warp_shuffle_xor(lanes[0], st[1], T.shift_left(1, s), 32, 32)
                st[1] = T.rsqrt(st[1] * T.float32({1.0 / C!r}) + T.float32({site.eps!r}))
                for v in T.unroll({vecs}):
                    for e in T.unroll(4):
                        xr[v * 4 + e] = xr[v * 4 + e] * st[1] * gamma[v * 128 + lane * 4 + e] + beta[v * 128 + lane * 4 + e]
                    for e in T.vectorized(4):
                        y[row * {C} + v * 128 + lane * 4 + e] = xr[v * 4 + e]{write16}
'''


def kernel(site: LayerNormSite):
    import tvm

    parsed = tvm.script.from_source(kernel_source(site))
    return parsed["main"] if isinstance(parsed, tvm.IRModule) else parsed


def fused_layer_norm_pass():
    """Module pass of the ``fused-layer-norm`` technique."""
    import tvm
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name="planctl.FusedLayerNorm")
    def run(mod, _ctx):
        sites, reasons = find_layer_norms(mod["main"])
        by_signature = {s.signature: s for s in sites}
        if by_signature:
            bb = relax.BlockBuilder(mod)
            kernels = {sig: bb.add_func(kernel(site).with_attr("planctl.flops", float(8 * site.rows * site.channels)),
                                        f"planctl_layer_norm_{i}")
                       for i, (sig, site) in enumerate(by_signature.items())}
            replacements, preludes = {}, {}
            for site in sites:
                outs = [relax.TensorType(site.shape, "float32")]
                if site.cast is not None:
                    outs.append(relax.TensorType(site.shape, "float16"))
                call = relax.call_tir(kernels[site.signature], [site.x, relax.const(site.gamma), relax.const(site.beta)],
                                      outs)
                if site.cast is None:
                    replacements[site.var] = call
                    continue
                both = relax.DataflowVar("ln_out", relax.TupleType(outs))
                preludes[site.var] = [(both, call)]
                replacements[site.var] = relax.TupleGetItem(both, 0)
                replacements[site.cast] = relax.TupleGetItem(both, 1)
            mod = rm.replace_bindings(bb.get(), replacements, preludes)
        routes = [RouteDecision("layer_norm", sig, sum(1 for s in sites if s.signature == sig), "tir-fused-layer-norm",
                                None, None, "matched; one warp per row" + (", float16 copy written in the same pass"
                                                                         if site.cast is not None else "")).to_dict()
                  for sig, site in by_signature.items()]
        for why in dict.fromkeys(reasons):
            routes.append(RouteDecision("layer_norm", "layer_norm not fused", reasons.count(why), "tvm (fallback)",
                                        None, None, why).to_dict())
        return add_routes(mod, routes)
    return run
