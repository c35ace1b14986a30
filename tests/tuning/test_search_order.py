"""The search's batch sizes (planctl.tuning.worker.batch_cap): every task gets a small first batch
before any task gets a second one, so light tasks are scheduled within a budget the heavy ones
could spend alone."""
from __future__ import annotations

from planctl.tuning.worker import FIRST_BATCH, batch_cap, first_share


def _rounds(tasks: list[str], trials: int, per_task: int, per_iter: int) -> list[tuple[int, str, int]]:
    """The batches search_in_rounds would run if every batch added all its trials."""
    done, spent, batches = {t: 0 for t in tasks}, 0, []
    share = first_share(trials, len(tasks))
    for round_no in range(100):
        for name in tasks:
            cap = batch_cap(round_no, per_iter, per_task, done[name], trials - spent, share)
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


def test_a_budget_smaller_than_the_tasks_first_batches_is_split_evenly_over_them():
    """16 trials for 6 tasks (trials_per_task 16): 2 each in the first round, not 16 to the first task
    and none to the other five; the 4 left go to a second round."""
    batches = _rounds(["conv1", "conv2", "matmul", "mean", "reshape", "softmax"], trials=16, per_task=16, per_iter=16)
    assert [c for r, _, c in batches if r == 0] == [2] * 6
    assert sum(c for *_, c in batches) == 16 and {n for _, n, _ in batches} == {"conv1", "conv2", "matmul", "mean",
                                                                                 "reshape", "softmax"}
    assert first_share(3, 6) == 2 and first_share(600, 16) == 37


def test_a_batch_never_passes_the_task_share_or_the_budget():
    assert batch_cap(0, per_iter=8, per_task=8, done=0, trials_left=100) == 8
    assert batch_cap(3, per_iter=64, per_task=96, done=90, trials_left=100) == 6
    assert batch_cap(1, per_iter=64, per_task=96, done=0, trials_left=5) == 5
    assert batch_cap(2, per_iter=64, per_task=96, done=96, trials_left=5) == 0


def test_a_batch_that_commits_less_than_half_its_trials_exhausts_the_task():
    from planctl.tuning.worker import exhausted

    assert exhausted(0, 16) and exhausted(4, 16) and exhausted(1, 64)
    assert not exhausted(8, 16) and not exhausted(16, 16) and not exhausted(1, 1)


def test_a_search_the_wall_clock_stopped_before_its_tasks_were_measured_says_which():
    """A 120 s wall clock that MetaSchedule's start-up and one batch used up: the note names the tasks
    left on TVM's default schedule and the budget to raise, as for a trial budget too small for the
    tasks; a search that measured every task, or stopped with nothing left to search, gets none."""
    from planctl.tuning.search import TaskReport, TuningReport, _unmeasured_tasks_note

    def report(stopped_by: str, trials: tuple[int, ...]) -> TuningReport:
        tasks = [TaskReport(n, str(i), False, trials=t, source="search")
                 for i, (n, t) in enumerate(zip(["conv", "mean", "softmax"], trials))]
        return TuningReport("cache", tasks=tasks, trials_spent=sum(trials), seconds=135.4, stopped_by=stopped_by,
                            budget={"wall_clock_s": 120.0})

    killed = report("killed", (2, 0, 0))
    _unmeasured_tasks_note(killed)
    [note] = killed.notes
    assert note.startswith("2 of its 3 tasks had no measured candidate when the search's 120.0 s wall clock ran out "
                           "(stopped after 135 s): mean, softmax run on TVM's default schedule")
    assert note.endswith("raise the autotuning budget's wall_clock_s")
    short = report("trials", (2, 0, 0))
    short.budget = {"trials": 2}
    _unmeasured_tasks_note(short)
    assert short.notes == ["2 of its 3 tasks had no measured candidate when the search's 2 trials ran out: mean, "
                           "softmax run on TVM's default schedule; raise the autotuning budget's trials (a task's "
                           "first batch takes at least 2)"]
    for fine in (report("wall-clock", (2, 2, 2)), report("tasks", (2, 0, 0))):
        _unmeasured_tasks_note(fine)
        assert fine.notes == []



def test_a_worker_still_starting_is_not_killed_at_the_budget_deadline(tmp_path):
    """The kill backstop waits for a slow start-up, then gives the worker the grace to stop itself and exit;
    a start-up that hangs is killed."""
    import time

    from planctl.tuning.search import KILL_GRACE_S, STARTUP_GRACE_S, Deadline

    started = tmp_path / "started.txt"
    spent = Deadline(time.monotonic() - KILL_GRACE_S - 1, started)
    assert not spent.passed()
    started.write_text("40.0")
    assert not spent.passed()  # its start-up just ended: the grace counts from now
    spent.started_at -= KILL_GRACE_S + 1
    assert spent.passed()
    assert Deadline(time.monotonic() - STARTUP_GRACE_S - 1, tmp_path / "never").passed()
