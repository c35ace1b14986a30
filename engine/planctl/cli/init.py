"""``planctl init NAME``: write a new, valid plan skeleton with a schema modeline for editors."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import click

from planctl.errors import PlanctlError

_TEMPLATE = """\
# yaml-language-server: $schema={schema}
apiVersion: planctl.dev/v1alpha1
kind: OptimizationPlan
metadata:
  name: {name}
  annotations: {{}}
spec:
  workload:
    model:
      onnx: {model}
      sha256: "{sha256}"{digest_note}
    inputs:
      - name: input
        dtype: float32
        shape: [batch, 3, 224, 224]
        domain: {{kind: float-range, min: -1.0, max: 1.0}}
    production_shapes:
      batch: {{min: 1, opt: 1, max: 8, values: [1, 8]}}
    baseline_telemetry:      # the production measurement that motivates the plan
      date: {today}
      source: "TODO: dashboard, trace or benchmark; add p50_ms / p99_ms from it"
  bottleneck:
    kind: compute            # what the production profile shows
    layer: kernel            # graph | kernel | runtime | serving
    evidence: "TODO: what was measured, where, and what it showed"
  optimizations:
    - technique: constant-folding
    - technique: operator-fusion   # enables autotuning: the tuner schedules fused kernels
    - technique: autotuning
      budget: {{trials: 2000, wall_clock_s: 3600}}
  envelope:
    parity:
      examples: 8
      default: {{rtol: 1.0e-4, atol: 1.0e-4}}
    performance:
      statistic: p50
      min_speedup: 1.2
  fallback:
    switch: {switch}
    on_violation: rollback
  targets: [{target}]
"""


def schema_ref(out: Path) -> str:
    """Relative path from ``out``'s folder to the repository's ``schemas/plan.schema.json`` (the
    nearest ancestor holding ``schemas/``), else the published ``$id`` URL."""
    from planctl.documents.schema import BASE_URL, FILES

    folder = out.resolve().parent
    for root in (folder, *folder.parents):
        candidate = root / "schemas" / FILES["OptimizationPlan"]
        if candidate.is_file():
            return Path(os.path.relpath(candidate, folder)).as_posix()
    return BASE_URL + FILES["OptimizationPlan"]


def render(name: str, out: Path, model: str, target: str) -> str:
    """The plan text; the model's sha256 is filled in when the file exists (relative to cwd)."""
    digest, note = "0" * 64, "   # TODO: sha256sum of the model file"
    if Path(model).is_file():
        digest, note = hashlib.sha256(Path(model).read_bytes()).hexdigest(), ""
    switch = "PLANCTL_DISABLE_" + name.upper().replace("-", "_")
    return _TEMPLATE.format(schema=schema_ref(out), name=name, model=model, sha256=digest,
                            digest_note=note, switch=switch, target=target,
                            today=dt.date.today().isoformat())


@click.command("init")
@click.argument("name")
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the plan (default: plans/NAME.yaml).")
@click.option("--model", default=None, help="Repository-relative ONNX path (default: models/NAME.onnx).")
@click.option("--target", default="x86-64-avx2", show_default=True, help="Target document name.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def command(name: str, out: Path | None, model: str | None, target: str, force: bool) -> None:
    """Write a new plan NAME (a DNS label) with the `yaml-language-server` schema modeline."""
    import re

    from planctl.documents.models.common import NAME_PATTERN

    if not re.match(NAME_PATTERN, name) or len(name) > 63:
        raise click.BadParameter("must be a lowercase DNS label (a-z, 0-9, '-')", param_hint="NAME")
    out = out or Path("plans") / f"{name}.yaml"
    if out.exists() and not force:
        raise PlanctlError(f"{out} exists", hint="pass --force to overwrite it")
    text = render(name, out, model or f"models/{name}.onnx", target)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)
