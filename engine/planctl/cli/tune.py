"""``planctl tune PLAN --target T``: search the tuning tasks of every shape bucket within the plan's
budget, without building, verifying or measuring anything; ``--write-records`` replaces the
plan's committed records for the target with the record serving each task."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("tune")
@click.argument("plan", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--target", "target", required=True, help="Target name (targets/<name>.yaml).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Tuning cache directory [default: $PLANCTL_CACHE or .planctl/cache].")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Repository root that plan paths are relative to.")
@click.option("--write-records", is_flag=True,
              help="Replace <records>/<target>.jsonl of the plan's autotuning with the record serving each task.")
@click.option("--refine", multiple=True, metavar="[BUCKET:]TASK",
              help="Search again a task the cache already serves (glob of its name, as the CPU profile "
                   "names the kernel, e.g. 'fused_matmul5*'; BUCKET a glob of the bucket, e.g. "
                   "'batch-32_seq-16:layer_norm*'), starting from its records, within the plan's budget; "
                   "the fastest record is kept. Repeatable.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(plan: Path, target: str, cache_dir: Path | None, root: Path, write_records: bool,
            refine: tuple[str, ...], output: str) -> None:
    """Tune PLAN's buckets for TARGET: the cache serves what it can (committed records included),
    MetaSchedule searches the rest within the plan's budget, once per bucket. Prints, per bucket,
    the tasks and how many have a valid record (a search whose every build fails still "succeeds":
    those tasks run unscheduled). ``--refine`` gives served tasks more trials, e.g. the kernels the
    report's CPU profile shows slow. Exit 0; 1 when check rejects the plan; 2 for bad input."""
    from planctl.apply.pipeline import ApplyOptions, run_tune
    from planctl.cli.apply import _progress
    from planctl.cli.runlog import capture_command
    from planctl.tuning import census

    options = ApplyOptions(plan_file=plan, target_name=target, root=root, cache_dir=cache_dir, refine=refine,
                           command="tune")
    verbose = (click.get_current_context().find_root().obj or {}).get("verbose", 0)
    with capture_command(options.command, plan, target, cache_dir) as log:   # TVM's warnings, as apply's
        result = run_tune(options, progress=_progress(verbose, options.command), write_records=write_records,
                          notice=lambda line: click.echo(f"planctl tune: {line}", err=True))
    data = {"plan": str(plan), "target": target, "buckets": result.buckets,
            "records_file": str(result.records_file) if result.records_file else None,
            "log": str(log)}
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        per_bucket = [b.get("notes") or [] for b in result.buckets.values()]
        common = census.common_notes(per_bucket) if len(per_bucket) > 1 else []   # one bucket: its own lines
        for tag, b in result.buckets.items():
            missing = ", ".join(b["without_valid_record"]) or "none"
            unscheduled = ", ".join(b.get("unscheduled") or [])
            capped = b.get("default_schedule", 0)
            confirmations = (f" (+{b['confirm_runs']} confirmation runs of refined tasks, beyond the budget)"
                             if b.get("confirm_runs") else "")
            click.echo(f"{tag}: {b['valid']}/{b['tasks']} tasks with a valid record, {b['trials_spent']} trials "
                       f"this run{confirmations}, kernels scheduled {b.get('scheduled')}"
                       + (f" ({unscheduled} on TVM's default schedule)" if unscheduled else "")
                       + (f", {capped} task(s) left unsearched by the budget's max_tasks" if capped else "")
                       + f"; searched without a valid record: {missing}")
            if b.get("refined"):
                click.echo(f"  refined, each kernel alone as this target's runner times it, on {b['timed_as']}:")
            for task in b.get("refined", []):
                click.echo(f"  refined {task['name']}: "
                           + _refined_text(task["before_ms"], task["after_ms"], task.get("best_new_ms"),
                                           task.get("best_transfer_ms"), task.get("best_transfer_from"),
                                           task.get("best_sweep_ms"))
                           + _retimed_text(task.get("before_measured_on"), task.get("stored_ms"))
                           + _confirmed_text(task.get("confirm_runs", 0), task.get("confirm_failed"),
                                             _faster(task["before_ms"], task["after_ms"])))
            for note in b.get("notes") or []:
                if note not in common:
                    click.echo(f"  note: {note}")
        for note in common:
            click.echo(f"note (every bucket): {note}")
        if result.records_file:
            click.echo(f"wrote {result.records_file}")
        click.echo(f"log: {log} (library output: TVM's warnings)")


