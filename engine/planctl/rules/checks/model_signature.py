"""PLN224 model-signature."""
from __future__ import annotations

import functools
from pathlib import Path

from planctl.documents import onnx_signature
from planctl.documents.shapes import choose_buckets
from planctl.rules.checks.missing_reference import inside, kind_problem
from planctl.rules.context import Violation
from planctl.rules.registry import rule


@functools.lru_cache(maxsize=64)
def _declarations(path: str, size: int, mtime_ns: int):
    # keyed by size and mtime so the plans of one model parse it once per run
    return onnx_signature.read_declarations(Path(path))


@functools.lru_cache(maxsize=64)
def _output_names(path: str, size: int, mtime_ns: int):
    return onnx_signature.read_output_names(Path(path))


@functools.lru_cache(maxsize=64)
def _graph_problems(path: str, size: int, mtime_ns: int):
    return onnx_signature.graph_problems(Path(path))


@functools.lru_cache(maxsize=64)
def _embedding_rows(path: str, size: int, mtime_ns: int):
    return onnx_signature.embedding_rows(Path(path))


@functools.lru_cache(maxsize=64)
def _sliced_tables(path: str, size: int, mtime_ns: int):
    return onnx_signature.sliced_tables(Path(path))


@rule("PLN224", "model-signature", "error", unwaivable="apply cannot import a file that is not a readable ONNX model")
def check(ctx):
    """The model file is an ONNX model whose graph inputs are the plan's ``workload.inputs``, and
    whose graph outputs include the plan's ``workload.outputs``; an input that indexes a table
    (an embedding lookup) declares a domain inside the table.

    What it checks
        ``workload.model.onnx`` parses as ONNX (its graph only: external data is not read) and
        loads as onnx.checker would have it (the default domain's opset between 7, onnxruntime's
        oldest, and 28, onnx 1.23's newest; every node's domain imported; each default-domain node's
        operator one ONNX defines at the model's opset (planctl.documents.onnx_ops); the top-level nodes
        topologically sorted, none reading a value nothing makes), its
        graph inputs (initializers aside) are exactly the plan's inputs by name, each with the
        declared dtype and rank, and its static dims fit every shape bucket apply builds
        (planctl.documents.shapes.choose_buckets; planctl.documents.onnx_signature, the comparison
        apply's import makes at each bucket); two inputs' axes the graph names as one dim (``batch``
        of input_ids and attention_mask) are declared alike. Each name in ``workload.outputs`` is one of the graph's
        outputs (apply verifies and serves those by name), and so is each name in
        ``envelope.parity.outputs`` when the plan declares no ``workload.outputs``. An input the graph uses as a Gather's
        indices into an initializer of N rows (directly or through a Cast or Reshape:
        onnx_signature.embedding_rows) has an ``integer-range`` domain within 0 .. N - 1, not an
        ``attention-mask`` one (0 and 1: the runtime would refuse every real id): parity
        draws its examples from the domain, and onnxruntime refuses an index past the table. An input dim that sets how much of an
        initializer a Slice takes (BERT's position table, ``position_ids[:, :seq]``:
        onnx_signature.sliced_tables) stays within the table at every production shape. It reads the
        graph's declarations itself, without the ``onnx`` package. A missing file is ``PLN215``'s, one outside the repository ``PLN220``'s.

    Why
        ``apply`` refuses such a model only after it has loaded TVM; a pre-commit hook should say
        so at once. A dim an exporter fixed is baked into Reshape constants: a build at another
        value computes wrong results.

    Example
        The model was re-exported with ``attention_mask`` renamed, or with ``batch`` static at 1,
        or the file is a truncated download; ``outputs: [sentence_embeddings]`` where the graph's
        output is ``sentence_embedding``; ``seq: {max: 1024}`` for a BERT of 512 positions.

    Fix
        Re-export the model (``torch.onnx.export(..., dynamo=True)`` with dynamic dims), or declare
        the inputs as the graph has them.
    """
    model = ctx.spec.workload.model
    path = ctx.root / model.onnx
    if not path.is_file() or not inside(path, ctx.root) or kind_problem(path, "model"):
        return  # PLN215's or PLN220's: never read it
    stat = path.stat()
    try:
        declared = _declarations(str(path), stat.st_size, stat.st_mtime_ns)
    except onnx_signature.UnreadableModel as exc:
        yield Violation("/spec/workload/model/onnx", f"{model.onnx}: {exc}", help=onnx_signature.REEXPORT)
        return
    for problem in _graph_problems(str(path), stat.st_size, stat.st_mtime_ns):
        yield Violation("/spec/workload/model/onnx", f"{model.onnx}: not a valid ONNX model: {problem}",
                        help=f"{onnx_signature.REEXPORT}; onnx.checker.check_model(path) reports the same")
    inputs = ctx.spec.workload.inputs
    names = [spec.name for spec in inputs]
    reported: set[str | None] = set()
    for shape_env in choose_buckets(ctx.spec):   # each input's first mismatch, at the smallest bucket
        for found in onnx_signature.mismatches(declared, inputs, shape_env):
            if found.input not in reported:
                reported.add(found.input)
                at = "/spec/workload/inputs" + (f"/{names.index(found.input)}" if found.input in names else "") \
                    + (f"/{found.key}" if found.key and found.input in names else "")
                yield Violation(at, f"{model.onnx}: {found.message}", help=found.hint, key=found.input or "")
    yield from _split_dims(ctx, declared)
    yield from _missing_outputs(ctx, path, stat)
    yield from _unknown_tolerances(ctx, path, stat)
    yield from _domains_past_tables(ctx, path, stat)
    yield from _dims_past_tables(ctx, path, stat)


