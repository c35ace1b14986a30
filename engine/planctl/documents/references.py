"""The files a plan names, in one list, and the checks apply makes on them before any work.

:func:`references` is the one list (the model, each technique's committed tuning ``records`` and
``calibration.dataset``, the quality dataset and reference model), used by ``check`` (rules PLN215,
PLN220), by apply's early check and by the digest of apply's inputs. A named file that is a Git
LFS pointer (a checkout without ``git lfs pull``) is refused wherever it is named. Paths are repository-relative; a resolved path
must stay inside the repository root (plans are data: they never make planctl read elsewhere).
No TVM, numpy or hypothesis here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planctl.documents.load import Loaded
from planctl.documents.models.plan import OptimizationPlan, PlanSpec
from planctl.errors import MissingReferenceError
from planctl.files import lfs_pointer_problem, sha256_file

MODEL_POINTER = "/spec/workload/model/onnx"
MODEL = "model file"
RECORDS = "tuning records"
QUALITY_REFERENCE = "quality reference model"
QUALITY_REFERENCE_POINTER = "/spec/envelope/quality/reference/onnx"


@dataclass(frozen=True)
class Reference:
    """One file a plan names: where (JSON ``pointer``), the repository-relative ``path``, what it
    is (``model file``, ``tuning records``, ``calibration dataset``, ``quality dataset``) and
    whether apply reads it (False for a file of a disabled technique)."""

    pointer: str
    path: str
    what: str
    enabled: bool = True


def references(spec: PlanSpec) -> list[Reference]:
    """Every file ``spec`` names, the model first, then in document order."""
    found = [Reference(MODEL_POINTER, spec.workload.model.onnx, MODEL)]
    for i, technique in enumerate(spec.optimizations):
        records = getattr(technique, "records", None)
        if records:
            found.append(Reference(f"/spec/optimizations/{i}/records", records, RECORDS, technique.enabled))
        calibration = getattr(technique, "calibration", None)
        if calibration is not None:
            found.append(Reference(f"/spec/optimizations/{i}/calibration/dataset", calibration.dataset,
                                   "calibration dataset", technique.enabled))
    if spec.envelope.quality is not None:
        found.append(Reference("/spec/envelope/quality/dataset", spec.envelope.quality.dataset, "quality dataset"))
        if spec.envelope.quality.reference is not None:
            found.append(Reference(QUALITY_REFERENCE_POINTER, spec.envelope.quality.reference.onnx, QUALITY_REFERENCE))
    return found


def read_by_apply(spec: PlanSpec) -> list[Reference]:
    """The files besides the model that apply reads: those of enabled techniques, the quality dataset."""
    return [r for r in references(spec) if r.enabled and r.what != MODEL]


def inside_root(root: Path, relative: str, *, what: str, pointer: str, plan: Loaded | None = None,
                plan_file: str | None = None) -> Path:
    """``root / relative`` resolved; MissingReferenceError when it is absolute or leaves ``root``
    (a symlink out of it included), at ``pointer``'s line of ``plan`` (or in ``plan_file``, no line)."""
    plan_file = str(plan.path) if plan is not None else plan_file
    candidate = Path(relative)
    resolved = (Path(root) / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(Path(root).resolve()):
        leads = f" (a symlink leads to {resolved})" if not candidate.is_absolute() and ".." not in candidate.parts else ""
        raise MissingReferenceError(f"{what} path '{relative}' is outside the repository root {root}{leads}",
                                    file=plan_file, **(position(plan, pointer) if plan else {"pointer": pointer}),
                                    hint="name files inside the repository, relative to its root, without '..' "
                                         "or symlinks that leave it")
    return resolved


def position(plan: Loaded, pointer: str) -> dict:
    """``{line, col, end_line, end_col, pointer}`` of ``pointer`` in the document (just the pointer when
    unknown)."""
    try:
        line, col, end_line, end_col = plan.index.locate(pointer)
        return {"line": line, "col": col, "end_line": end_line, "end_col": end_col, "pointer": pointer}
    except Exception:  # noqa: BLE001 - a position is a nicety; the error must still be raised
        return {"pointer": pointer}


def checked_model(root: Path, plan: Loaded[OptimizationPlan]) -> Path:
    """The plan's ONNX file, present and with the declared sha256, else MissingReferenceError
    located at the plan's ``onnx`` (or ``sha256``) line."""
    model = plan.model.spec.workload.model
    path = inside_root(root, model.onnx, what="model", pointer=MODEL_POINTER, plan=plan)
    if not path.is_file():
        raise MissingReferenceError(f"model file {model.onnx} does not exist", file=str(plan.path),
                                    **position(plan, MODEL_POINTER),
                                    hint="export it first (see the plan's comment or README)")
    _not_an_lfs_pointer(plan, path, f"model file {model.onnx}", MODEL_POINTER)
    actual = sha256_file(path)
    if actual != model.sha256:
        raise MissingReferenceError(
            f"model file {model.onnx} has sha256 {actual}, the plan declares {model.sha256}",
            file=str(plan.path), **position(plan, "/spec/workload/model/sha256"),
            hint="re-export with the pinned exporter, or update the digest after review")
    return path


def checked_references(root: Path, plan: Loaded[OptimizationPlan]) -> None:
    """Every file of :func:`read_by_apply` is inside ``root``, exists, is no Git LFS pointer (nor
    holds one, for a records directory), and a quality reference model has its declared sha256,
    before any build; else MissingReferenceError at the naming line (what check's PLN215 reports)."""
    for ref in read_by_apply(plan.model.spec):
        path = inside_root(root, ref.path, what=ref.what, pointer=ref.pointer, plan=plan)
        if not path.exists():
            raise MissingReferenceError(f"{ref.what} {ref.path} does not exist", file=str(plan.path),
                                        **position(plan, ref.pointer),
                                        hint="commit the file, or fix the path (relative to the repository root)")
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            _not_an_lfs_pointer(plan, file, f"{ref.what} {ref.path}" + (f" ({file.name})" if file != path else ""),
                                ref.pointer)
        if ref.what == QUALITY_REFERENCE:
            _declared_sha256(plan, path, plan.model.spec.envelope.quality.reference.sha256,
                             f"{ref.what} {ref.path}", "/spec/envelope/quality/reference/sha256")


def _not_an_lfs_pointer(plan, path: Path, what: str, pointer: str) -> None:
    problem = lfs_pointer_problem(path)
    if problem:
        raise MissingReferenceError(f"{what} is {problem}", file=str(plan.path), **position(plan, pointer),
                                    hint="fetch the LFS objects (git lfs install && git lfs pull), then run again")


def _declared_sha256(plan, path: Path, declared: str, what: str, pointer: str) -> None:
    actual = sha256_file(path)
    if actual != declared:
        raise MissingReferenceError(f"{what} has sha256 {actual}, the plan declares {declared}",
                                    file=str(plan.path), **position(plan, pointer),
                                    hint="re-export it, or update the digest after review")


def records_path(plan: Loaded[OptimizationPlan], root: Path) -> Path | None:
    """The committed tuning records the enabled autotuning technique names (None when none)."""
    ref = next((r for r in read_by_apply(plan.model.spec) if r.what == RECORDS), None)
    if ref is None:
        return None
    return inside_root(root, ref.path, what=RECORDS, pointer=ref.pointer, plan=plan)
