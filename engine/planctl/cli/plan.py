"""``planctl plan PLAN --target T [-o FILE]``: what apply would do, without compiling; ``-o`` saves
the plan (a Lock document of digests) that ``planctl apply FILE`` runs only while it is fresh."""
from __future__ import annotations

import json
from pathlib import Path

import click

from planctl.documents.shapes import shape_text


@click.command("plan")
@click.argument("plan", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--target", "target", required=True, help="Target name (targets/<name>.yaml).")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the saved plan (kind: Lock) here.")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Repository root that plan paths are relative to.")
@click.option("--cache", "cache_dir", default=None, metavar="DIR|URL",
              help="Tuning cache to count cached tasks in: a folder or a postgresql:// URL "
                   "[default: $PLANCTL_CACHE or .planctl/cache].")
@click.option("--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(plan: Path, target: str, out: Path | None, root: Path, cache_dir: str | None, fmt: str) -> None:
    """Show the passes, tuning budget and cached vs to-search tasks of applying PLAN on a target.

    Exit 0 on success, 1 when ``planctl check`` rejects the plan (its findings, as apply gives
    them), 2 for bad input (the plan, target or model cannot be read).
    """
    from planctl.apply.lock import make_lock, write_lock
    from planctl.apply.stages.legality import gate
    from planctl.documents.load import find_target, load_plan, load_target, unnamed_target_error
    from planctl.tuning.preview import describe

    gate(plan, root, "plan")   # what check rejects, apply would refuse: say so here, not after -o
    plan_document = load_plan(plan)
    if target not in plan_document.model.spec.targets:
        raise unnamed_target_error(target, plan_document, plan)
    target_document = load_target(find_target(target, root))
    lock = make_lock(plan_document, target_document, target, root) if out is not None else None
    from planctl.cli.runlog import capture
    from planctl.tuning.store import resolve_cache_dir

    # TVM's import and lowering warnings go to a log, as in apply; shown on the terminal on error
    log = resolve_cache_dir(cache_dir) / "logs" / f"plan-{plan_document.model.metadata.name}-{target}.log"
    with capture(log, header=f"planctl plan {plan} --target {target}", keep_on_error=lambda: False):
        info = describe(_preview(plan_document, target_document, target, root, cache_dir))
    if out is not None:
        write_lock(lock, out)
    if fmt == "json":
        click.echo(json.dumps({**info, "saved_plan": str(out) if out else None, "lock": lock}, indent=2,
                              sort_keys=True, default=str))
    else:
        click.echo(render_description(info, out, lock))


def _preview(plan_document, target_document, target: str, root: Path, cache_dir: str | None):
    """The dry run's inputs read from the documents (planctl.tuning.preview.Preview). Raises
    MissingReferenceError when the model is missing or its sha256 differs, or a target named in
    ``compatible_with`` is missing."""
    from planctl.documents.load import compatible_targets
    from planctl.documents.references import checked_model, records_path
    from planctl.documents.shapes import choose_buckets
    from planctl.documents.techniques import autotuning, enabled
    from planctl.errors import PlanctlError
    from planctl.rules.config import load_config
    from planctl.tuning.preview import Preview

    spec, target_spec = plan_document.model.spec, target_document.model.spec
    try:
        ceiling = load_config(root)
    except PlanctlError:  # a bad configuration file is check's to report; the plan still prints
        ceiling = None
    return Preview(plan=plan_document.model.metadata.name, target=target, spec=spec, target_spec=target_spec,
                   shapes=choose_buckets(spec), techniques=enabled(spec), autotuning=autotuning(spec),
                   model=checked_model(root, plan_document), records=records_path(plan_document, root),
                   compatible=compatible_targets(target_spec, root), ceiling=ceiling, cache_dir=cache_dir)


def _padded_work_lines(by_max: list[dict], model_mb: float | None = None) -> list[str]:
    from planctl.documents.shapes import padded_work_text

    text = padded_work_text(by_max, model_mb)   # said only where a higher buckets.max would pad less
    return [f"  expected padded work over the traffic mix: {text}"] if text and len(by_max) > 1 else []


def render_description(info: dict, lock_path: Path | None = None, lock: dict | None = None) -> str:
    """The dry run as the few lines ``planctl plan`` prints."""
    lines = [f"planctl plan: {info['plan']} on {info['target']} (nothing is compiled)"]
    if lock is not None:
        d = lock["spec"]["digests"]
        lines.append(f"  saved plan: {lock_path}  (TVM {lock['spec']['tvm_version']}; "
                     + ", ".join(f"{k} {v[:12]}" for k, v in d.items()) + ")")
    if info.get("runs_here"):
        lines.append(f"  this host runs {info['target']}: {info['runs_here']}")
    shapes = "; ".join(shape_text(s) for s in info["shapes"])
    lines.append(f"  shape buckets: {shapes} (one candidate build each, tuned at its shape; calls are padded up to "
                 "the smallest bucket that fits)")
    lines += _padded_work_lines(info.get("padded_work") or [], info.get("model_mb"))
    lines.append("  techniques -> passes:")
    for t in info["techniques"]:
        if not t["enabled"]:
            lines.append(f"    - {t['technique']}: disabled")
            continue
        passes = ", ".join(t.get("passes") or []) or t.get("passes_error") or t["doc"].split(":")[0] or "-"
        lines.append(f"    + {t['technique']} ({t['stage']}): {passes}")
    lines.append("    then LegalizeOps, AnnotateTIROpPattern, FoldConstant; build with TVM's dataflow-lowering "
                 "and finalize passes (StaticPlanBlockMemory, ...)")
    budget = info.get("budget")
    if budget:
        per = f", {budget['trials_per_task']} per task" if budget.get("trials_per_task") else ""
        count = len(info["shapes"])
        each = (f", for each bucket (searched one after another: up to {count} x {budget['wall_clock_s']:g} s "
                f"= {count * budget['wall_clock_s'] / 60:.0f} min when every bucket has tasks to search)"
                if count > 1 else "")
        lines.append(f"  tuning budget: {budget['trials']} trials, {budget['wall_clock_s']:g} s wall clock{per}{each}"
                     + (f"; committed records {budget['records']}" if budget.get("records") else ""))
        if (budget.get("effective") or {}).get("capped_by"):   # only where the ceiling lowered something
            lines.append(f"    effective (repository ceiling applied): {_budget_text(budget['effective'])}")
    if info.get("tasks") is not None:
        from planctl.tuning.census import TaskSource, render

        for shape in info["tasks"]:
            where = shape_text(shape["shape_env"])
            if not shape["cache_known"]:
                lines.append(f"  tasks at {where}: {len(shape['tasks'])} (the cache could not be read)")
                continue
            sources = [TaskSource(r["task"], "", r["source"], measured_on=r.get("measured_on"))
                       for r in shape["tasks"]]
            lines += [f"  {line}" for line in render(where, sources, None, lead="tasks at")]
            policy = shape.get("policy")
            if policy and policy != "serve":
                lines.append(f"    other devices' records: {policy} (the target's other_device_records)")
            todo = [r["task"] for r in shape["tasks"] if r["source"] in ("search", "re-measure", "drift")]
            if todo:
                lines.append(f"    to search: {', '.join(todo[:8])}{' ...' if len(todo) > 8 else ''}")
    elif budget and info.get("tasks_unavailable"):
        lines.append(f"  tasks: unknown: {info['tasks_unavailable']}")
    lines.append("  envelope: " + "; ".join(f"{k} {v}" for k, v in info["envelope"].items()))
    return "\n".join(lines)


def _budget_text(effective: dict) -> str:
    """``{'trials': 32, 'wall_clock_s': 600.0, ..., 'capped_by': []}`` as a line a person reads."""
    parts = [f"{effective.get('trials')} trials", f"{effective.get('wall_clock_s', 0):g} s wall clock"]
    if effective.get("trials_per_task"):
        parts.append(f"{effective['trials_per_task']} per task")
    if effective.get("max_tasks"):
        parts.append(f"the {effective['max_tasks']} tasks of most FLOPs")
    capped = effective.get("capped_by") or []
    return ", ".join(parts) + (f" (capped by {', '.join(map(str, capped))})" if capped else "")
