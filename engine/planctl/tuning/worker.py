"""The MetaSchedule search, run in a child process (``python -m planctl.tuning.worker SPEC``).

A child process because a native crash in tuning (the tvm-ffi 0.1.15 segfault) must not take the
apply down, and because the wall-clock budget is enforced by killing it: the records it committed
before that stay in the database. ``fast_build`` is TVM's default builder minus the
``tvm.s_tir.tensor_intrin`` import that takes ~36 s per fresh worker on 2 cores and makes every
build time out under the default 30 s limit (shared/notes/tvm-0.27.md §9).
"""
from __future__ import annotations

import json
import sys


def fast_build(mod, target, _params):
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return tvm_build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


def run(spec: dict) -> None:
    import tvm
    from tvm.s_tir import meta_schedule as ms

    from planctl.lowering.build import make_target

    target = make_target(spec["target"])
    mod = tvm.ir.load_json(open(spec["module_json"]).read())
    wanted = set(spec["tasks"])
    extracted = [t for t in ms.relax_integration.extract_tasks(mod, target) if t.task_name in wanted]
    contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
        extracted_tasks=extracted, work_dir=spec["work_dir"], space="post-order-apply",
        strategy="evolutionary", seed=spec["seed"])
    per_task = spec["trials_per_task"]
    ms.tune.tune_tasks(
        tasks=contexts, task_weights=weights, work_dir=spec["work_dir"],
        max_trials_global=spec["trials"], max_trials_per_task=per_task,
        num_trials_per_iter=min(64, per_task),
        builder=ms.builder.LocalBuilder(f_build=fast_build, timeout_sec=spec.get("build_timeout_s", 60)),
        runner=ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(
            number=spec.get("number", 3), repeat=1, min_repeat_ms=spec.get("min_repeat_ms", 50))),
        database=ms.database.JSONDatabase(path_workload=spec["workload_file"],
                                          path_tuning_record=spec["record_file"], allow_missing=True),
        cost_model=spec.get("cost_model", "xgb"))


if __name__ == "__main__":
    run(json.loads(open(sys.argv[1]).read()))