def _split_dims(ctx, declared):
    """Two inputs' axes that the model names as one dim (``batch`` of input_ids and attention_mask)
    declared unalike in the plan (``[4, seq]`` beside ``[batch, seq]``): no build has both shapes,
    and TVM's importer failed far from the cause ("Matmul requires the reduction length")."""
    first: dict[str, tuple[str, int, object]] = {}
    specs = {spec.name: (i, spec) for i, spec in enumerate(ctx.spec.workload.inputs)}
    for graph_input in declared:
        if graph_input.name not in specs or not graph_input.dims:
            continue
        i, spec = specs[graph_input.name]
        for axis, (value, param) in enumerate(graph_input.dims):
            if value is not None or not param or axis >= len(spec.shape):
                continue
            seen = first.setdefault(param, (spec.name, axis, spec.shape[axis]))
            if seen[2] == spec.shape[axis]:
                continue
            here, there = (spec.name, axis, spec.shape[axis]), seen
            if isinstance(seen[2], int) and isinstance(spec.shape[axis], str):
                here, there = seen, here   # point at the literal: the symbolic one is how the model has it
            yield Violation(f"/spec/workload/inputs/{specs[here[0]][0]}/shape/{here[1]}",
                            f"{ctx.spec.workload.model.onnx}: input '{here[0]}' axis {here[1]} is {here[2]}, but "
                            f"'{there[0]}' axis {there[1]} is {there[2]}, and the model names both '{param}' (one "
                            "dim: every call has them equal)",
                            help=f"declare them alike: {there[2]} here too", key=here[0])


