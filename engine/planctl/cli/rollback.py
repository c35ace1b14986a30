"""``planctl rollback PLAN --target T [--out DIR]``: put the previous apply output back in place."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("rollback")
@click.argument("plan", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--target", "target", required=True, help="Target name the plan was applied for.")
@click.option("--out", "out_root", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Output root apply wrote to (OUT/<plan>/<target>/).")
def command(plan: Path, target: str, out_root: Path) -> None:
    """Swap OUT/<plan>/<target> with the output of the apply before it (<target>.previous).

    Running it twice swaps back. Exit 0 when restored, 2 when there is no previous output.
    """
    from planctl.apply.emit import restore_previous
    from planctl.documents.load import load_plan
    from planctl.errors import NothingToRollBackError

    name = load_plan(plan).model.metadata.name
    destination = out_root / name / target
    previous = destination.with_name(destination.name + ".previous")
    hint = (f"apply keeps one previous output; it appears after the second apply of {plan} for {target} "
            f"into {out_root} (another output root: --out DIR)")
    if not previous.is_dir():
        raise NothingToRollBackError(f"nothing to roll back to: {previous} does not exist", hint=hint)
    replaced = _verdict(destination)
    if not restore_previous(destination):
        raise NothingToRollBackError(f"nothing to roll back to: {previous} does not exist", hint=hint)
    click.echo(f"{name} on {target}: restored the previous output ({_verdict(destination)}) to {destination}; "
               f"the replaced one ({replaced}) is now {previous}")


def _verdict(folder: Path) -> str:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "no manifest"
    return f"verdict {manifest.get('verdict', '?')}, artifact {manifest.get('artifact')}"
