"""planctl.lowering.techniques: each graph technique's TVM passes on a small Relax module, before
and after in TVMScript; the registry's refusals (unknown technique, keep_fp32_ops names) and the
default passes a plan switches off."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
sys.path.insert(0, str(Path(__file__).parent))
from lowering_harness import run_technique, technique  # noqa: E402

from tvm import relax  # noqa: E402
from tvm.script import ir as I  # noqa: E402
from tvm.script import relax as R  # noqa: E402

pytestmark = pytest.mark.tvm


@I.ir_module
class Repeated:
    @R.function
    def main(x: R.Tensor((2, 4), "float32")) -> R.Tensor((2, 4), "float32"):
        with R.dataflow():
            a = R.add(x, x)
            unused = R.multiply(x, x)
            b = R.add(x, x)
            c = R.multiply(a, b)
            R.output(c)
        return c


def test_common_subexpression_elimination_binds_a_repeated_expression_once(cpu_target):
    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((2, 4), "float32")) -> R.Tensor((2, 4), "float32"):
            with R.dataflow():
                a = R.add(x, x)
                unused = R.multiply(x, x)
                b = a
                c = R.multiply(a, a)
                R.output(c)
            return c

    after = run_technique(Repeated, "common-subexpression-elimination", cpu_target)
    tvm.ir.assert_structural_equal(after, Expected)


def test_dead_code_elimination_removes_unused_bindings(cpu_target):
    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((2, 4), "float32")) -> R.Tensor((2, 4), "float32"):
            with R.dataflow():
                a = R.add(x, x)
                b = R.add(x, x)
                c = R.multiply(a, b)
                R.output(c)
            return c

    after = run_technique(Repeated, "dead-code-elimination", cpu_target)
    tvm.ir.assert_structural_equal(after, Expected)


def _constants():
    """main(x) = x + (c0 * c1), with c0 and c1 constants: what constant folding evaluates."""
    c0 = relax.const(np.full((4,), 2.0, "float32"))
    c1 = relax.const(np.full((4,), 3.0, "float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor((2, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            scale = bb.emit(relax.op.multiply(c0, c1))
            out = bb.emit_output(relax.op.add(x, scale))
        bb.emit_func_output(out)
    return bb.get()


def test_constant_folding_evaluates_constant_subgraphs(cpu_target):
    six = relax.const(np.full((4,), 6.0, "float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor((2, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.add(x, six))
        bb.emit_func_output(out)
    after = run_technique(_constants(), "constant-folding", cpu_target)
    tvm.ir.assert_structural_equal(after, bb.get())


def _matmul_softmax():
    """main(x) = softmax(layer_norm(x @ W)), W, gamma, beta constants: a transformer block in small."""
    w = relax.const(np.ones((4, 4), "float32"))
    gamma, beta = relax.const(np.ones((4,), "float32")), relax.const(np.zeros((4,), "float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor((2, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.matmul(x, w))
            z = bb.emit(relax.op.nn.layer_norm(y, gamma, beta, axes=[-1]))
            out = bb.emit_output(relax.op.nn.softmax(z, axis=-1))
        bb.emit_func_output(out)
    return bb.get(), (w, gamma, beta)


def _projections(bias: bool = True, shared: bool = True):
    """main(x) = (relu(x) @ W_i + b_i for i in Q, K, V): three projections of one input (or, with
    ``shared=False``, the third reads x itself)."""
    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor((2, 3, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            h = bb.emit(relax.op.nn.relu(x))
            outs = []
            for i in range(3):
                y = bb.emit(relax.op.matmul(h if shared or i < 2 else x,
                                            relax.const(rng.standard_normal((8, 4 + i)).astype("float32"))))
                outs.append(bb.emit(relax.op.add(y, relax.const(rng.standard_normal(4 + i).astype("float32"))))
                            if bias else y)
            out = bb.emit_output(relax.Tuple(outs))
        bb.emit_func_output(out)
    return bb.get()


def _ops(mod, name: str) -> int:
    found = []
    relax.analysis.post_order_visit(mod["main"], lambda e: found.append(
        isinstance(e, relax.Call) and getattr(e.op, "name", None) == name))
    return sum(found)


def _run(mod, target, x):
    vm = relax.VirtualMachine(tvm.compile(mod, target), tvm.cpu())
    return [t.numpy() for t in vm["main"](tvm.runtime.tensor(x))]


@pytest.mark.parametrize("bias", [True, False])
def test_horizontal_fusion_makes_one_matmul_of_parallel_projections_with_identical_outputs(cpu_target, bias):
    before = _projections(bias)
    after = run_technique(before, "horizontal-fusion", cpu_target)
    assert _ops(before, "relax.matmul") == 3 and _ops(after, "relax.matmul") == 1
    assert _ops(after, "relax.strided_slice") == 3 and _ops(after, "relax.add") == (1 if bias else 0)
    x = np.random.default_rng(1).standard_normal((2, 3, 8)).astype("float32")
    for want, got in zip(_run(before, cpu_target, x), _run(after, cpu_target, x)):
        np.testing.assert_array_equal(got, want)   # the same dot products in the same order


def test_horizontal_fusion_leaves_matmuls_of_different_inputs_apart(cpu_target):
    after = run_technique(_projections(shared=False), "horizontal-fusion", cpu_target)
    assert _ops(after, "relax.matmul") == 2   # the two that share relu(x); the one reading x stays


def test_mixed_precision_matmul_in_float16_and_the_kept_ops_in_float32(cpu_target):
    before, (w, gamma, beta) = _matmul_softmax()
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor((2, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            x16 = bb.emit(relax.op.astype(x, "float16"))
            w16 = bb.emit(relax.op.astype(w, "float16"))
            y32 = bb.emit(relax.op.matmul(x16, w16, out_dtype="float32"))
            y16 = bb.emit(relax.op.astype(y32, "float16"))
            g16 = bb.emit(relax.op.astype(gamma, "float16"))
            b16 = bb.emit(relax.op.astype(beta, "float16"))
            # keep_fp32_ops (layer_norm by default): TVM's policy would run it in float16 here
            args = [bb.emit(relax.op.astype(v, "float32")) for v in (y16, g16, b16)]
            z32 = bb.emit(relax.op.nn.layer_norm(*args, axes=[-1]))
            z16 = bb.emit(relax.op.astype(z32, "float16"))
            z = bb.emit(relax.op.astype(z16, "float32"))   # softmax has no float16 policy: float32
            out = bb.emit_output(relax.op.nn.softmax(z, axis=-1))
        bb.emit_func_output(out)
    after = run_technique(before, "mixed-precision", cpu_target,
                          precision={"weights": "float16", "activations": "float16", "kv_cache": "none"})
    tvm.ir.assert_structural_equal(after, bb.get())


def test_mixed_precision_without_kept_ops_is_tvms_policy_alone(cpu_target):
    before, _ = _matmul_softmax()
    precision = {"weights": "float16", "activations": "float16", "kv_cache": "none"}
    after = run_technique(before, "mixed-precision", cpu_target, precision=precision, keep_fp32_ops=[])
    with cpu_target:
        expected = relax.transform.ToMixedPrecision(out_dtype="float32")(before)
    tvm.ir.assert_structural_equal(after, expected)


def test_operator_fusion_makes_one_kernel_of_a_producer_consumer_chain(cpu_target):
    from tvm import topi

    def add_relu(x, y):
        return topi.nn.relu(topi.add(x, y))

    def before():
        bb = relax.BlockBuilder()
        x, y = relax.Var("x", R.Tensor((8, 8), "float32")), relax.Var("y", R.Tensor((8, 8), "float32"))
        with bb.function("main", [x, y]):
            with bb.dataflow():
                z = bb.emit_te(topi.add, x, y, primfunc_name_hint="add")
                out = bb.emit_output(bb.call_te(topi.nn.relu, z, primfunc_name_hint="relu"))
            bb.emit_func_output(out)
        return relax.transform.AnnotateTIROpPattern()(bb.get())

    def expected():
        bb = relax.BlockBuilder()
        x, y = relax.Var("x", R.Tensor((8, 8), "float32")), relax.Var("y", R.Tensor((8, 8), "float32"))
        with bb.function("main", [x, y]):
            with bb.dataflow():
                out = bb.emit_output(bb.call_te(add_relu, x, y, primfunc_name_hint="fused_add_relu"))
            bb.emit_func_output(out)
        return bb.get()

    after = run_technique(before(), "operator-fusion", cpu_target)
    tvm.ir.assert_structural_equal(after, expected())


@pytest.mark.parametrize("name", ["autotuning", "static-memory-planning", "cuda-graphs"])
def test_techniques_of_later_stages_add_no_graph_pass(name, cpu_target):
    fields = {"budget": {"trials": 1, "wall_clock_s": 1}} if name == "autotuning" else {}
    tvm.ir.assert_structural_equal(run_technique(Repeated, name, cpu_target, **fields), Repeated)


def test_unknown_technique_is_refused_with_the_list_of_lowered_ones():
    from planctl.errors import LoweringError
    from planctl.lowering.techniques import enabled_techniques

    spec = type("Spec", (), {"optimizations": [technique("pruning", sparsity=0.5, pattern="2:4")]})()
    with pytest.raises(LoweringError, match="not lowered by planctl apply yet") as err:
        enabled_techniques(spec)
    assert "constant-folding" in err.value.hint


def test_a_disabled_default_technique_switches_its_pass_off():
    from planctl.lowering.techniques import disabled_passes

    def spec(*techniques):
        return type("Spec", (), {"optimizations": list(techniques)})()

    assert disabled_passes(spec(technique("constant-folding"))) == []
    assert disabled_passes(spec(technique("static-memory-planning"))) == []
    assert disabled_passes(spec(technique("static-memory-planning", enabled=False))) == ["StaticPlanBlockMemory"]


# ------------------------------------------------------------ settings apply refuses, at their line
H200 = Path(__file__).resolve().parents[2] / "plans" / "minilm-embed-h200.yaml"


def _plan(tmp_path: Path, old: str, new: str):
    from planctl.documents.load import load_plan

    text = H200.read_text()
    assert old in text
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(old, new))
    return load_plan(path), path.read_text().splitlines()


def test_a_keep_fp32_ops_name_that_is_no_operator_is_refused_at_its_line(tmp_path):
    from planctl.errors import LoweringError
    from planctl.lowering.techniques import check_techniques, enabled_techniques

    plan, lines = _plan(tmp_path, "      accumulate: float32\n",
                        "      accumulate: float32\n      keep_fp32_ops: [softmax, layernorm]\n")
    with pytest.raises(LoweringError, match="'layernorm' is not a Relax operator") as err:
        check_techniques(plan, enabled_techniques(plan.model.spec))
    assert "keep_fp32_ops" in lines[err.value.line - 1] and err.value.file.endswith("plan.yaml")


def test_cuda_graphs_without_static_memory_planning_is_refused(tmp_path):
    from planctl.errors import LoweringError
    from planctl.lowering.techniques import check_techniques, enabled_techniques

    plan, lines = _plan(tmp_path, "    - technique: cuda-graphs\n",
                        "    - technique: cuda-graphs\n    - technique: static-memory-planning\n"
                        "      enabled: false\n")
    with pytest.raises(LoweringError, match="cuda-graphs needs static-memory-planning") as err:
        check_techniques(plan, enabled_techniques(plan.model.spec))
    assert "cuda-graphs" in lines[err.value.line - 1]
    from planctl.documents.load import load_plan

    committed = load_plan(H200)
    check_techniques(committed, enabled_techniques(committed.model.spec))   # the plan as committed is fine