def _dims_past_tables(ctx, path: Path, stat):
    """A production shape's dim (or a static one) above what a table the model slices by it holds."""
    limits = _sliced_tables(str(path), stat.st_size, stat.st_mtime_ns)
    shapes = ctx.spec.workload.production_shapes
    for i, spec in enumerate(ctx.spec.workload.inputs):
        for axis, dim in enumerate(spec.shape):
            if (spec.name, axis) not in limits:
                continue
            most, table = limits[spec.name, axis]
            largest, at = ((shapes[dim].max, f"/spec/workload/production_shapes/{dim}/max") if dim in shapes else
                           (dim, f"/spec/workload/inputs/{i}/shape/{axis}") if isinstance(dim, int) else (None, ""))
            if largest is not None and largest > most:
                what = f"{dim} max {largest}" if isinstance(dim, str) else f"dim {largest}"
                yield Violation(at, f"{ctx.spec.workload.model.onnx}: {what} is past the end of the model's {table} "
                                    f"({most} entries, sliced to {spec.name}'s axis {axis}): no build runs it",
                                help=f"keep it at {most} or less (split longer inputs before the call), or "
                                     "export a model with a longer table", key=spec.name)


def _domains_past_tables(ctx, path: Path, stat):
    """An embedding-index input whose integer range leaves the table, or that declares an
    attention-mask domain: parity would draw ids 0 and 1 only, and the runtime, which enforces the
    domain, would refuse every real id (a build promoted that no caller can use)."""
    tables = _embedding_rows(str(path), stat.st_size, stat.st_mtime_ns)
    for i, spec in enumerate(ctx.spec.workload.inputs):
        domain, model = spec.domain, ctx.spec.workload.model.onnx
        if spec.name not in tables or getattr(domain, "kind", None) not in ("integer-range", "attention-mask"):
            continue
        rows, table = tables[spec.name]
        if domain.kind == "attention-mask":
            yield Violation(f"/spec/workload/inputs/{i}/domain/kind",
                            f"{model}: input '{spec.name}' indexes {table} ({rows} rows), but its domain is an "
                            "attention mask (0 and 1 only): parity would test two rows of the table, and the "
                            "runtime would refuse every other id",
                            help=f"declare the ids' range: domain: {{kind: integer-range, min: 0, max: {rows - 1}}}",
                            key=spec.name)
            continue
        for bound, value in (("max", domain.max), ("min", domain.min)):
            if not 0 <= value <= rows - 1:
                yield Violation(f"/spec/workload/inputs/{i}/domain/{bound}",
                                f"{model}: input '{spec.name}' indexes {table} ({rows} rows), "
                                f"but its domain's {bound} is {value}",
                                help=f"declare the domain the table allows: min: 0, max: {rows - 1}", key=spec.name)


def _unknown_tolerances(ctx, path: Path, stat):
    """A parity tolerance for a name that is not a graph output, in a plan that declares no
    ``workload.outputs`` (PLN116 judges them against the declared ones): apply dropped it without a
    word, and the output meant ran at the default tolerance."""
    import difflib

    tolerances = ctx.spec.envelope.parity.outputs
    if ctx.spec.workload.outputs or not tolerances:
        return
    graph = _output_names(str(path), stat.st_size, stat.st_mtime_ns)
    for name in tolerances:
        if name not in graph:
            close = difflib.get_close_matches(name, graph, n=1, cutoff=0.5)
            yield Violation(f"/spec/envelope/parity/outputs/{name}",
                            f"{ctx.spec.workload.model.onnx}: parity tolerance for '{name}', which is not an output of "
                            f"the model (its outputs: {', '.join(graph) or 'none'})",
                            help=(f"the model has {close[0]}; " if close else "") + "name a graph output", key=name)


def _missing_outputs(ctx, path: Path, stat):
    import difflib

    wanted = ctx.spec.workload.outputs
    graph = _output_names(str(path), stat.st_size, stat.st_mtime_ns) if wanted else []
    for i, name in enumerate(wanted):
        if name not in graph:
            close = difflib.get_close_matches(name, graph, n=1, cutoff=0.5)
            yield Violation(f"/spec/workload/outputs/{i}",
                            f"{ctx.spec.workload.model.onnx}: '{name}' is not an output of the model (its outputs: "
                            f"{', '.join(graph) or 'none'})",
                            help=(f"the model has {close[0]} where the plan says {name}; " if close else "")
                            + "name the graph's outputs in spec.workload.outputs (and in envelope.parity.outputs)",
                            key=name)
