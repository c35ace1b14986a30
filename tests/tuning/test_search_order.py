"""The search's batch sizes (planctl.tuning.worker.batch_cap): every task gets a small first batch
before any task gets a second one, so light tasks are scheduled within a budget the heavy ones
could spend alone."""
from __future__ import annotations

from planctl.tuning.worker import FIRST_BATCH, batch_cap


def _rounds(tasks: list[str], trials: int, per_task: int, per_iter: int) -> list[tuple[int, str, int]]:
    """The batches search_in_rounds would run if every batch added all its trials."""
    done, spent, batches = {t: 0 for t in tasks}, 0, []
    for round_no in range(100):
        for name in tasks:
            cap = batch_cap(round_no, per_iter, per_task, done[name], trials - spent)
            if cap:
                batches.append((round_no, name, cap))
                done[name] += cap
                spent += cap
    return batches


def test_every_task_gets_a_first_batch_before_a_heavy_task_gets_more():
    batches = _rounds(["ffn_up", "ffn_down", "layer_norm", "gather"], trials=128, per_task=64, per_iter=64)
    assert batches[:4] == [(0, t, FIRST_BATCH) for t in ("ffn_up", "ffn_down", "layer_norm", "gather")]
    assert batches[4] == (1, "ffn_up", 64 - FIRST_BATCH) and batches[5] == (1, "ffn_down", 16)
    assert sum(c for *_, c in batches) == 128


def test_a_batch_never_passes_the_task_share_or_the_budget():
    assert batch_cap(0, per_iter=8, per_task=8, done=0, trials_left=100) == 8
    assert batch_cap(3, per_iter=64, per_task=96, done=90, trials_left=100) == 6
    assert batch_cap(1, per_iter=64, per_task=96, done=0, trials_left=5) == 5
    assert batch_cap(2, per_iter=64, per_task=96, done=96, trials_left=5) == 0


def test_a_batch_that_commits_less_than_half_its_trials_exhausts_the_task():
    from planctl.tuning.worker import exhausted

    assert exhausted(0, 16) and exhausted(4, 16) and exhausted(1, 64)
    assert not exhausted(8, 16) and not exhausted(16, 16) and not exhausted(1, 1)
