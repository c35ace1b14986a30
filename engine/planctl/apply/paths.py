"""Paths named in plans stay inside the repository root; digests are checked before any work."""
from __future__ import annotations

import hashlib
from pathlib import Path

from planctl.errors import MissingReferenceError


def inside_root(root: Path, relative: str, *, what: str, plan_file: str, pointer: str) -> Path:
    """Resolve ``relative`` against ``root``; raise MissingReferenceError when it escapes ``root``."""
    candidate = Path(relative)
    resolved = (root / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(root.resolve()):
        raise MissingReferenceError(f"{what} path '{relative}' is outside the repository root {root}",
                                    file=plan_file, pointer=pointer,
                                    hint="name files relative to the repository root, without '..'")
    return resolved


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checked_model(root: Path, plan_loaded) -> Path:
    """The plan's ONNX file, present and with the declared sha256, else MissingReferenceError."""
    spec = plan_loaded.model.spec.workload.model
    where = dict(file=str(plan_loaded.path))
    path = inside_root(root, spec.onnx, what="model", plan_file=str(plan_loaded.path),
                       pointer="/spec/workload/model/onnx")
    if not path.is_file():
        raise MissingReferenceError(f"model file {spec.onnx} does not exist", **where,
                                    **_pos(plan_loaded, "/spec/workload/model/onnx"),
                                    hint="export it first (see the plan's comment or README)")
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise MissingReferenceError(
            f"model file {spec.onnx} has sha256 {actual}, the plan declares {spec.sha256}", **where,
            **_pos(plan_loaded, "/spec/workload/model/sha256"),
            hint="re-export with the pinned exporter, or update the digest after review")
    return path


def _pos(loaded, pointer: str) -> dict:
    try:
        line, col, *_ = loaded.index.locate(pointer)
        return {"line": line, "col": col, "pointer": pointer}
    except Exception:  # noqa: BLE001 - a position is a nicety; the error must still be raised
        return {"pointer": pointer}


def named_files(plan_loaded) -> list[tuple[str, str, str]]:
    """(JSON pointer, path, what) of every file besides the model that the plan names and apply
    reads: enabled techniques' tuning records and calibration datasets, the quality dataset."""
    spec, named = plan_loaded.model.spec, []
    for i, t in enumerate(spec.optimizations):
        if t.enabled and getattr(t, "records", None):
            named.append((f"/spec/optimizations/{i}/records", t.records, "tuning records"))
        if t.enabled and getattr(t, "calibration", None) is not None:
            named.append((f"/spec/optimizations/{i}/calibration/dataset", t.calibration.dataset,
                          "calibration dataset"))
    if spec.envelope.quality is not None:
        named.append(("/spec/envelope/quality/dataset", spec.envelope.quality.dataset, "quality dataset"))
    return named


def checked_references(root: Path, plan_loaded) -> None:
    """Every file of :func:`named_files` is inside ``root`` and exists, before any build: else
    MissingReferenceError at the naming line (check's PLN215)."""
    for pointer, relative, what in named_files(plan_loaded):
        where = dict(file=str(plan_loaded.path), **_pos(plan_loaded, pointer))
        path = inside_root(root, relative, what=what, plan_file=str(plan_loaded.path), pointer=pointer)
        if not path.exists():
            raise MissingReferenceError(f"{what} {relative} does not exist", **where,
                                        hint="commit the file, or fix the path (relative to the repository root)")
