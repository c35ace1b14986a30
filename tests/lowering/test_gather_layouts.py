"""planctl.lowering.gathers.keep_gather_layouts: a gather's table read at data-dependent indices
is not layout-free (MetaSchedule's layout rewrite assumes affine accesses), a matmul's weight
stays layout-free."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.tvm
tvm = pytest.importorskip("tvm")


def _module():
    import numpy as np
    from tvm import relax

    rng = np.random.default_rng(0)
    table = relax.const(rng.standard_normal((64, 16)).astype("float32"))
    weight = relax.const(rng.standard_normal((16, 8)).astype("float32"))
    bb = relax.BlockBuilder()
    ids = relax.Var("ids", relax.TensorType((2, 4), "int64"))
    with bb.function("main", [ids]):
        with bb.dataflow():
            rows = bb.emit(relax.op.take(table, ids, axis=0, mode="fast"))
            out = bb.emit_output(relax.op.matmul(rows, weight))
        bb.emit_func_output(out)
    return relax.transform.LegalizeOps()(bb.get())


def _free(mod) -> dict[str, list[int]]:
    from tvm import tirx

    return {gv.name_hint: [int(i) for i in f.attrs["layout_free_buffers"]]
            for gv, f in mod.functions.items()
            if isinstance(f, tirx.PrimFunc) and f.attrs is not None and "layout_free_buffers" in f.attrs}


def test_the_gather_table_loses_its_layout_free_mark_and_the_weight_keeps_it():
    from tvm import relax

    from planctl.lowering.gathers import indirect_reads, keep_gather_layouts

    marked = relax.transform.AttachAttrLayoutFreeBuffers()(_module())
    before = _free(marked)
    assert any(name.startswith("take") for name in before) and any(name.startswith("matmul") for name in before)
    after = _free(keep_gather_layouts()(marked))
    assert not any(name.startswith("take") for name in after)
    assert {n: v for n, v in after.items() if n.startswith("matmul")} == \
        {n: v for n, v in before.items() if n.startswith("matmul")}
    take = next(f for gv, f in marked.functions.items() if gv.name_hint.startswith("take"))
    assert len(indirect_reads(take)) == 1


def test_gathers_are_not_tuning_tasks_and_the_matmul_is():
    from planctl.tuning.search import extract

    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    names = [t.task_name for t in extract(_module(), target)]
    assert any(n.startswith("matmul") for n in names) and not any(n.startswith("take") for n in names)
