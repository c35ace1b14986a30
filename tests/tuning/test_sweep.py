"""The register-tile sweep (planctl.tuning.sweep): candidates that tile every loop exactly, keep their
accumulators within the vector registers, and, searched before MetaSchedule, are committed as records
whose build computes the same function."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from planctl.tuning.sweep import SWEEP_SHARE, register_tiles

AVX512 = {"lanes": 16, "registers": 32}
AVX2 = {"lanes": 8, "registers": 16}


@pytest.mark.parametrize("unit", [AVX512, AVX2], ids=["avx512", "avx2"])
@pytest.mark.parametrize("spatial, reduction", [([8, 128, 384], 1536), ([1, 64, 1152], 384), ([32, 16, 1536], 384),
                                                ([256, 128], 128), ([4, 8, 48, 96], 30)])
def test_every_candidate_tiles_each_loop_exactly_and_fits_the_registers(unit, spatial, reduction):
    candidates = register_tiles(spatial, reduction, cores=2, **unit)
    assert candidates and len(candidates) == len({str(c) for c in candidates})
    for tiles in candidates:
        assert [math.prod(t) for t in tiles] == [*spatial, reduction]
        assert [len(t) for t in tiles] == [4] * len(spatial) + [2]
        *outer, rows, cols, steps = tiles
        assert all(t[1:] == [1, 1, 1] for t in outer)          # outer loops: all parallel
        assert cols[2] == 1 and cols[3] in (2 * unit["lanes"], 4 * unit["lanes"])
        accumulators = rows[2] * rows[3] * cols[3] // unit["lanes"]
        assert unit["registers"] // 4 <= accumulators <= unit["registers"] // 2
        assert steps[1] == next(k for k in (4, 2, 1) if reduction % k == 0)


def test_half_the_registers_two_wide_come_first_and_outer_loops_feed_every_core():
    first = register_tiles([1, 64, 384], 384, cores=2, **AVX512)[0]
    assert first == [[1, 1, 1, 1], [1, 8, 1, 8], [12, 1, 1, 32], [96, 4]]   # 8 rows x 2 registers = 16
    # 3 column blocks: the rows are split until there are 4 parallel chunks a core, or no more rows
    assert register_tiles([1, 64, 96], 384, cores=2, **AVX512)[0][1] == [4, 2, 1, 8]     # 12 chunks
    assert register_tiles([1, 64, 96], 384, cores=16, **AVX512)[0][1] == [8, 1, 1, 8]    # 24, all there are


def test_nothing_to_sweep_where_no_block_divides():
    assert register_tiles([3, 7], 10, cores=2, **AVX512) == []
    assert register_tiles([384], 384, cores=2, **AVX512) == []      # no row loop


@pytest.mark.tvm
def test_the_sweep_runs_before_the_search_and_its_best_build_is_right(tmp_path: Path):
    pytest.importorskip("tvm")
    from planctl.lowering.build import make_target
    from planctl.tuning.budget import Budget
    from tests.tuning.test_search_tvm import TARGET, open_cache
    from tests.tuning.test_transfer import assert_served_build_is_right, matmul_relu

    target, mod = make_target(TARGET), matmul_relu(64)
    sweepable = len(register_tiles([64, 128], 128, cores=2, **AVX2))   # haswell: AVX2

    small = open_cache(tmp_path / "small")
    report = small.tune(mod, target, Budget(trials=2, wall_clock_s=300, trials_per_task=2), seed=0,
                        plan=("tiny", "abc"), allow_drift=False)
    sources = [rec.json("provenance").get("source") for rec in small.store.records(session=report.session)]
    assert sources == ["search", "search"]    # a share of 2 trials is the search's

    # a task nothing serves: the sweep edits MetaSchedule's own sketch; the trials are all the sweep's
    cache = open_cache(tmp_path / "cache")
    report = cache.tune(mod, target, Budget(trials=sweepable, wall_clock_s=600,
                                            trials_per_task=SWEEP_SHARE * sweepable),
                        seed=0, plan=("tiny", "abc"), allow_drift=False)
    records = cache.store.records(session=report.session)
    assert [rec.json("provenance").get("source") for rec in records] == ["sweep"] * sweepable
    assert all(rec.min_s < 1.0 for rec in records)     # every candidate built and ran
    assert report.trials_spent == sweepable and report.tasks[0].best_sweep_ms is not None
    assert_served_build_is_right(mod, 64, target, cache)
