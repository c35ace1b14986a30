"""Register-tile sweep: a matmul's multi-level tiling with its innermost tiles sized to the vector unit.

MetaSchedule's CPU schedule of a matmul tiles each loop at four levels (spatial) or two
(reduction), ``SSRSRS``: the innermost spatial tiles are the register block, the inner reduction
tile is how many steps of K each block takes between its outer loops. The evolutionary search
samples those sizes at random and ranks them with a cost model trained on the task's own
measurements, so a task with a few hundred trials can miss the blocks a BLAS would pick. On MiniLM's
FFN-down at 8 x 128 (1024 x 1536 x 384), 256 trials of a refine found nothing faster than a record at
332 GFLOP/s; its blocks were 1 row x 2 registers. The blocks below ran it at 381-417 GFLOP/s, and
the Q/K/V, FFN-up and attention-output matmuls of the same bucket 4-19% faster than their records
(each alone, warm, 2 threads; x86-64-avx512 on a 2-core Intel Xeon VM, 2026-12-03).

Each candidate is the task's best trace (the same instructions, so the same fusion, cache reuse and
layout rewrite; for a task nothing serves yet, MetaSchedule's own first sketch of it) with its tile
decisions replaced (:func:`register_tiles`): a block of rows x columns accumulators in registers,
half or a quarter of the vector registers (the rest hold the broadcast operand, the loaded B vectors
and addresses: the register blocking of Goto and van de Geijn, "Anatomy of High-Performance Matrix
Multiplication", ACM TOMS 34(3), 2008, which gives the block of C about half the registers), its rows
split between the two inner spatial levels; K stepped 4 at a time where it divides; the rest of the
rows and columns in the outer levels, the outer loops parallel. Candidates are measured like the
search's and committed as tuning records of provenance source ``sweep``; the best record serves,
whichever way it was found, and the search that follows starts from it.
"""
from __future__ import annotations

import math
from typing import Optional

SWEEP_SHARE = 2   # a task is swept only when its trial share leaves the search as many trials as the sweep takes
# a share below this is the search's alone, decided before any TVM work (a task has up to 22 candidates;
# a tuning context can take half a minute to build on 2 cores, longer than a 1 s wall clock's grace)
SWEEP_MIN_SHARE = 32


