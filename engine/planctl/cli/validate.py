"""``planctl validate [FILE...]``: schema and semantic checks of plans, targets and locks.

Exit 0 clean, 1 findings, 2 unparsable input (PLN100/107/108) or usage; the same for every
``--output``. Imports only the documents stage (no TVM, numpy or hypothesis).
"""
from __future__ import annotations

from pathlib import Path

import click


def default_files(root: Path) -> list[Path]:
    """``plans/*.y*ml`` and ``targets/*.y*ml`` under ``root``, sorted."""
    found = []
    for folder in ("plans", "targets"):
        found += [p for p in (root / folder).glob("*.y*ml") if p.suffix in (".yaml", ".yml")]
    return sorted(found)


@click.command("validate")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "-o", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format (json: docs/output-format.md).")
def command(files: tuple[Path, ...], output: str) -> None:
    """Validate FILES (default: plans/ and targets/ under the current directory)."""
    from planctl.documents.codes import exit_code_for
    from planctl.documents.load import validate_file
    from planctl.documents.output import to_json, to_text

    paths = list(files) or default_files(Path.cwd())
    if not paths:
        raise click.UsageError("no files given and no plans/ or targets/ YAML files here")
    # a file found (not named) here that is a symlink out of the directory is never read, so
    # that no line of a file outside the repository is printed
    outside = [] if files else [p for p in paths if not _inside(p, Path.cwd())]
    for path in outside:
        click.echo(f"planctl validate: {path} is a symlink out of the repository; not read", err=True)
    paths = [p for p in paths if p not in outside]
    findings = [f for path in paths for f in validate_file(path)]
    text = to_json(findings, len(paths)) if output == "json" else to_text(findings, len(paths))
    if text:
        click.echo(text)
    # SystemExit, not ctx.exit(): cli.main runs click with standalone_mode=False and drops the
    # code click returns for ctx.exit(); its handler maps SystemExit to the exit code.
    raise SystemExit(max(exit_code_for({f.rule for f in findings}), 1 if outside else 0))


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())
