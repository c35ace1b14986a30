"""``planctl schema dump [DIR] [--check]`` and ``planctl schema show KIND``: the JSON Schemas
generated from the document models and from the run record (``schemas/`` in the repository)."""
from __future__ import annotations

from pathlib import Path

import click

_KINDS = {"plan": "OptimizationPlan", "target": "Target", "lock": "Lock", "report": "RunRecord"}


@click.group("schema")
def command() -> None:
    """JSON Schemas of plans, targets, locks and run reports."""


@command.command("dump")
@click.argument("directory", default="schemas", type=click.Path(file_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when DIRECTORY is stale.")
def dump(directory: Path, check: bool) -> None:
    """Write plan/target/lock/report .schema.json into DIRECTORY (default: schemas)."""
    from planctl.documents import schema
    from planctl.report import schema as report_schema

    if check:
        stale = schema.stale(directory) + report_schema.stale(directory)
        for name in stale:
            click.echo(f"{directory / name}: stale; run `planctl schema dump {directory}`")
        raise SystemExit(1 if stale else 0)
    for path in [*schema.dump(directory), report_schema.dump(directory)]:
        click.echo(f"wrote {path}", err=True)


@command.command("show")
@click.argument("kind", type=click.Choice(sorted(_KINDS)))
def show(kind: str) -> None:
    """Print the schema of KIND to stdout."""
    from planctl.documents import schema
    from planctl.report import schema as report_schema

    text = report_schema.render() if kind == "report" else schema.render(_KINDS[kind])
    click.echo(text, nl=False)