def _register_blocks(lanes: int, registers: int):
    """(rows, columns) of register blocks: half the registers as accumulators, then a quarter; each
    two registers wide, then four."""
    for accumulators in (registers // 2, registers // 4):
        for width in (2 * lanes, 4 * lanes):
            if accumulators * lanes >= width:
                yield accumulators * lanes // width, width


def _row_split(row_tiles: int, chunks_per_row: int, cores: int) -> int:
    """The outermost (parallel) factor of the rows: the least that gives every core 4 chunks of work
    (``chunks_per_row``: the parallel chunks of one row of blocks), else all of them."""
    return next(d for d in range(1, row_tiles + 1)
                if row_tiles % d == 0 and (d * chunks_per_row >= 4 * cores or d == row_tiles))


def register_tiles(spatial: list[int], reduction: int, lanes: int, registers: int,
                   cores: int) -> list[list[list[int]]]:
    """Tile decisions for a matmul whose spatial loops have extents ``spatial`` (outermost first;
    the last is the output's columns, vectorized; the one before it, the rows) and whose one
    reduction loop has extent ``reduction``: per candidate, four factors per spatial loop and two for
    the reduction loop, outermost first, in the trace's order. Most promising first (the fastest
    at MiniLM's matmuls, module docstring): half the registers as accumulators before a quarter, blocks two
    registers wide before four; each block's rows all innermost, then split with the level above.

    >>> register_tiles([8, 128, 384], 1536, lanes=16, registers=32, cores=2)[0]
    [[8, 1, 1, 1], [1, 16, 1, 8], [12, 1, 1, 32], [384, 4]]
    >>> register_tiles([3, 7], 10, lanes=16, registers=32, cores=2)
    []
    """
    if len(spatial) < 2:
        return []
    *outer, rows, cols = spatial
    step = next(k for k in (4, 2, 1) if reduction % k == 0)
    found: list[list[list[int]]] = []
    for block, width in _register_blocks(lanes, registers):
        if rows % block or cols % width:
            continue
        for inner in (r for r in (block, block // 2, block // 4) if r >= 1 and block % r == 0):
            for col_blocks in (b for b in (1, 2) if cols % (width * b) == 0):
                across, row_tiles = cols // (width * col_blocks), rows // block
                split = _row_split(row_tiles, math.prod(outer) * across, cores)
                tiles = [*[[e, 1, 1, 1] for e in outer], [split, row_tiles // split, block // inner, inner],
                         [across, col_blocks, 1, width], [reduction // step, step]]
                if tiles not in found:
                    found.append(tiles)
    return found


def tiled_loops(trace) -> Optional[list[int]]:
    """Factor counts of the trace's ``SamplePerfectTile`` instructions, in order, when the trace is
    one ``SSRSRS`` multi-level tiling (spatial loops 4 factors, then one reduction loop 2); None for
    any other trace (more than one tiled block, another structure): the sweep leaves it alone."""
    structures = [inst for inst in trace.insts if inst.kind.name == "Annotate"
                  and str(inst.attrs[0]) == "meta_schedule.tiling_structure"]
    if len(structures) != 1 or str(structures[0].inputs[1]).strip('"') != "SSRSRS":
        return None
    counts = [int(inst.attrs[0]) for inst in trace.insts if inst.kind.name == "SamplePerfectTile"]
    if len(counts) < 3 or counts[-1] != 2 or any(c != 4 for c in counts[:-1]):
        return None
    return counts


def schedules(trace, mod, postprocs, tiles: list[list[list[int]]]) -> list:
    """``mod``'s schedules from ``trace`` with each of ``tiles`` (:func:`register_tiles`) as its tile
    decisions, then ``postprocs``; a candidate TVM refuses is left out."""
    from tvm.s_tir import Schedule

    found = []
    for decisions in tiles:
        sch, given = Schedule(mod), iter(decisions)

        def provide(inst, _inputs, _attrs, decision, given=given):
            return next(given) if inst.kind.name == "SamplePerfectTile" else decision

        try:
            trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=provide)
            sch.enter_postproc()
            if all(p.apply(sch) for p in postprocs):
                found.append(sch)
        except Exception:  # noqa: BLE001 - TVM raises its own errors for a tile it cannot apply: left out
            continue
    return found


def base_trace(database, workload, context):
    """The trace the sweep edits: the task's best record's, when it is one multi-level tiling, else
    (a task nothing serves yet) the first of MetaSchedule's own design-space sketches that is; None."""
    best = database.get_top_k(workload, 1)
    if best and tiled_loops(best[0].trace) is not None:
        return best[0].trace
    return next((sch.trace for sch in context.generate_design_space() if tiled_loops(sch.trace) is not None), None)


def _tile_extents(trace, mod) -> Optional[list[int]]:
    """The extents of the loops the trace's ``SamplePerfectTile`` instructions tile, in order."""
    from tvm.s_tir import Schedule

    sch, extents = Schedule(mod), []

    def record(inst, inputs, _attrs, decision):
        if inst.kind.name == "SamplePerfectTile":
            extents.append(int(sch.get(inputs[0]).extent))
        return decision

    try:
        trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=record)
    except Exception:  # noqa: BLE001 - a trace that does not replay has nothing to sweep
        return None
    return extents


def sweep(names: list[str], tasks: dict, database, target, measure, budget: int, share: int,
          out_of_time=lambda: False) -> int:
    """For each task in ``names`` that is one multi-level tiling (:func:`base_trace`), measure its
    register-tile candidates (``measure(schedules) -> [(run_secs, args_info)]``) and commit each as a
    record of source ``sweep``: at most ``budget`` measurements in all, and only for tasks whose trial
    ``share`` is at least :data:`SWEEP_SHARE` times their candidates (and :data:`SWEEP_MIN_SHARE`), while
    ``out_of_time()`` says the wall clock allows. Returns the measurements made."""
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.database import TuningRecord

    from planctl.lowering.vector_unit import vector_unit
    from planctl.tuning.store.record import FAILED_S

    if target.kind.name != "llvm" or share < SWEEP_MIN_SHARE:
        return 0
    unit, cores = vector_unit(target), int(target.attrs.get("num-cores", 1) or 1)
    made, base = 0, dict(database.provenance)
    for name in names:
        if out_of_time():
            break
        mod = tasks[name].dispatched[0]
        context = ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply", task_name=name,
                                 rand_state=0)
        workload = database.commit_workload(mod)
        trace = base_trace(database, workload, context)
        extents = _tile_extents(trace, mod) if trace is not None else None
        tiles = register_tiles(extents[:-1], extents[-1], unit.lanes, unit.registers, cores) if extents else []
        if not tiles or share < SWEEP_SHARE * len(tiles) or made + len(tiles) > budget:
            continue
        candidates = schedules(trace, mod, context.space_generator.postprocs, tiles)
        database.provenance = {**base, "source": "sweep"}
        times = measure(candidates) if candidates else []
        for sch, (secs, args_info) in zip(candidates, times):
            database.commit_tuning_record(TuningRecord(sch.trace, workload, secs, target, args_info))
        made += len(candidates)
        valid = [sum(s) / len(s) for s, _ in times if s[0] < FAILED_S]
        print(f"sweep {name}: {len(candidates)} register tiles, "
              + (f"best {min(valid) * 1e3:.3f} ms" if valid else "none ran"), flush=True)
    database.provenance = base
    return made
