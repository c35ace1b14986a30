"""The small ONNX models of issue 12, hand-built with ``onnx.helper``, and a throw-away repository
(model, plan, target) to apply each one in.

Each builder writes ``path`` and returns nothing; :func:`make_repo` writes the plan from
:func:`plan` (a dict, dumped as block YAML so findings have real lines) and the repository's
x86-64-avx2 target.
"""
from __future__ import annotations

import copy
import hashlib
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
INT64_MAX = 2**63 - 1


def _save(graph, path: Path, opset: int = 17, **save) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path), **save)


def mlp(path: Path) -> None:
    """X f32[4,16] -> MatMul(W) -> Relu -> Y f32[4,16]: a model TVM builds right."""
    w = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["X", "W"], ["H"], name="matmul"), helper.make_node("Relu", ["H"], ["Y"], name="act")]
    _save(helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 16])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 16])],
                            [numpy_helper.from_array(w, "W")]), path)


def celu(path: Path) -> None:
    """X f32[4,16] -> Celu -> Y f32[4,16]: a standard operator TVM's ONNX frontend has no converter for."""
    _save(helper.make_graph([helper.make_node("Celu", ["X"], ["Y"], name="act")], "celu",
                            [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 16])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 16])]), path)


def matmul_layernorm(path: Path) -> None:
    """A: X f32[1,4,64] -> MatMul(W f32[64,64], W ~ N(0, 0.1^2)) -> LayerNormalization(axis=-1)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((64, 64)) * 0.1).astype(np.float32), "W"),
             numpy_helper.from_array(np.ones(64, np.float32), "gamma"),
             numpy_helper.from_array(np.zeros(64, np.float32), "beta")]
    nodes = [helper.make_node("MatMul", ["X", "W"], ["H"], name="matmul"),
             helper.make_node("LayerNormalization", ["H", "gamma", "beta"], ["Y"], axis=-1, name="layer_norm")]
    _save(helper.make_graph(nodes, "matmul-layernorm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4, 64])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4, 64])], inits), path)


def resize(path: Path, mode: str = "nearest", scale: float = 2.5) -> None:
    """B: X f32[1,1,3,3] -> Resize(scales [1,1,2.5,2.5], half_pixel; nearest round_prefer_floor or linear)
    -> Y f32[1,1,7,7]; TVM 0.27's import of it is wrong (max abs 1.0 nearest, 0.245 linear). At
    ``scale`` 2.0 TVM gets it right (Y f32[1,1,6,6])."""
    attrs = {"mode": mode, "coordinate_transformation_mode": "half_pixel"}
    if mode == "nearest":
        attrs["nearest_mode"] = "round_prefer_floor"
    nodes = [helper.make_node("Resize", ["X", "", "scales"], ["Y"], name="upsample", **attrs)]
    inits = [numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales")]
    side = int(3 * scale)
    _save(helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 3, 3])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1, side, side])], inits), path,
          opset=19)


def take_last(path: Path) -> None:
    """C: X f32[2,8], S i64[1] in [-3, -1] -> Slice(X, starts=S, ends=[INT64_MAX], axes=[1]) -> Y f32[2,k]:
    the output's shape depends on the value of S."""
    inits = [numpy_helper.from_array(np.array([INT64_MAX], np.int64), "ends"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    nodes = [helper.make_node("Slice", ["X", "S", "ends", "axes"], ["Y"], name="take_last")]
    _save(helper.make_graph(nodes, "take-last", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 8]),
                                                 helper.make_tensor_value_info("S", TensorProto.INT64, [1])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, "k"])], inits), path)


def external_weights(path: Path, seed: int = 0) -> None:
    """D: X f32[4,64] -> MatMul(W f32[64,64]) -> Relu, W stored in ``weights.bin`` beside the model."""
    w = np.random.default_rng(seed).standard_normal((64, 64)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["X", "W"], ["H"], name="matmul"), helper.make_node("Relu", ["H"], ["Y"], name="act")]
    _save(helper.make_graph(nodes, "external", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 64])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 64])],
                            [numpy_helper.from_array(w, "W")]), path,
          save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)