def _refined_text(before_ms: float | None, after_ms: float | None, best_new_ms: float | None = None,
                  best_transfer_ms: float | None = None, transfer_from: str | None = None,
                  best_sweep_ms: float | None = None) -> str:
    """Best record before -> after a ``--refine`` search (the kernel alone, as this target's runner
    times it: a record another device measured is re-measured here first); when nothing faster was
    found, the best new candidate's time (how far the search got); and whether the best came from
    another shape's schedule (transfer tuning, planctl.tuning.transfer), and that shape's workload,
    or from the register-tile sweep (planctl.tuning.sweep)."""
    if before_ms is None or after_ms is None:
        return "no timed record to compare"
    origin = f"the {transfer_from} workload" if transfer_from else "another shape"
    if after_ms >= before_ms:
        if best_new_ms is None:
            return f"no faster record (best stays {_ms(before_ms)} ms)"
        source = (f" (transferred from {origin})" if best_transfer_ms == best_new_ms else
                  " (from the register-tile sweep)" if best_sweep_ms == best_new_ms else "")
        return (f"no faster record (best stays {_ms(before_ms)} ms; the best new candidate{source} took "
                f"{_ms(best_new_ms)} ms)")
    gain = before_ms / after_ms
    how_much = f"{gain:.2f}x" if gain >= 1.1 else f"{(gain - 1) * 100:.1f}%"
    if best_transfer_ms == after_ms:
        return f"{_ms(before_ms)} -> {_ms(after_ms)} ms ({how_much} faster, a schedule transferred from {origin})"
    if best_sweep_ms == after_ms:
        return f"{_ms(before_ms)} -> {_ms(after_ms)} ms ({how_much} faster, a register-tile sweep candidate)"
    tried = f"; the best transferred from {origin} took {_ms(best_transfer_ms)} ms" if best_transfer_ms else ""
    tried += f"; the best register-tile sweep candidate took {_ms(best_sweep_ms)} ms" if best_sweep_ms else ""
    return f"{_ms(before_ms)} -> {_ms(after_ms)} ms ({how_much} faster{tried})"


def _retimed_text(measured_on: str | None, stored_ms: float | None) -> str:
    """Where the old record's "before" time comes from: it was re-measured in this search, beside
    the candidates (its stored time is another day's or another device's)."""
    if not measured_on:
        return ""
    stored = f", stored at {_ms(stored_ms)} ms" if stored_ms is not None else ""
    return f" (the old record, measured on {measured_on}{stored}, re-measured here first)"


def _faster(before_ms: float | None, after_ms: float | None) -> bool:
    return before_ms is not None and after_ms is not None and after_ms < before_ms


def _confirmed_text(runs: int, failed: str | None = None, new_won: bool = True) -> str:
    """Whether "before" and "after" are the confirmation's times (planctl.tuning.worker.confirm), and
    which record it kept (``new_won``), or why the best new candidate lost it without a time
    (``failed``)."""
    if failed:
        return f"; the best new candidate failed when timed again beside it: {failed}"
    if not runs:
        return ""
    if not new_won:
        return f"; the old record stayed faster when both were timed {runs} more times each, alternately"
    return f"; confirmed: the old record and the best new one timed {runs} more times each, alternately"


def _ms(value: float) -> str:
    """Four significant digits: a 3.7 µs layer norm and a 5.8 ms matmul both keep their precision."""
    return f"{value:.4g}"
