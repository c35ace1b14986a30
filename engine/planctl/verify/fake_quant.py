"""The quantized numerics of chosen operators, simulated with onnxruntime (fake quantization).

The sensitivity search (planctl.apply.sensitivity) scores many sets of quantized operators on
the plan's quality dataset; a TVM build per set would take minutes. This module rewrites the ONNX
model instead: each chosen MatMul's weight initializer is replaced by its quantized-then-
dequantized values, and its activation input goes through the same quantize/dequantize
arithmetic the int8 kernels use (planctl.lowering.quant_scheme: per-token or calibrated range,
round half to even, clip, subtract the zero point, scale), built from standard ONNX operators
(ReduceMax/ReduceMin, Div, Round, Clip, Sub, Mul). The kernels accumulate the integer products
exactly in int32 and scale once; the simulation multiplies the dequantized float32 values, so the
two agree up to float32 rounding (a few 1e-7 relative per output), which is far below the quality
differences the search compares. The apply that uses the chosen set measures the real build.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Optional

import numpy as np

from planctl.lowering.quant_scheme import TINY, QuantScheme, activation_params, quantize_weight


class _Graph:
    """Appends nodes and initializers to an ONNX graph with unique names."""

    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"planctl_q8_{hint}_{self.count}"

    def const(self, value, hint: str) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        from onnx import helper

        out = self.name(hint)
        self.graph.node.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def reduce(self, op: str, x: str, opset: int) -> str:
        if opset >= 18:
            return self.node(op, [x, self.const(np.array([-1], np.int64), "axes")], op.lower(), keepdims=1)
        return self.node(op, [x], op.lower(), axes=[-1], keepdims=1)


def _fake_quant_activation(g: _Graph, x: str, scheme: QuantScheme, opset: int,
                           static: Optional[tuple[float, float]]) -> str:
    """Nodes computing ``(clip(round(x / scale) + zero, 0, L - 1) - zero) * scale``; the name of the result."""
    levels = scheme.levels
    zero_f = g.const(np.float32(0.0), "zero")
    if static is not None:
        s, z = activation_params(np.float32(static[0]), np.float32(static[1]), scheme)
        scale, zero = g.const(np.float32(s), "scale"), g.const(np.float32(z), "zp")
    elif scheme.activations == "int8":
        amax = g.reduce("ReduceMax", g.node("Abs", [x], "abs"), opset)
        scale = g.node("Max", [g.node("Div", [amax, g.const(np.float32(levels // 2 - 1), "steps")], "div"),
                               g.const(np.float32(TINY), "tiny")], "scale")
        zero = g.const(np.float32(levels // 2), "zp")
    else:
        hi = g.node("Max", [g.reduce("ReduceMax", x, opset), zero_f], "hi")
        lo = g.node("Min", [g.reduce("ReduceMin", x, opset), zero_f], "lo")
        span = g.node("Div", [g.node("Sub", [hi, lo], "span"), g.const(np.float32(levels - 1), "steps")], "div")
        scale = g.node("Max", [span, g.const(np.float32(TINY), "tiny")], "scale")
        zero = g.node("Round", [g.node("Div", [g.node("Neg", [lo], "neg"), scale], "div")], "zp")
    q = g.node("Add", [g.node("Round", [g.node("Div", [x, scale], "div")], "round"), zero], "shift")
    q = g.node("Clip", [q, zero_f, g.const(np.float32(levels - 1), "top")], "clip")
    return g.node("Mul", [g.node("Sub", [q, zero], "centre"), scale], "dequant")


def fake_quantized_model(model, names: Iterable[str], scheme: QuantScheme,
                         ranges: Optional[Mapping[str, tuple[float, float]]] = None):
    """A copy of the ONNX ``model`` whose MatMul/Gemm nodes called ``names`` compute with
    ``scheme``'s quantized weights (and activations, unless weight-only). Gemm's B is handled in
    either orientation. ``ranges``: calibrated [lo, hi] per node (static schemes). Raises KeyError
    for a name that is no MatMul/Gemm with an initializer weight."""
    from onnx import numpy_helper

    model = type(model).FromString(model.SerializeToString())
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    g = _Graph(model)
    wanted = set(names)
    initializers = {i.name: i for i in model.graph.initializer}
    done, activations = set(), {}
    for node in list(model.graph.node):
        if node.name not in wanted or node.op_type not in ("MatMul", "Gemm") or node.input[1] not in initializers:
            continue
        weight = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
        kn = weight.T if transposed else weight
        dequantized = quantize_weight(kn, scheme).dequantize()
        node.input[1] = g.const(dequantized.T if transposed else dequantized, "weight")
        if not scheme.weight_only:
            static = tuple(ranges[node.name]) if scheme.static else None
            key = (node.input[0], static)
            if key not in activations:
                activations[key] = _fake_quant_activation(g, node.input[0], scheme, opset, static)
            node.input[0] = activations[key]
        done.add(node.name)
    missing = wanted - done
    if missing:
        raise KeyError(f"no MatMul/Gemm with an initializer weight named {sorted(missing)}")
    _topological_sort(model.graph)
    return model


def _topological_sort(graph) -> None:
    """Order ``graph.node`` so every input is produced before use (the appended nodes feed
    earlier ones)."""
    produced = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in produced for i in n.input)]
        if not ready:
            raise ValueError("the rewritten ONNX graph has a cycle")
        for n in ready:
            ordered.append(n)
            produced.update(n.output)
        pending = [n for n in pending if not any(n is r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


def session(model, threads: int):
    """An onnxruntime CPU session of an in-memory ONNX model (planctl.verify.reference's errors)."""
    from planctl.verify.reference import _ort, ort_errors

    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = int(threads)
    with ort_errors("onnxruntime could not load the fake-quantized model"):
        sess = ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    outputs = [o.name for o in sess.get_outputs()]

    def run(inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        with ort_errors("the fake-quantized model failed"):
            return list(sess.run(outputs, {n: np.asarray(inputs[n]) for n in names}))
    return run


def load(path: Path):
    import onnx

    return onnx.load(str(path))
