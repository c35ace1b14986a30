"""planctl.tuning.arguments: MetaSchedule's runner times gathers on in-range indices, so a gather
task gets valid records instead of crashing every candidate on random int64 indices."""
from __future__ import annotations

import pytest

from planctl.tuning.arguments import host_arrays, index_bound

TAKE = [("TENSOR", "float32", [30522, 64]), ("TENSOR", "int64", [2, 128]), ("TENSOR", "float32", [2, 128, 64])]


def test_the_index_bound_is_the_smallest_floating_point_extent():
    assert index_bound(TAKE) == 2
    assert index_bound([("TENSOR", "int32", [8]), ("TENSOR", "int64", [8])]) == 1
    assert index_bound([("TENSOR", "float32", [7, 0])]) == 1


def test_integer_arguments_are_in_range_and_floats_are_filled():
    np = pytest.importorskip("numpy")
    table, ids, out = host_arrays(TAKE, seed=3)
    assert ids.dtype == np.int64 and ids.shape == (2, 128) and 0 <= ids.min() and ids.max() < 2
    assert table.dtype == np.float32 and table.shape == (30522, 64) and np.abs(table).max() <= 1.0


@pytest.mark.tvm
def test_a_fast_mode_gather_gets_a_valid_record(tmp_path):
    tvm = pytest.importorskip("tvm")
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms

    from planctl.tuning.arguments import in_range_alloc_argument
    from planctl.tuning.worker import fast_build

    bb = relax.BlockBuilder()
    table = relax.Var("table", relax.TensorType((30522, 16), "float32"))
    ids = relax.Var("ids", relax.TensorType((2, 32), "int64"))
    with bb.function("main", [table, ids]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.take(table, ids, axis=0, mode="fast"))
        bb.emit_func_output(out)
    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    [task] = ms.relax_integration.extract_tasks(relax.transform.LegalizeOps()(bb.get()), target)
    runner = ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(number=1, repeat=1),
                                   f_alloc_argument=in_range_alloc_argument)
    database = ms.tune_tir(task.dispatched[0], target, str(tmp_path), max_trials_global=2, num_trials_per_iter=2,
                           builder=ms.builder.LocalBuilder(f_build=fast_build), runner=runner)
    records = database.get_all_tuning_records()
    assert records and all(float(r.run_secs[0]) < 1e9 for r in records)
