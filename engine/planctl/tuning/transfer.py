"""Transfer tuning: a kernel's best schedules at the plan's other shapes, fitted to this shape.

A plan's buckets run the same kernels at different shapes (MiniLM's Q/K/V matmul is 64 x 384 x 1152
at 1 x 64 and 4096 x 384 x 1152 at 32 x 128), and a search is cheapest where the kernel is smallest:
the small buckets get many trials, the large ones few (each candidate costs seconds). Before a task
is searched, the worker takes the best record of every other workload in the cache that is the same
kernel (:func:`kernel_signature`: the same blocks, iterating the same way), replays its
trace on this task (``Trace.apply_to_schedule`` without its postprocessing), scaling each tile-size
decision whose loop changed extent (:func:`rescale`: the outermost factor takes the change, so the
register and cache tiles stay those that were measured best), runs the target's postprocessors
(parallel/vectorize/unroll, layout rewrite) and measures the result with the search's own builder
and runner. Traces that do not fit (another kernel, a tile that does not divide) are skipped
without a measurement. Every measured transfer is committed as a tuning record (provenance source
``transfer``): the best record serves, whichever way it was found, and the search that follows
starts from it (MetaSchedule's evolutionary search seeds its population with the database's best).

Source: the idea is "transfer-tuning" (Gibson and Cano, "Transfer-Tuning: Reusing Auto-Schedules
for Efficient Tensor Program Code Generation", PACT 2022). Measured on MiniLM, x86-64-avx2, a 2-core
AMD EPYC Zen 3: the 32 x 16 bucket's matmul schedules run the 32 x 128 bucket's Q/K/V, FFN-down and
attention-output matmuls 1.30-1.45x faster than that bucket's own searched records (bench/README.md).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

TRANSFERS_PER_TASK = 6   # sources measured per task at most (each costs a build and a cold run)


def rescale(decision: Sequence[int], extent: int) -> Optional[list[int]]:
    """A perfect-tile decision (factors, outermost first, whose product was the source loop's
    extent) fitted to a loop of ``extent``: growth multiplies the outermost factor; shrinkage
    divides the factors from the outermost in. None when the ratio is not a whole number.

    >>> rescale([16, 1, 1, 1], 128), rescale([1, 8, 2, 2], 8), rescale([3, 24, 1, 16], 100)
    ([128, 1, 1, 1], [1, 2, 2, 2], None)
    """
    factors = [int(f) for f in decision]
    product = math.prod(factors)
    if extent == product:
        return factors
    if extent % product == 0:
        return [factors[0] * (extent // product), *factors[1:]]
    if product % extent:
        return None
    shrink = product // extent
    for i, factor in enumerate(factors):
        common = math.gcd(factor, shrink)
        factors[i], shrink = factor // common, shrink // common
    return factors if shrink == 1 else None


def kernel_signature(mod) -> Optional[tuple]:
    """What makes two workloads the same kernel at different shapes: each block's name and the
    kinds of its iterators (spatial, reduction), sorted; shapes and constants left out. None for a
    module the schedule cannot walk (it matches nothing)."""
    from tvm.s_tir import Schedule

    try:
        sch = Schedule(mod)
        blocks, stack = [], [sch.get_sblock("root")]
        while stack:
            for child in sch.get_child_blocks(stack.pop()):
                block = sch.get(child)
                blocks.append((block.name_hint, tuple(int(iv.iter_type) for iv in block.iter_vars)))
                stack.append(child)
    except Exception:  # noqa: BLE001 - e.g. a kernel without a root block: never a transfer source or target
        return None
    return tuple(sorted(blocks))


def workload_shape(record) -> Optional[str]:
    """The shape of a tuning record's first tensor argument, e.g. ``8 x 128 x 1536`` (a fused
    matmul's activation: it names the bucket a schedule came from); None without one."""
    try:
        kind, _dtype, shape = record.args_info[0].as_json()
        return " x ".join(str(int(d)) for d in shape) if kind == "TENSOR" else None
    except Exception:  # noqa: BLE001 - no argument info: nothing to name
        return None


class DoesNotFit(Exception):
    """A source trace that cannot schedule this task."""


def fitted_schedule(trace, mod, postprocs):
    """``trace`` (a MetaSchedule trace from another workload) replayed on ``mod`` with its tile
    sizes rescaled, then ``postprocs`` applied. Raises DoesNotFit when it cannot be."""
    from tvm.s_tir import Schedule

    sch = Schedule(mod)

    def provide(inst, inputs, _attrs, decision):
        if inst.kind.name != "SamplePerfectTile":
            return decision
        fitted = rescale(decision, int(sch.get(inputs[0]).extent))
        if fitted is None:
            raise DoesNotFit("a tile does not divide")
        return fitted

    try:
        trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=provide)
        sch.enter_postproc()  # as MetaSchedule marks it: a replay of this trace drops what follows
        fits = all(p.apply(sch) for p in postprocs)
    except Exception as err:  # noqa: BLE001 - TVM raises its own errors for a trace of another kernel
        raise DoesNotFit(str(err).splitlines()[0] if str(err) else type(err).__name__) from err
    if not fits:
        raise DoesNotFit("a postprocessor refused it")
    return sch


def transfer(names: list[str], tasks: dict, database, target, measure, budget: int,
             per_task: int = TRANSFERS_PER_TASK) -> int:
    """For each task in ``names``, measure up to ``per_task`` fitted schedules from other workloads'
    best records and commit each (``measure(sch) -> (run_secs, args_info)``). At most ``budget``
    measurements in all; returns how many were made."""
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.database import TuningRecord

    from planctl.tuning.store.record import FAILED_S

    made, base = 0, dict(database.provenance)
    best = [(key, record, kernel_signature(record.workload.mod))
            for key, record in database.best_of_each_workload(FAILED_S)]
    for name in names:
        mod = tasks[name].dispatched[0]
        signature = kernel_signature(mod)
        same_kernel = [(key, record) for key, record, found in best
                       if signature is not None and found == signature]
        if not same_kernel:   # nothing to fit: no workload added, no time spent
            continue
        workload = database.commit_workload(mod)
        own = database.workload_key(workload)
        postprocs = ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply",
                                   task_name=name).space_generator.postprocs
        tried = 0
        for source_hash, record in same_kernel:
            if made >= budget or tried >= per_task:
                break
            if source_hash == own:
                continue
            try:
                sch = fitted_schedule(record.trace, mod, postprocs)
            except DoesNotFit:
                continue
            secs, args_info = measure(sch)
            database.provenance = {**base, "source": "transfer", "transferred_from": source_hash,
                                   "transferred_from_shape": workload_shape(record)}
            database.commit_tuning_record(TuningRecord(sch.trace, workload, secs, target, args_info))
            print(f"transfer {name}: from workload {source_hash}: "
                  + (f"{sum(secs) / len(secs) * 1e3:.3f} ms" if secs[0] < FAILED_S else "failed"), flush=True)
            made, tried = made + 1, tried + 1
    database.provenance = base
    return made
