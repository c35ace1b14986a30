"""``quantization`` as a Relax pass: each matmul with a constant weight becomes int8 kernels.

A call ``relax.matmul(x, W)`` (``x`` float32 ``[..., K]``, ``W`` a float32 constant ``[K, N]``:
the linear layers of an ONNX or torch model) is rewritten, unless the plan keeps it in float
(``keep_float``) or its shape does not fit the kernel (N a multiple of 16, K of 4), into

- weights: quantized once, at build time (planctl.lowering.quant_scheme.quantize_weight), packed
  into the dot-product blocks (planctl.lowering.int8_kernels.pack_weights), stored as int8;
- ``q8_quantize``: the activation to uint8 with its scale and zero point, per token (a
  reduction over K per row) or per tensor with calibrated constants;
- ``q8_dense``: uint8 x int8 with int32 accumulation on the target's dot-product instructions
  (planctl.lowering.int8_kernels, tuned by MetaSchedule like any other kernel);
- ``q8_dequantize``: int32 back to float32 with the zero-point corrections; the bias, activation and
  residual that follow the matmul fuse into it (FuseOps), so they run in the dense kernel's epilogue.

Weight-only (float activations): ``q8_weight_only_dense`` computes ``x @ dequantize(W)`` in
float32 with the int8 weights dequantized inside the kernel (a quarter of the weight memory).

Each kernel is a TE function emitted with ``BlockBuilder.call_te`` (``R.call_tir``), so
LegalizeOps, FuseOps, FuseTIR, MetaSchedule and the governed cache treat them as they treat any
other kernel. What was done to each operator is stored on the module as the attribute
:data:`EVIDENCE_ATTR` (JSON), read by the lowering stage for the report.

Operators are named by the ONNX MatMul node whose weight they carry (the importer stores a digest
-> node name map as the module attribute :data:`NAMES_ATTR`), else ``matmul_<i>`` in program order.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from math import prod
from typing import Optional

from planctl.lowering.quant_scheme import TINY, QuantScheme, quantize_weight

NAMES_ATTR = "planctl.weight_names"        # {weight digest: ONNX MatMul node name}
RANGES_ATTR = "planctl.activation_ranges"  # {op name: [lo, hi]} from calibration (static scheme)
EVIDENCE_ATTR = "planctl.quantization"     # JSON list of OpQuantization
OUT_ELEMWISE_FUSABLE = 4                    # relax OpPatternKind::kOutEWiseFusable


def weight_digest(array) -> str:
    """The name key of a float32 weight: sha256 of its bytes and shape (first 16 hex digits)."""
    import numpy as np

    data = np.ascontiguousarray(array, dtype=np.float32)
    return hashlib.sha256(repr(data.shape).encode() + data.tobytes()).hexdigest()[:16]


@dataclass
class OpQuantization:
    """What the pass did to one matmul with a constant weight (report evidence)."""

    name: str
    weight_shape: list[int]
    quantized: bool
    reason: str = ""                       # why it stayed float (keep_float, shape)
    weight_format: str = ""
    weight_granularity: str = ""
    activation_format: str = ""
    activation_granularity: str = ""
    accumulation: str = ""
    calibration: Optional[dict] = None     # {dataset, samples, method, range: [lo, hi]} (static)
    outliers: str = ""
    kernel: Optional[dict] = None          # {path, intrinsic, instructions}
    weight_bytes: dict = field(default_factory=dict)   # {float32: n, int8: n (+ scales)}


# ------------------------------------------------------------------------------- TE kernels
# Every tensor keeps the matmul's leading dims ([..., K] in, [..., N] out, scales [...]) so the
# dequantize epilogue reads them elementwise or by broadcast, the access patterns FuseOps fuses
# into the dense kernel.

def quantize_rows_te(x, scheme: QuantScheme, groups: int, rowsum: bool, static: Optional[tuple] = None):
    """TE: x float32 [..., K] -> q uint8 [..., K], scale float32 [...], zero int32 [...] (and
    rowsum int32 [..., groups] of q when asked: asymmetric weights need it). ``static``:
    (scale, zero) constants of a calibrated range."""
    import tvm
    from tvm import te, tirx

    lead = [int(d) for d in x.shape[:-1]]
    k_size = int(x.shape[-1])
    top = float(scheme.levels - 1)
    f32 = functools.partial(tirx.const, dtype="float32")

    if static is not None:
        s_value, z_value = static
        scale = te.compute(lead, lambda *i: f32(s_value), name="q8_scale")
        zero = te.compute(lead, lambda *i: tirx.const(int(z_value), "int32"), name="q8_zero")
    elif scheme.activations == "int8":
        r = te.reduce_axis((0, k_size), name="r")
        amax = te.compute(lead, lambda *i: te.max(tvm.tirx.abs(x[(*i, r)]), axis=r), name="q8_absmax")
        scale = te.compute(lead, lambda *i: te.max(amax(*i) / float(scheme.levels // 2 - 1), f32(TINY)),
                           name="q8_scale")
        zero = te.compute(lead, lambda *i: tirx.const(scheme.levels // 2, "int32"), name="q8_zero")
    else:
        r, r2 = te.reduce_axis((0, k_size), name="r"), te.reduce_axis((0, k_size), name="r2")
        hi = te.compute(lead, lambda *i: te.max(x[(*i, r)], axis=r), name="q8_max")
        lo = te.compute(lead, lambda *i: te.min(x[(*i, r2)], axis=r2), name="q8_min")
        scale = te.compute(lead, lambda *i: te.max((te.max(hi(*i), f32(0.0)) - te.min(lo(*i), f32(0.0))) / top,
                                                   f32(TINY)), name="q8_scale")
        zero = te.compute(lead, lambda *i: tirx.nearbyint(-te.min(lo(*i), f32(0.0)) / scale(*i)).astype("int32"),
                          name="q8_zero")
    q = te.compute([*lead, k_size], lambda *i: te.min(te.max(
        tirx.nearbyint(x(*i) / scale(*i[:-1])) + zero(*i[:-1]).astype("float32"), f32(0.0)), f32(top)).astype("uint8"),
        name="q8_quantize")
    outs = [q, scale, zero]
    if rowsum:
        size = k_size // groups
        rk = te.reduce_axis((0, size), name="rk")
        outs.append(te.compute([*lead, groups], lambda *i: te.sum(q[(*i[:-1], i[-1] * size + rk)].astype("int32"),
                                                                 axis=rk), name="q8_rowsum"))
    return outs


def dequantize_te(acc, scale, zero, w_scale, colsum, w_zero, rowsum, k_size: int):
    """TE: float32 [..., N] from the int32 ``acc`` ([..., N], or [G, ..., N] per group) with the
    zero-point corrections (planctl.lowering.quant_scheme); per channel, ``w_scale``, ``colsum``
    and ``w_zero`` are [N], per group [G, N]."""
    from tvm import te

    grouped = len(w_scale.shape) == 2
    groups = int(w_scale.shape[0]) if grouped else 1
    size = k_size // groups

    def term(lead, g, n):
        wz = (lambda t: t[g, n]) if grouped else (lambda t: t[n])
        a = (acc[(g, *lead, n)] if grouped else acc[(*lead, n)]) - zero(*lead) * wz(colsum)
        if w_zero is not None:
            a = a - wz(w_zero) * rowsum[(*lead, g)] + size * zero(*lead) * wz(w_zero)
        return a.astype("float32") * wz(w_scale)

    if not grouped:
        return te.compute(acc.shape, lambda *i: term(i[:-1], 0, i[-1]) * scale(*i[:-1]), name="q8_dequantize")
    out_shape = list(acc.shape[1:])
    g = te.reduce_axis((0, groups), name="g")
    total = te.compute(out_shape, lambda *i: te.sum(term(i[:-1], g, i[-1]), axis=g), name="q8_group_sum")
    return te.compute(out_shape, lambda *i: total(*i) * scale(*i[:-1]), name="q8_dequantize")


def weight_only_te(x, wq, w_scale, w_zero, group_size: int):
    """TE: ``x @ ((wq - w_zero) * w_scale)`` in float32, the int8 weight dequantized in the
    kernel; ``wq`` int8 [K, N], ``w_scale``/``w_zero`` [G, N]."""
    from tvm import te

    k_size = int(wq.shape[0])
    k = te.reduce_axis((0, k_size), name="k")
    out = (*[int(d) for d in x.shape[:-1]], int(wq.shape[1]))

    def weight(kk, n):
        g = kk // group_size
        return (wq[kk, n].astype("float32") - w_zero[g, n].astype("float32")) * w_scale[g, n]

    return te.compute(out, lambda *i: te.sum(x[(*i[:-1], k)] * weight(k, i[-1]), axis=k), name="q8_weight_only_dense")


# ------------------------------------------------------------------------------- the pass
def _is_weight_matmul(call) -> bool:
    import tvm
    from tvm import relax
    from tvm.relax.dpl import is_const, is_op, wildcard

    pattern = is_op("relax.matmul")(wildcard(), is_const())
    if not pattern.match(call):
        return False
    x, w = call.args
    return (isinstance(w, tvm.ir.expr.Constant) and len(w.value.shape) == 2 and str(w.value.dtype) == "float32"
            and isinstance(x.ty, relax.TensorType) and x.ty.dtype == "float32" and x.ty.ndim >= 2)


def _fits(scheme: QuantScheme, k: int, n: int) -> str:
    """Why a [K, N] weight cannot use the kernel ('' when it can)."""
    from planctl.lowering.int8_kernels import LANES, REDUCE

    if scheme.granularity == "per-group" and k % scheme.group_size:
        return f"K={k} is not a multiple of group_size {scheme.group_size}"
    if scheme.weight_only:
        return ""
    if n % LANES or k % REDUCE:
        return f"the int8 kernel needs N % {LANES} == 0 and K % {REDUCE} == 0 (weight is [{k}, {n}])"
    return ""


def quantization_pass(technique, target):
    """The module pass of a plan's ``quantization`` technique for ``target`` (a tvm Target).

    A static scheme's ranges come from the module attribute :data:`RANGES_ATTR` (set by the
    lowering stage from planctl.lowering.calibration). Raises LoweringError when the activations
    are integer and the target has no int8 kernel path (planctl.lowering.int8_kernels).
    """
    import numpy as np
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    from planctl.errors import LoweringError
    from planctl.lowering.int8_kernels import int8_dense, kernel_path, pack_weights

    scheme0 = QuantScheme.of(technique)
    path = None if scheme0.weight_only else kernel_path(target)
    if not scheme0.weight_only and path is None:
        raise LoweringError(f"quantization with {technique.precision.activations} activations needs int8 "
                            f"dot-product instructions, and target {target.attrs.get('mcpu', target.kind.name)} "
                            "has none planctl lowers to (AVX-512 VNNI, AVX-512 BW, AVX2)",
                            hint="use an x86 target with AVX2 or later, or weight-only activations: float32")
    scheme = QuantScheme.of(technique, levels=path.activation_levels if path else 256)
    keep = set(technique.keep_float)
    calibration = technique.calibration.model_dump(mode="json") if scheme.static and technique.calibration else {}

    @mutator
    class Quantize(PyExprMutator):
        def __init__(self, mod):
            super().__init__(mod)
            names = mod.attrs.get(NAMES_ATTR) if mod.attrs is not None else None
            ranges = mod.attrs.get(RANGES_ATTR) if mod.attrs is not None else None
            self.names = {str(k): str(v) for k, v in (names or {}).items()}
            self.ranges = {str(k): [float(x) for x in v] for k, v in (ranges or {}).items()}
            self.ops: list[OpQuantization] = []
            self.quantized_inputs: dict = {}
            self.dense_kernels: set = set()   # GlobalVars of the q8_dense PrimFuncs

        def visit_call_(self, call):
            call = super().visit_call_(call)
            if not _is_weight_matmul(call):
                return call
            x, w = call.args
            weight = w.value.numpy()
            k, n = weight.shape
            name = self.names.get(weight_digest(weight), f"matmul_{len(self.ops)}")
            op = OpQuantization(name=name, weight_shape=[k, n], quantized=False,
                                weight_bytes={"float32": int(weight.nbytes)})
            self.ops.append(op)
            op.reason = "keep_float in the plan" if name in keep else _fits(scheme, k, n)
            if op.reason:
                return call
            if scheme.static and name not in self.ranges:
                op.reason = "no calibration range recorded for it"
                return call
            return self.rewrite(op, x, weight, call)

        def rewrite(self, op, x, weight, call):
            qw = quantize_weight(weight, scheme)
            groups = qw.scale.shape[0]
            op.quantized = True
            op.weight_format, op.weight_granularity = scheme.weight_format(), scheme.weight_granularity()
            op.activation_format = scheme.activation_format()
            op.activation_granularity = scheme.activation_granularity()
            op.weight_bytes["int8"] = int(qw.q.nbytes + qw.scale.nbytes + (0 if scheme.weight_symmetric else qw.zero.nbytes))
            bb = self.builder_
            # per channel: [N] (a broadcast FuseOps fuses), per group: [G, N]
            per_channel = groups == 1 and not scheme.weight_only
            w_scale = relax.const(qw.scale[0] if per_channel else qw.scale)
            w_zero = relax.const(qw.zero[0] if per_channel else qw.zero)
            colsum = qw.column_sums()[0] if per_channel else qw.column_sums()
            if scheme.weight_only:
                op.accumulation = "float32"
                op.outliers = "none (weights only; activations stay float32)"
                op.kernel = {"path": "float32 FMA, int8 weights dequantized in registers", "intrinsic": None,
                             "instructions": []}
                kernel = functools.partial(weight_only_te, group_size=weight.shape[0] // groups)
                return bb.call_te(kernel, x, relax.const(qw.q), w_scale, w_zero,
                                  primfunc_name_hint="q8_weight_only_dense")
            op.accumulation = "int32"
            op.kernel = {"path": path.name, "intrinsic": path.intrinsic, "instructions": list(path.instructions)}
            static = None
            if scheme.static:
                lo, hi = self.ranges[op.name]
                s, z = (np.asarray(v).item() for v in activation_scale(lo, hi, scheme))
                static = (s, z)
                op.calibration = {**calibration, "range": [lo, hi]}
                op.outliers = ("clipped to the calibrated range: the 0.01th-99.99th percentiles of the calibration "
                               "activations" if scheme.calibration_method == "percentile"
                               else "none: the calibrated range covers every calibration value (minmax)")
            else:
                op.outliers = ("per-token scales: an outlier coarsens only its own token's steps; "
                               "sensitive operators are kept float by keep_float")
            rows = self.quantized_row(x, groups, not scheme.weight_symmetric, static)
            dense = bb.call_te(functools.partial(int8_dense, path=path, groups=groups), rows[0],
                               relax.const(pack_weights(qw.q)), primfunc_name_hint="q8_dense")
            self.dense_kernels.add(dense.args[0])
            acc = bb.emit(dense)
            dequantize = functools.partial(dequantize_te, k_size=weight.shape[0])
            if scheme.weight_symmetric:
                return bb.call_te(lambda a, s, z, ws, cs: dequantize(a, s, z, ws, cs, None, None), acc, rows[1],
                                  rows[2], w_scale, relax.const(colsum), primfunc_name_hint="q8_dequantize")
            return bb.call_te(dequantize, acc, rows[1], rows[2], w_scale, relax.const(colsum), w_zero,
                              rows[3], primfunc_name_hint="q8_dequantize")

        def quantized_row(self, x, groups, rowsum, static):
            """The quantized activation of ``x``, emitted once per (x, groups, rowsum, range)."""
            key = (x, groups, rowsum, static)
            if key not in self.quantized_inputs:
                bb = self.builder_
                kernel = functools.partial(quantize_rows_te, scheme=scheme, groups=groups, rowsum=rowsum,
                                           static=static)
                tup = bb.emit(bb.call_te(kernel, x, primfunc_name_hint="q8_quantize"))
                count = 4 if rowsum else 3
                self.quantized_inputs[key] = [bb.emit(relax.TupleGetItem(tup, i)) for i in range(count)]
            return self.quantized_inputs[key]

    @tvm.transform.module_pass(opt_level=0, name="planctl.Quantize")
    def transform(mod, _ctx):
        from planctl.lowering.relax_match import rewrite_functions
        rewriter = Quantize(mod)
        out = rewrite_functions(mod, rewriter)
        for gv in rewriter.dense_kernels:
            # AnnotateTIROpPattern reads the packed-weight indexing (w[n // 16, k // 4, ...]) as a
            # plain reduction and FuseOps would then leave the dequantize epilogue as a separate
            # kernel; a matmul is output-elementwise fusable (TVM's kOutEWiseFusable = 4), as
            # TVM's own matmul is
            out[gv] = out[gv].with_attr("op_pattern", OUT_ELEMWISE_FUSABLE)
        return out.with_attr(EVIDENCE_ATTR, json.dumps([asdict(o) for o in rewriter.ops]))

    return transform


def activation_scale(lo: float, hi: float, scheme: QuantScheme):
    """(scale, zero) of a calibrated per-tensor range (planctl.lowering.quant_scheme.activation_params)."""
    from planctl.lowering.quant_scheme import activation_params

    return activation_params(lo, hi, scheme)


def evidence(mod) -> list[dict]:
    """The per-operator records the pass stored on ``mod`` ([] when the module was not quantized)."""
    raw = mod.attrs.get(EVIDENCE_ATTR) if mod.attrs is not None else None
    return json.loads(str(raw)) if raw is not None else []


# ------------------------------------------------------------------------------- plan checks
LOWERED_ACTIVATIONS = ("uint8", "int8", "float32")
LOWERED_METHODS = ("minmax", "percentile")


def check_plan(plan, technique, target) -> None:
    """Refuse, at its line in the plan, a ``quantization`` setting apply cannot honour: weights other
    than int8, a KV-cache precision, activations other than uint8/int8/float32, per-group without a
    group size that is a multiple of 4, static scales without calibration or a calibration method
    not lowered (entropy, mse), a calibration nothing uses (dynamic scales, weight-only), integer
    activations on a target without an int8 dot-product path. Raises LoweringError."""
    from planctl.documents.references import position
    from planctl.errors import LoweringError
    from planctl.lowering.int8_kernels import REDUCE, kernel_path

    index = next(i for i, t in enumerate(plan.model.spec.optimizations) if t is technique)
    base = f"/spec/optimizations/{index}"

    def refuse(pointer: str, message: str, hint: str) -> None:
        raise LoweringError(message, file=str(plan.path), **position(plan, base + pointer), hint=hint)

    precision, acts = technique.precision, technique.precision.activations
    integer = acts in ("uint8", "int8")
    if precision.weights != "int8":
        refuse("/precision/weights", f"quantization to {precision.weights} weights is not lowered by planctl apply",
               "use weights: int8")
    if precision.kv_cache != "none":
        refuse("/precision/kv_cache", "quantization lowers matmul weights and activations, not a KV cache",
               "use kv_cache: none")
    if acts not in LOWERED_ACTIVATIONS:
        refuse("/precision/activations", f"activations: {acts} is not lowered (the kernels take uint8/int8 "
               "activations, or float32 with int8 weights)", "use uint8 (asymmetric), int8 (symmetric) or float32")
    if technique.granularity == "per-group" and (technique.group_size is None or technique.group_size % REDUCE):
        refuse("/group_size" if technique.group_size else "/granularity",
               "per-group scales need a group_size that is a multiple of 4 (the dot-product block)",
               "add group_size: 32, 64 or 128")
    static = integer and technique.activation_scales == "static-per-tensor"
    if static and technique.calibration is None:
        refuse("/activation_scales", "static-per-tensor activation scales need a calibration dataset",
               "add calibration: {dataset, samples, method}, or activation_scales: dynamic-per-token")
    if technique.calibration is not None and not static:
        why = "weight-only quantization has no activation ranges" if not integer else \
            "dynamic-per-token scales are measured at run time"
        refuse("/calibration", f"calibration is not used: {why}", "remove calibration")
    if static and technique.calibration.method not in LOWERED_METHODS:
        refuse("/calibration/method", f"calibration method {technique.calibration.method} is not lowered",
               "use minmax or percentile")
    if integer and kernel_path(target) is None:
        refuse("/precision/activations", f"{acts} activations need int8 dot-product instructions, and target "
               f"{target.attrs.get('mcpu', target.kind.name)} has none planctl lowers to",
               "use an x86 target with AVX2, AVX-512 BW or AVX-512 VNNI, or weight-only (activations: float32)")


def check_keep_float(plan, techniques, operators: list[dict]) -> None:
    """Every ``keep_float`` name is one of the quantizable operators the pass saw; else
    LoweringError at that name, listing the operators there are."""
    from planctl.documents.references import position
    from planctl.errors import LoweringError

    for i, t in enumerate(plan.model.spec.optimizations):
        if t.technique != "quantization" or not any(t is chosen for chosen in techniques):
            continue
        known = [op["name"] for op in operators]
        for j, name in enumerate(t.keep_float):
            if name not in known:
                shown = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
                raise LoweringError(f"keep_float: '{name}' is no matmul with a constant weight in this model",
                                    file=str(plan.path), **position(plan, f"/spec/optimizations/{i}/keep_float/{j}"),
                                    hint=f"name ONNX MatMul/Gemm nodes: {shown or 'the model has none'}")
