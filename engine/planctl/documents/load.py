"""Load and validate plan, target and lock files: the documents stage.

:func:`validate_file` collects *every* finding of one file (``planctl validate``); the ``load_*``
functions return a validated model or raise :class:`DocumentError` on the first finding
(``check``, ``plan`` and ``apply``). Both share :func:`_examine`: read with positions, dispatch on
``kind`` (a file in ``plans/`` or ``targets/`` must be of that folder's kind, see
:mod:`planctl.documents.layout`), validate the pydantic model, run the semantic checks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from planctl import codes
from planctl.documents import layout
from planctl.documents.positions import SourceIndex
from planctl.documents.source import Issue, Source, Unparsable, read_source
from planctl.errors import DocumentError
from planctl.findings import Finding, Severity

M = TypeVar("M")


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A validated document: ``path`` as given, the ``model``, the plain ``data`` it was built
    from, the pointer -> position ``index`` and the ``sha256`` hex digest of the file's bytes."""

    path: Path
    model: M
    data: Any
    index: SourceIndex
    sha256: str


@dataclass
class _Examined:
    source: Source | None
    model: Any
    issues: list[Issue]


def _examine(path: Path, expected_kind: str | None = None) -> _Examined:
    """Read and validate ``path`` as ``expected_kind`` (None: the kind its folder requires, else
    any); never raises for bad input (issues come back sorted)."""
    from pydantic import ValidationError

    from planctl.documents import problems, semantics
    from planctl.documents.models import KINDS

    try:
        source = read_source(path)
    except Unparsable as exc:
        return _Examined(None, None, [exc.issue])
    issues = list(source.issues)
    kind = _kind(source, expected_kind or layout.expected_kind(path), issues)
    model = None
    if kind is not None:
        try:
            model = KINDS[kind].model_validate(source.data)
        except ValidationError as exc:
            issues += problems.issues_from(exc, source.data, source.index, kind)
        issues += semantics.check(kind, source.data, source.index, path)
    issues.sort(key=lambda i: (i.line, i.col, i.rule))
    return _Examined(source, model, issues)


def _kind(source: Source, expected: str | None, issues: list[Issue]) -> str | None:
    """The document's ``kind`` when it is one planctl knows (and the expected one), else None
    with an issue explaining why."""
    from planctl.documents.models import KINDS
    from planctl.documents.problems import _suggest

    kind = source.data.get("kind")
    valid = [expected] if expected else list(KINDS)
    if kind is None and "kind" not in source.data:
        issues.append(Issue("PLN102", "missing required field `kind`", 1, 1, "/kind",
                            f"add `kind:` at the top level ({', '.join(valid)})"))
        return None
    if kind not in valid:
        line, col, end_line, end_col = source.index.locate("/kind")
        what = f"expected kind {expected}" if expected else "unknown kind"
        hint = _suggest(str(kind), valid, "valid kinds")
        if expected and isinstance(kind, str) and kind in KINDS:
            hint = (f"this file must be a {expected}: plans/ holds OptimizationPlans and targets/ "
                    "holds Targets; keep other documents (saved plans) elsewhere")
        issues.append(Issue("PLN104", f"{what}, found `{str(kind)[:60]}`", line, col, "/kind",
                            hint, end_line, end_col))
        return None
    return kind


def to_finding(issue: Issue, file: str) -> Finding:
    return Finding(rule=issue.rule, severity=Severity.ERROR, message=issue.message, file=file,
                   pointer=issue.pointer, line=issue.line, col=issue.col, end_line=issue.end_line,
                   end_col=issue.end_col, help=issue.help)


def validate_file(path) -> list[Finding]:
    """All findings (PLN1xx, severity error) of the document at ``path`` (of the kind its folder
    requires, see :func:`layout.expected_kind`), in file order; an empty
    list means it is valid. Never raises for bad input: unreadable or unparsable files give one
    finding whose rule is in :data:`codes.UNPARSABLE`."""
    return [to_finding(issue, str(path)) for issue in _examine(Path(path)).issues]


def check_file(path, expected_kind: str | None = None) -> tuple[list[Finding], Loaded | None]:
    """One read for callers that want both: every finding of ``path`` and, when there are none,
    the :class:`Loaded` document (else None). Never raises for bad input."""
    examined = _examine(Path(path), expected_kind)
    findings = [to_finding(issue, str(path)) for issue in examined.issues]
    if findings:
        return findings, None
    src = examined.source
    return [], Loaded(Path(path), examined.model, src.data, src.index, src.sha256)


def load_document(path, expected_kind: str | None = None) -> Loaded:
    """The validated document at ``path`` (dispatched on its ``kind``; ``expected_kind`` restricts
    it). Raises :class:`DocumentError` carrying file, line, col, pointer, hint and the finding's
    rule id as ``code`` for the first finding; ``exit_code`` is 2 for unparsable input, 1 otherwise."""
    examined = _examine(Path(path), expected_kind)
    if examined.issues:
        raise _error(examined.issues[0], str(path))
    src = examined.source
    return Loaded(Path(path), examined.model, src.data, src.index, src.sha256)


def load_plan(path) -> Loaded:
    """:func:`load_document` for an ``OptimizationPlan``."""
    return load_document(path, "OptimizationPlan")


def load_target(path) -> Loaded:
    """:func:`load_document` for a ``Target``."""
    return load_document(path, "Target")


def load_lock(path) -> Loaded:
    """:func:`load_document` for a ``Lock`` (saved plan)."""
    return load_document(path, "Lock")


def find_target(name: str, root: Path) -> Path:
    """The file of target ``name`` (:func:`layout.find_target`: ``targets/<name>.yaml`` or
    ``.yml``); raises :class:`MissingReferenceError` if absent."""
    return layout.find_target(name, root)


def unnamed_target_error(name: str, plan: Loaded, plan_file) -> Exception:
    """The TargetChoiceError for ``--target name`` that ``plan`` does not list, at its ``spec.targets``
    line; the hint names the closest of its targets when one is close (a typo), else all of them."""
    import difflib

    from planctl.errors import TargetChoiceError

    targets = list(plan.model.spec.targets)
    line, col, _, _ = plan.index.locate("/spec/targets")
    close = difflib.get_close_matches(name, targets, n=1, cutoff=0.6)
    hint = (f"did you mean --target {close[0]}? (or add '{name}' to spec.targets)" if close else
            f"use --target with one of {', '.join(targets)} (`planctl targets` says which this host runs), "
            "or add it to spec.targets")
    return TargetChoiceError(f"target '{name}' is not one of the plan's targets ({', '.join(targets)})", file=str(plan_file),
                             line=line, col=col, pointer="/spec/targets", hint=hint)


def compatible_targets(target_spec, root: Path) -> dict[str, dict]:
    """``{name: spec.tvm}`` of the targets a target document names in ``compatible_with`` (their
    tuning records may serve it). Raises MissingReferenceError or DocumentError for one that is
    missing or invalid."""
    return {name: dict(load_target(find_target(name, root)).model.spec.tvm) for name in target_spec.compatible_with}


def _error(issue: Issue, file: str) -> DocumentError:
    err = DocumentError(issue.message, file=file, line=issue.line, col=issue.col, hint=issue.help,
                        pointer=issue.pointer, end_line=issue.end_line, end_col=issue.end_col)
    err.code = issue.rule                        # the finding's own id, not the class default
    err.exit_code = codes.exit_code_for([issue.rule])
    return err
