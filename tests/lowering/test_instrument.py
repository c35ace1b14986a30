"""planctl.lowering.instrument: one record per top-level pass, with the IR's size before and after,
and none for the passes FoldConstant runs inside itself."""
from __future__ import annotations

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402
from tvm.script import relax as R  # noqa: E402

from planctl.lowering.instrument import make_recorder, module_stats  # noqa: E402

pytestmark = pytest.mark.tvm


def _folded_constant_module():
    bb = relax.BlockBuilder()
    x = relax.Var("x", R.Tensor((4,), "float32"))
    c = relax.const(np.ones((4,), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            d = bb.emit(relax.op.add(c, c))
            out = bb.emit_output(relax.op.add(x, d))
        bb.emit_func_output(out)
    return relax.transform.LegalizeOps()(bb.get())


def test_top_level_passes_only_with_sizes_before_and_after():
    mod = _folded_constant_module()
    records = []
    with tvm.transform.PassContext(opt_level=3, instruments=[make_recorder(records)]):
        mod = relax.transform.FoldConstant()(mod)     # compiles and runs TIR inside: nested passes
        mod = relax.transform.DeadCodeElimination()(mod)
    assert [r.name for r in records] == ["FoldConstant", "DeadCodeElimination"]
    fold = records[0]
    assert (fold.bindings_before, fold.bindings_after) == (2, 1) and fold.prim_funcs_before == 1
    assert records[1].prim_funcs_after == 1 and fold.seconds >= 0
    assert module_stats(mod) == {"bindings": records[1].bindings_after, "ops": 0, "prim_funcs": 1}
