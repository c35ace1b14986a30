"""Transfer tuning (planctl.tuning.transfer): the best schedule of a kernel at one shape, fitted to
the same kernel at another, measured and committed before the search; the build it gives computes
the same function."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planctl.tuning.transfer import rescale


@pytest.mark.parametrize("decision, extent, fitted", [
    ([16, 1, 1, 1], 16, [16, 1, 1, 1]),        # same extent: unchanged
    ([16, 1, 1, 1], 128, [128, 1, 1, 1]),      # growth goes to the outermost factor
    ([2, 4, 2, 8], 256, [4, 4, 2, 8]),
    ([1, 8, 2, 2], 8, [1, 2, 2, 2]),           # shrinkage from the outermost in: inner tiles kept
    ([4, 2, 1, 16], 32, [1, 2, 1, 16]),
    ([1, 2, 4, 8], 16, [1, 1, 2, 8]),          # outermost is 1: the next factor gives
    ([3, 24, 1, 16], 100, None),               # 1152 -> 100: not a whole ratio
    ([2, 3], 4, None),                         # 6 -> 4
    ([6, 1], 4, None),                         # 6 / 4 is not whole, and neither is 4 / 6
])
def test_rescale_keeps_inner_tiles_and_refuses_what_does_not_divide(decision, extent, fitted):
    assert rescale(decision, extent) == fitted


WEIGHT = np.random.default_rng(0).standard_normal((128, 128)).astype("float32")


def matmul_relu(rows: int):
    """relu(x @ W) for x of (rows, 128) float32, legalized and fused: one tuning task."""
    tvm = pytest.importorskip("tvm")
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((rows, 128), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.op.nn.relu(relax.op.matmul(x, relax.const(WEIGHT)))))
        bb.emit_func_output(out)
    fuse = tvm.transform.Sequential([relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                                     relax.transform.FoldConstant(), relax.transform.FuseOps(),
                                     relax.transform.FuseTIR()])
    return fuse(bb.get())


@pytest.mark.tvm
def test_a_search_starts_from_the_other_shapes_best_schedule_and_its_build_is_right(tmp_path: Path):
    pytest.importorskip("tvm")
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget
    from tests.tuning.test_search_tvm import TARGET, open_cache

    target, cache = make_target(TARGET), open_cache(tmp_path / "cache")
    small = cache.tune(matmul_relu(32), target, Budget(trials=2, wall_clock_s=300, trials_per_task=2),
                       seed=0, plan=("tiny", "abc"), allow_drift=False)
    assert small.tasks[0].served_by == "searched"
    small_hash = {rec.workload_hash for rec in cache.store.records()}

    large_mod = matmul_relu(256)
    # one trial: the transfer spends it, so the only record of the large shape is the transferred one
    large = cache.tune(large_mod, target, Budget(trials=1, wall_clock_s=300, trials_per_task=1),
                       seed=0, plan=("tiny", "abc"), allow_drift=False)
    session = cache.store.records(session=large.session)
    assert [rec.json("provenance").get("source") for rec in session] == ["transfer"]
    assert session[0].json("provenance")["transferred_from"] in small_hash
    assert session[0].json("provenance")["transferred_from_shape"] == "32 x 128"   # the small workload's x
    assert large.tasks[0].best_transfer_from == "32 x 128"
    assert session[0].min_s < 1.0 and large.trials_spent == 1    # built, ran, counted against the budget

    # a search after the transfer starts from it (MetaSchedule replays the database's best traces)
    # (a refine first re-times the serving record, REMEASURE_RUNS times, then transfers, then searches)
    again = cache.tune(large_mod, target, Budget(trials=5, wall_clock_s=300, trials_per_task=5), seed=0,
                       plan=("tiny", "abc"), allow_drift=False, refine=(large.tasks[0].name,))
    sources = [rec.json("provenance").get("source") for rec in cache.store.records(session=again.session)]
    assert sources.count("remeasured") == 2 and sources.count("transfer") == 1 and sources.count("search") == 2, \
        sources
    assert again.tasks[0].best_transfer_ms is not None

    assert_served_build_is_right(large_mod, 256, target, cache)


def assert_served_build_is_right(mod, rows: int, target, cache) -> None:
    """``mod`` (:func:`matmul_relu` of ``rows``) built with the cache's records computes relu(x @ W)."""
    import tvm
    from tvm import relax

    from planctl.lowering.build import apply_database

    scheduled_mod, scheduled, _ = apply_database(mod, target, cache.database())
    assert scheduled == 1
    vm = relax.VirtualMachine(tvm.compile(scheduled_mod, target), tvm.cpu())
    x = np.random.default_rng(1).standard_normal((rows, 128)).astype("float32")
    got = vm["main"](tvm.runtime.tensor(x)).numpy()
    np.testing.assert_allclose(got, np.maximum(x @ WEIGHT, 0), rtol=1e-4, atol=1e-4)
