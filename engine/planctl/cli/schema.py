"""``planctl schema dump [DIR] [--check]`` and ``planctl schema show KIND``: the JSON Schemas
generated from the document models (``schemas/`` in the repository)."""
from __future__ import annotations

from pathlib import Path

import click

_KINDS = {"plan": "OptimizationPlan", "target": "Target", "lock": "Lock"}


@click.group("schema")
def command() -> None:
    """JSON Schemas of plans, targets and locks."""


@command.command("dump")
@click.argument("directory", default="schemas", type=click.Path(file_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when DIRECTORY is stale.")
def dump(directory: Path, check: bool) -> None:
    """Write plan/target/lock .schema.json into DIRECTORY (default: schemas)."""
    from planctl.documents import schema

    if check:
        stale = schema.stale(directory)
        for name in stale:
            click.echo(f"{directory / name}: stale; run `planctl schema dump {directory}`")
        raise SystemExit(1 if stale else 0)
    for path in schema.dump(directory):
        click.echo(f"wrote {path}", err=True)


@command.command("show")
@click.argument("kind", type=click.Choice(sorted(_KINDS)))
def show(kind: str) -> None:
    """Print the schema of KIND to stdout."""
    from planctl.documents import schema

    click.echo(schema.render(_KINDS[kind]), nl=False)