def unshaped_outputs(path: Path) -> None:
    """H: X f32[4,16] -> MatMul -> Relu (Y) and -> Sigmoid (Z); Y declared without a shape, Z with no type."""
    w = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["X", "W"], ["H"], name="matmul"),
             helper.make_node("Relu", ["H"], ["Y"], name="relu"), helper.make_node("Sigmoid", ["H"], ["Z"], name="gate")]
    untyped = onnx.ValueInfoProto()
    untyped.name = "Z"
    _save(helper.make_graph(nodes, "unshaped", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 16])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None), untyped],
                            [numpy_helper.from_array(w, "W")]), path)


def float_and_int8(float_path: Path, int8_path: Path) -> None:
    """G: a float MLP (X f32[8,64] -> MatMul -> Relu -> MatMul) and its onnxruntime quantize_dynamic
    int8 twin. The weights are heavy-tailed so int8 loses real accuracy."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((64, 64)) * np.where(rng.random((64, 64)) < 0.02, 60.0, 0.3)).astype(np.float32)
    w2 = (rng.standard_normal((64, 16)) * 0.3).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["X", "W1"], ["H"], name="fc1"), helper.make_node("Relu", ["H"], ["R"], name="act"),
             helper.make_node("MatMul", ["R", "W2"], ["Y"], name="fc2")]
    _save(helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [8, 64])],
                            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [8, 16])],
                            [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")]), float_path)
    quantize_dynamic(str(float_path), str(int8_path), weight_type=QuantType.QInt8)


LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
               "size 12345\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plan(name: str, model: str, sha: str, inputs: list[dict], outputs: list[str], **spec) -> dict:
    """A plan for ``model`` (repository-relative) on x86-64-avx2: constant-folding only, 4 parity
    examples at rtol 1e-4 / atol 1e-5, a gate of 1e-6x (these plans test correctness, not speed: a
    data-dependent build can run 100x slower than TVM's baseline on a loaded host, and a gate of 0.01x
    then made a promotion test inconclusive in CI); ``spec`` replaces top-level spec keys."""
    return {"apiVersion": "planctl.dev/v1alpha1", "kind": "OptimizationPlan", "metadata": {"name": name},
            "spec": {"workload": {"model": {"onnx": model, "sha256": sha}, "inputs": inputs, "outputs": outputs,
                                  "baseline_telemetry": {"date": "2026-11-20", "source": "unit test", "p50_ms": 1.0}},
                     "bottleneck": {"kind": "compute", "layer": "graph",
                                    "evidence": "the kernels dominate a per-kernel profile of the untuned build"},
                     "optimizations": [{"technique": "constant-folding"}],
                     "envelope": {"parity": {"examples": 4, "default": {"rtol": 1.0e-4, "atol": 1.0e-5}},
                                  "performance": {"statistic": "p50", "min_speedup": 1.0e-6}},
                     "fallback": {"switch": f"PLANCTL_DISABLE_{name.upper().replace('-', '_')}",
                                  "on_violation": "rollback"},
                     "targets": ["x86-64-avx2"], **spec}}


def floats(name: str, shape: list, lo: float = -1.0, hi: float = 1.0) -> dict:
    return {"name": name, "dtype": "float32", "shape": shape, "domain": {"kind": "float-range", "min": lo, "max": hi}}


def make_repo(root: Path, document: dict, file: str = "plan.yaml") -> Path:
    """Write ``document`` as ``plans/<file>`` (block YAML) and the x86-64-avx2 target into ``root``;
    return the plan's path. The model must already be under ``root``."""
    from ruamel.yaml import YAML

    (root / "plans").mkdir(parents=True, exist_ok=True)
    (root / "targets").mkdir(exist_ok=True)
    shutil.copy(REPO / "targets" / "x86-64-avx2.yaml", root / "targets")
    yaml = YAML()
    yaml.default_flow_style = False
    path = root / "plans" / file
    with path.open("w") as fh:
        yaml.dump(copy.deepcopy(document), fh)
    return path


def apply_args(root: Path, plan_file: Path, *extra: str) -> list[str]:
    return ["apply", str(plan_file), "--target", "x86-64-avx2", "--root", str(root), "--out", str(root / "out"),
            "--cache", str(root / "cache"), "--repeats", "3", *extra]
