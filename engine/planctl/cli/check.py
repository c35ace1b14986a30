"""``planctl check [PATHS...]``: legality of optimization plans (thin: parse, call, print, exit)."""
from __future__ import annotations

from pathlib import Path

import click

from planctl.rules.reporters import REPORTERS


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; a directory stands for the ``.yaml`` and ``.yml`` files in it."""
    from planctl.documents.layout import documents_in

    out: list[Path] = []
    for path in paths:
        out += documents_in(path) if path.is_dir() else [path]
    return out


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=".", show_default=True,
              help="Repository root (plans/, targets/, planctl.toml).")
@click.option("-o", "--output", type=click.Choice(sorted(REPORTERS)), default="text",
              show_default=True, help="Report format (data goes to stdout).")
@click.option("--select", multiple=True, help="Only these rules: ids, prefixes (PLN2) or names.")
@click.option("--ignore", multiple=True, help="Skip these rules: ids, prefixes or names.")
@click.option("--fail-level", type=click.Choice(["error", "warning", "note"]), default="error",
              show_default=True, help="Exit 1 when a finding is at or above this severity.")
@click.option("--no-waivers", is_flag=True, help="Ignore every waiver (audit).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), hidden=True,
              help="Check as of this date (reproducible runs and tests).")
def command(paths, root, output, select, ignore, fail_level, no_waivers, today):
    """Check that plans are legal optimizations for their targets.

    With no PATHS, checks every plan under the root (plans/*.yaml and plans/*.yml) and the
    targets they name.
    Exit 0 clean, 1 findings at or above --fail-level, 2 usage or unparsable input.
    """
    from planctl.rules.engine import Options, check
    from planctl.rules.selection import Selection

    options = Options(root=root, selection=Selection(_split(select), _split(ignore)),
                      use_waivers=not no_waivers, today=today.date() if today else None,
                      fail_level=fail_level)
    report = check(_expand(paths), options)
    click.echo(REPORTERS[output](report), nl=False)
    if output != "text":
        click.echo(report.summary(), err=True)
    # SystemExit, not ctx.exit(): cli.main runs click with standalone_mode=False, which drops the
    # code of ctx.exit(); planctl.cli.main maps SystemExit to the exit code (as validate does).
    raise SystemExit(report.exit_code())
