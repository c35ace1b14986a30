"""``planctl validate [FILE...]``: schema and semantic checks of plans, targets and locks.

Exit 0 clean, 1 findings, 2 unparsable input (PLN100/107/108) or usage; the same for every
``--output``, which names one of check's reporters (text, json, sarif, github). Imports only the
documents stage and the reporters (no TVM, numpy or hypothesis).
"""
from __future__ import annotations

from pathlib import Path

import click

from planctl.rules.reporters import REPORTERS


def default_files(root: Path) -> list[Path]:
    """The plans and targets of the repository at ``root`` (``planctl.documents.layout``), sorted."""
    from planctl.documents import layout

    return sorted(layout.plan_files(root) + layout.target_files(root))


@click.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output", "-o", "output", type=click.Choice(sorted(REPORTERS)), default="text",
              show_default=True, help="Report format (json: docs/output-format.md).")
def command(files: tuple[Path, ...], output: str) -> None:
    """Validate FILES (default: plans/ and targets/ under the current directory); a directory
    stands for the .yaml/.yml files directly in it."""
    from planctl import codes
    from planctl.documents.load import validate_file
    from planctl.rules.report import Report

    from planctl.documents import layout

    named = [p for p in files if not p.is_dir()]
    found = [(q, p) for p in files if p.is_dir() for q in layout.documents_in(p)]
    if not files:
        found = [(q, Path.cwd()) for q in default_files(Path.cwd())]
    paths = named + [q for q, _ in found]
    if not paths:
        raise click.UsageError("no plan or target files given or found (plans/ and targets/ YAML files)")
    # a file found (not named) in a folder that is a symlink out of it is never read, so that no
    # line of a file outside the repository is printed
    outside = [q for q, folder in found if not _inside(q, folder)]
    for path in outside:
        click.echo(f"planctl validate: {path} is a symlink out of the repository; not read", err=True)
    paths = [p for p in paths if p not in outside]
    findings = [f for path in paths for f in validate_file(path)]
    report = Report(Path.cwd(), findings, files=len(paths),
                    unparsable=any(f.rule in codes.UNPARSABLE for f in findings))
    click.echo(REPORTERS[output](report), nl=False)
    # SystemExit, not ctx.exit(): cli.main runs click with standalone_mode=False and drops the
    # code click returns for ctx.exit(); its handler maps SystemExit to the exit code.
    raise SystemExit(max(report.exit_code(), 1 if outside else 0))


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())
