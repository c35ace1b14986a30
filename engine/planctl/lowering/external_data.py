"""The files an ONNX model names itself: its external data (``location`` of each tensor stored
outside the ``.onnx`` file, ONNX's ``external_data`` field).

ONNX resolves a location relative to the model's folder, never the working directory, and refuses
one that leaves that folder; planctl does the same, keeps it inside the repository like every file
a plan names (symlinks followed), refuses a Git LFS pointer, and hands the files to the inputs
digest (planctl.apply.inputs) so that replacing the weights is never "up to date". Reads the
locations with check's wire-format reader (planctl.documents.onnx_signature.external_locations: no
onnx import, the file mapped, not parsed whole), so check's PLN216 and apply judge the same list;
raises MissingReferenceError, located at the plan's ``onnx`` line when the plan document is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planctl.documents.onnx_signature import external_locations, leaves_folder
from planctl.errors import MissingReferenceError
from planctl.files import lfs_pointer_problem

MODEL_POINTER = "/spec/workload/model/onnx"


@dataclass(frozen=True)
class ExternalData:
    """One external data file: the ``location`` as written in the model and the resolved ``path``."""

    location: str
    path: Path


def external_data(model_path: Path, root: Path, plan=None) -> list[ExternalData]:
    """The external data files of the ONNX model at ``model_path``, checked: each location is
    relative, stays inside the model's folder (as ONNX requires) and the repository ``root``,
    and names a regular file that is not a Git LFS pointer. ``plan``: the plan document
    (``Loaded``), for the error's position. Raises MissingReferenceError. A file that is not a
    model gives none: the importer reports it with its own message."""
    return [_checked(model_path, root, location, plan) for location in external_locations(Path(model_path))]


def _checked(model_path: Path, root: Path, location: str, plan) -> ExternalData:
    folder = Path(model_path).resolve().parent
    path = (folder / location).resolve()
    what = f"external data '{location}' of {Path(model_path).name}"
    if leaves_folder(location):
        _fail(f"{what} is outside the model's folder {folder}", plan,
              "ONNX resolves external data relative to the model's folder and refuses a path that "
              "leaves it: store the data file beside the model")
    if not path.is_relative_to(Path(root).resolve()):
        _fail(f"{what} resolves outside the repository (a symlink leads to {path})", plan,
              "keep the data file inside the repository")
    if not path.exists():
        _fail(f"{what} does not exist (looked for {path}, relative to the model's folder)", plan,
              "commit the data file beside the model, or re-export the model")
    if not path.is_file():
        _fail(f"{what} is not a regular file ({path})", plan, "point the model's location at the data file itself")
    problem = lfs_pointer_problem(path)
    if problem:
        _fail(f"{what} is {problem}", plan, "run git lfs pull")
    return ExternalData(location=location, path=path)


def _fail(message: str, plan, hint: str):
    from planctl.documents.references import position

    where = {"file": str(plan.path), **position(plan, MODEL_POINTER)} if plan is not None else {}
    raise MissingReferenceError(message, hint=hint, **where)
