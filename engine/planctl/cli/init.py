"""``planctl init NAME``: write a new, valid plan skeleton with a schema modeline for editors."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

from planctl.errors import PlanctlError
from planctl.rules.checks.model_digest import file_sha256   # streamed: a data file may be gigabytes
from planctl.rules.checks.placeholder_text import GUESSED   # the annotation of init's guesses, PLN221's

_TEMPLATE = """\
# yaml-language-server: $schema={schema}
apiVersion: planctl.dev/v1alpha1
kind: OptimizationPlan
metadata:
  name: {name}
  annotations:{annotations}
spec:
  workload:
    model:
      onnx: {model}
      sha256: "{sha256}"{digest_note}
{workload_io}    baseline_telemetry:      # the production measurement that motivates the plan
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
      budget: {{trials: 2000, wall_clock_s: 3600}}   # a default, for each shape bucket: `planctl plan` shows the total
  envelope:
    parity:
      examples: 8
      default: {{rtol: 1.0e-4, atol: 1.0e-4}}
    performance:
      statistic: p50
      min_speedup: 1.2          # against TVM's untuned build of the same model
      # versus_onnxruntime: {{min_speedup: 1.0, over: traffic-mix}}   # promote only what beats onnxruntime
  fallback:
    switch: {switch}
    on_violation: rollback
  targets: [{target}]
