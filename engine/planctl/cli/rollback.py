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

    Running it twice swaps back. Exit 0 when restored, 2 when there is no previous output or when a
    library of the previous output is not the one its manifest records (nothing is swapped).
    """
    from planctl.apply.emit import restore_previous
    from planctl.documents.load import load_plan
    from planctl.errors import NothingToRollBackError, PlanctlError

    name = load_plan(plan).model.metadata.name
    destination = out_root / name / target
    previous = destination.with_name(destination.name + ".previous")
    hint = (f"apply keeps one previous output; it appears after the second apply of {plan} for {target} "
            f"into {out_root} (another output root: --out DIR)")
    if not previous.is_dir():
        raise NothingToRollBackError(f"nothing to roll back to: {previous} does not exist", hint=hint)
    damaged = _damaged_libraries(previous)
    if damaged:
        raise PlanctlError(f"{previous} is not the output apply verified: {damaged[0]}"
                           + (f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else "")
                           + "; restored, it would be a live output the runtime refuses to load",
                           hint=f"the current output stays in place; to go back, re-run planctl apply with the plan "
                                f"and records of the commit you want (git checkout), into {out_root}")
    replaced = _verdict(destination)
    if not restore_previous(destination):
        raise NothingToRollBackError(f"nothing to roll back to: {previous} does not exist", hint=hint)
    click.echo(f"{name} on {target}: restored the previous output ({_verdict(destination)}) to {destination}; "
               f"the replaced one ({replaced}) is now {previous}")


def _damaged_libraries(folder: Path) -> list[str]:
    """What in ``folder`` differs from what its manifest records: a library whose sha256 is not the
    manifest's (planctl.runtime.load refuses it), or that is missing, or a manifest that cannot be
    read. Outputs written before apply recorded sums pass (nothing to compare)."""
    from planctl.files import sha256_file

    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        return [f"its manifest.json cannot be read ({exc})"]
    sums = manifest.get("sha256") if isinstance(manifest, dict) else None
    damaged = []
    for library, recorded in sorted((sums or {}).items()):
        try:
            found = sha256_file(folder / library)
        except OSError:
            damaged.append(f"{library} is missing")
            continue
        if found != recorded:
            damaged.append(f"{library} has sha256 {found[:12]}..., not the {recorded[:12]}... its manifest records")
    return damaged


def _verdict(folder: Path) -> str:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "no manifest"
    return f"verdict {manifest.get('verdict', '?')}, artifact {manifest.get('artifact')}"
