"""``planctl verify replay COUNTEREXAMPLE.npz``: rerun a saved parity failure against the candidate."""
from __future__ import annotations

import json
from pathlib import Path

import click

from planctl.errors import PlanctlError, VerificationError


@click.group("verify")
def command() -> None:
    """Parity tools for an apply output."""


@command.command("replay")
@click.argument("counterexample", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--library", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Compiled library to run [default: the candidate named by manifest.json beside the file; "
                   "the baseline for a counterexample of the baseline's own parity check, under fallback/].")
def replay(counterexample: Path, library: Path | None) -> None:
    """Rerun COUNTEREXAMPLE's inputs on the candidate and compare with the saved reference outputs.

    Exit 0 when the failure no longer reproduces, 1 when it does, 2 when nothing can be run.
    """
    from planctl.verify.replay import replay_counterexample

    run = _candidate(counterexample, library)
    result = replay_counterexample(counterexample, run)
    reason = result.reason or ""
    if library is not None and " != reference shape " in reason:
        # a build of another plan or bucket takes the inputs and answers in other shapes: no replay
        raise VerificationError(f"{library} returns other output shapes than this counterexample's reference "
                                f"({reason}): it is not the build the counterexample was found on",
                                hint="leave out --library to replay on the build manifest.json names beside the "
                                     "counterexample, or pass the candidate of the same plan and bucket")
    for name, out in result.outputs.items():
        if f"{name}: candidate shape " in reason:   # no values were compared
            click.echo(f"{name}: output shape differs from the reference's: FAIL")
            continue
        click.echo(f"{name}: max abs {out.max_abs:.3g}, max rel {out.max_rel:.3g} "
                   f"(rtol {out.rtol}, atol {out.atol}): {'pass' if out.passed else 'FAIL'}")
    click.echo("reproduced: " + result.reason if not result.passed else "no longer reproduces")
    if not result.passed:
        raise SystemExit(1)


def _candidate(counterexample: Path, library: Path | None):
    from planctl.lowering.vm import vm_callable
    from planctl.verify.counterexample import load_counterexample

    # apply writes the baseline's counterexamples (its parity check as the fallback) under fallback/
    fallback = counterexample.parent.name == "fallback"
    folder = counterexample.parent.parent if fallback else counterexample.parent
    meta = load_counterexample(counterexample).meta
    manifest = _manifest(folder / "manifest.json", required=library is None)
    path = library or folder / (library_for(manifest, meta.get("shape_env") or {}, fallback) or "")
    if not path.is_file():
        raise PlanctlError(f"{path}: the candidate library is not there", hint="pass --library PATH")
    return vm_callable(path, manifest.get("input_names", meta["inputs"]), manifest.get("device", "cpu"))


def _manifest(path: Path, required: bool) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        if not required:
            return {}
        raise VerificationError(f"{path}: no apply manifest beside the counterexample ({exc})",
                                hint="pass --library PATH to the compiled candidate") from exc


def library_for(manifest: dict, shape_env: dict, fallback: bool) -> str | None:
    """The library a counterexample of ``shape_env`` was found on: its bucket's candidate (or, under
    fallback/, the baseline), from the manifest's ``buckets``; a single-shape output's own."""
    entry = next((b for b in manifest.get("buckets", []) if b.get("shape_env") == shape_env), manifest)
    return entry.get("baseline") if fallback else entry.get("candidate", entry.get("artifact"))