"""


def schema_ref(out: Path) -> tuple[str, bool]:
    """The modeline's schema: the relative path from ``out``'s folder to ``schemas/plan.schema.json``
    in the nearest ancestor holding it, and True; else the path to where ``planctl schema dump
    schemas`` run here (the repository root) would write it, and False. Never the ``$id`` URL:
    nothing is published there, and an editor that fetches it finds nothing."""
    from planctl.documents.schema import FILES

    folder = out.resolve().parent
    for root in (folder, *folder.parents):
        candidate = root / "schemas" / FILES["OptimizationPlan"]
        if candidate.is_file():
            return Path(os.path.relpath(candidate, folder)).as_posix(), True
    here = Path.cwd().resolve() / "schemas" / FILES["OptimizationPlan"]
    return Path(os.path.relpath(here, folder)).as_posix(), False


# what apply and tune write under the repository root by default: builds of ~90 MB a bucket and
# the tuning cache, which do not belong in git (committed records are exported, `cache export`)
GENERATED = ("/out/", "/.planctl/")


def _ignore_generated(say) -> None:
    """Write ``.gitignore`` with :data:`GENERATED` where there is none; where there is one that
    lacks them, say which lines to add (a user's file is theirs to edit)."""
    ignore = Path(".gitignore")
    if not ignore.exists():
        ignore.write_text("# planctl apply's builds and the tuning cache (planctl init)\n" + "\n".join(GENERATED) + "\n",
                          encoding="utf-8")
        say(f"wrote .gitignore ({', '.join(GENERATED)})")
        return
    have = {line.strip() for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines()}
    missing = [g for g in GENERATED if not {g, g.strip("/"), g.lstrip("/"), g.rstrip("/")} & have]
    if missing:
        say(f"note: .gitignore does not ignore {', '.join(missing)}: apply's builds (~90 MB a bucket) and "
            "the tuning cache go there; add the line(s)")


_EXAMPLE_IO = """\
    inputs:                  # TODO: the model's graph inputs (planctl check compares them, PLN224)
      - name: input
        dtype: float32
        shape: [batch, 3, 224, 224]
        domain: {kind: float-range, min: -1.0, max: 1.0}
    production_shapes:
      batch: {min: 1, opt: 1, max: 8, values: [1, 8]}
"""
_INT_DTYPES = ("int8", "uint8", "int16", "int32", "int64")




def workload_io(model: Path) -> tuple[str, list[str]]:
    """The plan's ``inputs`` and ``production_shapes`` read from the model's graph when the onnx
    package can read it (names, dtypes and shapes as the graph declares them; the domains and the
    dims' ranges are guesses the comments say to replace), else a one-input example; and the
    JSON pointers of the fields guessed (for the :data:`GUESSED` annotation, PLN221 reports each)."""
    graph_inputs = _graph_inputs(model)
    if not graph_inputs:
        return _EXAMPLE_IO, ["/spec/workload/inputs", "/spec/workload/production_shapes"]
    from planctl.documents.onnx_signature import embedding_rows
    from planctl.documents.positions import join

    lines = ["    inputs:                  # from the model's graph; domains: the values production sends"]
    dims: list[str] = []
    guessed = []
    tables = embedding_rows(model)
    for index, (name, dtype, shape) in enumerate(graph_inputs):
        domain, guess = _domain(name, dtype, tables.get(name))
        lines += [f"      - name: {name}", f"        dtype: {dtype}",
                  f"        shape: [{', '.join(str(d) for d in shape)}]", f"        domain: {domain}"]
        guessed += [f"{join('/spec/workload/inputs', index)}/domain ({name})"] if guess else []
        dims += [d for d in shape if isinstance(d, str) and d not in dims]
    if dims:
        lines.append("    production_shapes:       # each symbolic dim: the range and values production sends")
        lines += [f"      {dim}: {{min: 1, opt: 1, max: 8, values: [1, 8]}}   # TODO: guessed" for dim in dims]
        guessed += [join("/spec/workload/production_shapes", dim) for dim in dims]
    return "\n".join(lines) + "\n", guessed


def _domain(name: str, dtype: str, table: tuple[int, str] | None) -> tuple[str, bool]:
    """An input's domain with the comment saying where it came from, and whether it is a guess: an
    integer input that indexes an embedding table (a Gather in the graph) takes the table's rows; the
    rest are guesses to replace."""
    if dtype in _INT_DTYPES and "mask" in name.lower():
        return "{kind: attention-mask}   # from the name and dtype: 0/1, each row's ones first", False
    if dtype in _INT_DTYPES and table is not None:
        rows, table_name = table
        return (f"{{kind: integer-range, min: 0, max: {rows - 1}}}   # from the model: it indexes the "
                f"{rows}-row table {table_name}; narrow it to what production sends"), False
    if dtype in _INT_DTYPES:
        return "{kind: integer-range, min: 0, max: 1}   # TODO: guessed from the dtype; the values production sends", True
    return "{kind: float-range, min: -1.0, max: 1.0}   # TODO: guessed from the dtype; the values production sends", True


def _annotations(guessed: list[str]) -> str:
    if not guessed:
        return " {}"
    return (f'\n    {GUESSED}: "TODO: planctl init guessed {", ".join(guessed)}: set them to what production '
            'sends, then delete this annotation"')


def _graph_inputs(model: Path) -> list[tuple[str, str, list]] | None:
    """(name, dtype, shape) per graph input (an unnamed dynamic dim becomes ``<input>_dim<i>``);
    None when the file is not a readable model, or a name or dtype cannot be written in a plan."""
    import re

    from planctl.documents.onnx_signature import ONNX_DTYPES, UnreadableModel, read_declarations

    try:
        declared = read_declarations(model)
    except UnreadableModel:
        return None
    found = []
    for value in declared:
        dtype = ONNX_DTYPES.get(value.elem_type)
        shape = [dim if dim is not None and dim > 0 else
                 (param if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", param) else f"{value.name}_dim{i}")
                 for i, (dim, param) in enumerate(value.dims or ())]
        if dtype is None or value.dims is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:/-]*", value.name):
            return None
        found.append((value.name, dtype, shape))
    return found or None


def render(name: str, out: Path, model: str, target: str, schema: str | None = None) -> str:
    """The plan text; the model's sha256 is filled in, and its inputs read, when the file exists
    (relative to cwd)."""
    digest, note = "0" * 64, "   # TODO: sha256sum of the model file"
    if Path(model).is_file():
        digest, note = file_sha256(Path(model)), _data_digests(Path(model))
    switch = "PLANCTL_DISABLE_" + name.upper().replace("-", "_")
    io_text, guessed = workload_io(Path(model))
    return _TEMPLATE.format(schema=schema or schema_ref(out)[0], name=name, model=model, sha256=digest,
                            digest_note=note, switch=switch, target=target,
                            today=dt.date.today().isoformat(), workload_io=io_text, annotations=_annotations(guessed))


def _data_digests(model: Path) -> str:
    """``data_sha256`` lines for the files the model stores tensors in (ONNX external data), which
    the model's own sha256 does not cover (rule PLN216)."""
    import json

    from planctl.documents.onnx_signature import external_locations

    files = {location: model.parent / location for location in external_locations(model)}
    pins = [f'        {json.dumps(location)}: "{file_sha256(path)}"'
            for location, path in files.items() if path.is_file()]
    return "\n      data_sha256:           # its external data: the .onnx file's sha256 does not cover it\n" + \
        "\n".join(pins) if pins else ""


def _repository_relative(model: str) -> str:
    """``model`` relative to the working directory (the repository root, where init runs) when it is
    an absolute path under it; plans name files relative to the root (PLN115 refuses absolute paths).
    Raises PlanctlError for an absolute path outside it."""
    path = Path(model)
    if not path.is_absolute():
        return model
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        raise PlanctlError(f"--model {model} is outside this folder: a plan names its model relative to the "
                           "repository root", hint="run init from the repository root, with the model inside it") from None


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
    if model and not Path(model).is_file():   # a named model that is not there is a typo, not a template
        raise PlanctlError(f"--model {model}: no such file", hint="name an existing ONNX file (its sha256 and graph "
                           "inputs go into the plan), or leave --model out for a template naming models/NAME.onnx")
    model = _repository_relative(model) if model else f"models/{name}.onnx"
    schema, schema_here = schema_ref(out)
    text = render(name, out, model, target, schema)
    if Path(model).is_file() and "# TODO: the model's graph inputs" in text:
        click.echo(f"warning: {model} is not an ONNX model planctl can read: the plan's inputs are an example "
                   "to replace (planctl check compares them with the model, PLN224)", err=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)
    if not schema_here:
        click.echo("note: the modeline names schemas/plan.schema.json, which is not here: `planctl schema dump "
                   "schemas` writes it, for editors to complete and check the plan", err=True)
    _ignore_generated(lambda text: click.echo(text, err=True))
    if not (Path("targets") / f"{target}.yaml").is_file():
        click.echo(f"warning: targets/{target}.yaml does not exist here: the plan's target must be a Target "
                   "document under targets/ (`planctl targets` lists this repository's; planctl's own repository "
                   "has x86-64-avx2 and x86-64-avx512 to copy)", err=True)
