"""Static activation ranges: each quantized matmul's input measured on the calibration dataset.

For ``activation_scales: static-per-tensor`` the plan's ``calibration`` names a dataset (the
JSON-lines format of quality datasets, planctl.verify.quality), a sample count and a method. The
ONNX model runs in onnxruntime with every MatMul/Gemm input that has an initializer weight added
as a graph output, on the first ``samples`` examples (batched to the production shape), and
:func:`planctl.lowering.quant_scheme.calibrated_range` turns what it saw into one ``[lo, hi]``
per operator: ``minmax`` exactly, ``percentile`` on a uniform sample of at most
:data:`RESERVOIR` values per operator (seeded, so a build is reproducible).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

RESERVOIR = 1 << 20   # values kept per operator for the percentile method
SEED = 0


def weight_matmuls(model) -> dict[str, str]:
    """``{node name: activation input}`` of the MatMul/Gemm nodes whose weight is an initializer."""
    initializers = {i.name for i in model.graph.initializer}
    return {node.name: node.input[0] for node in model.graph.node
            if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in initializers}


def activation_ranges(model_file: Path, calibration: Any, plan_spec: Any, shape_env: dict, root: Path,
                      plan_file: str, threads: int) -> dict[str, list[float]]:
    """``{node name: [lo, hi]}`` for every weight matmul of the model (module doc). Raises
    VerificationError when the dataset or onnxruntime fails."""
    import onnx
    from onnx import TensorProto, helper

    from planctl.lowering.quant_scheme import calibrated_range
    from planctl.verify.fake_quant import session
    from planctl.verify.quality import example_arrays, load_dataset

    dataset = load_dataset(root, calibration.dataset, plan_file=plan_file)
    count = min(calibration.samples, len(dataset.rows))
    arrays, batch = example_arrays(dataset, plan_spec, shape_env, list(range(count)))
    model = onnx.load(str(model_file))
    inputs = weight_matmuls(model)
    tensors = sorted(set(inputs.values()))
    outputs = {o.name for o in model.graph.output}
    model.graph.output.extend(helper.make_tensor_value_info(t, TensorProto.FLOAT, None)
                              for t in tensors if t not in outputs)
    run = session(model, threads)
    names = [o.name for o in model.graph.output]
    rng = np.random.default_rng(SEED)
    lows = {t: np.inf for t in tensors}
    highs = {t: -np.inf for t in tensors}
    kept: dict[str, list[np.ndarray]] = {t: [] for t in tensors}
    for start in range(0, count, batch):
        idx = np.minimum(np.arange(start, start + batch), count - 1)
        results = dict(zip(names, run({k: np.ascontiguousarray(v[idx]) for k, v in arrays.items()})))
        for t in tensors:
            values = np.asarray(results[t], dtype=np.float32)[: min(batch, count - start)].ravel()
            lows[t], highs[t] = min(lows[t], float(values.min())), max(highs[t], float(values.max()))
            share = max(1, RESERVOIR * batch // max(count, 1))
            kept[t].append(values if values.size <= share else rng.choice(values, share, replace=False))
    ranges = {}
    for node, t in inputs.items():
        if calibration.method == "percentile":
            ranges[node] = list(calibrated_range(np.concatenate(kept[t]), "percentile"))
        else:
            ranges[node] = [lows[t], highs[t]]
    return ranges
