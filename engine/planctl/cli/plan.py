"""``planctl plan PLAN --target T [-o FILE]``: what apply would do, without compiling; ``-o`` saves
the plan (a Lock document of digests) that ``planctl apply FILE`` runs only while it is fresh."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("plan")
@click.argument("plan", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--target", "target", required=True, help="Target name (targets/<name>.yaml).")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the saved plan (kind: Lock) here.")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Repository root that plan paths are relative to.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Tuning cache to count cached tasks in [default: $PLANCTL_CACHE or .planctl/cache].")
@click.option("--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(plan: Path, target: str, out: Path | None, root: Path, cache_dir: Path | None, fmt: str) -> None:
    """Show the passes, tuning budget and cached vs to-search tasks of applying PLAN on a target.

    Exit 0 on success, 2 for bad input (the plan, target or model does not check out).
    """
    from planctl.apply.lock import describe, make_lock, render_description, write_lock
    from planctl.documents.load import find_target, load_plan, load_target
    from planctl.errors import DocumentError

    loaded = load_plan(plan)
    if target not in loaded.model.spec.targets:
        raise DocumentError(f"target '{target}' is not one of the plan's targets {loaded.model.spec.targets}",
                            file=str(plan))
    target_doc = load_target(find_target(target, root))
    lock = make_lock(loaded, target_doc, target, root) if out is not None else None
    info = describe(loaded, target_doc, target, root, cache_dir)
    if out is not None:
        write_lock(lock, out)
    if fmt == "json":
        click.echo(json.dumps({**info, "saved_plan": str(out) if out else None, "lock": lock}, indent=2,
                              sort_keys=True, default=str))
    else:
        click.echo(render_description(info, out, lock))
