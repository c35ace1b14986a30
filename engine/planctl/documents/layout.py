"""Which files are plans and which are targets: the one definition that ``validate``, ``check``,
the pre-commit hooks and ``apply``'s target lookups share.

A repository keeps its plans in ``plans/`` and its targets in ``targets/``, directly in the folder
(not in sub-folders), each a ``.yaml`` or ``.yml`` file. A file in one of those folders must be a
document of that folder's kind; a target named ``x`` is ``targets/x.yaml`` (else ``targets/x.yml``).
"""
from __future__ import annotations

from pathlib import Path

from planctl.errors import DocumentError, MissingReferenceError

PLANS, TARGETS = "plans", "targets"
SUFFIXES = (".yaml", ".yml")
FOLDER_KINDS = {PLANS: "OptimizationPlan", TARGETS: "Target"}
# the `files` pattern of the planctl-validate hook in .pre-commit-hooks.yaml (a test keeps the two
# in step): exactly the paths, relative to the repository root, that plan_files/target_files list
HOOK_FILES = r"^(plans|targets)/[^/]+\.ya?ml$"


def is_document(path: Path) -> bool:
    """``path`` has a document suffix (``.yaml`` or ``.yml``)."""
    return Path(path).suffix in SUFFIXES


def documents_in(folder: Path) -> list[Path]:
    """The ``.yaml``/``.yml`` files directly in ``folder``, sorted (none when it is no folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_document(p) and p.is_file())


def plan_files(root: Path) -> list[Path]:
    """Every plan of the repository at ``root``: ``plans/*.yaml`` and ``plans/*.yml``."""
    return documents_in(Path(root) / PLANS)


def target_files(root: Path) -> list[Path]:
    """Every target of the repository at ``root``: ``targets/*.yaml`` and ``targets/*.yml``."""
    return documents_in(Path(root) / TARGETS)


def expected_kind(path: Path) -> str | None:
    """The kind a file must have where it lies: ``OptimizationPlan`` in a ``plans/`` folder,
    ``Target`` in a ``targets/`` folder, None elsewhere (any kind, dispatched on ``kind:``)."""
    path = Path(path)
    return FOLDER_KINDS.get(path.parent.name) if is_document(path) else None


def twins(path: Path) -> list[Path]:
    """The other files of ``path``'s folder with its stem and another document suffix
    (``x.yml`` for ``x.yaml``): none in a tidy repository."""
    path = Path(path)
    return [path.with_suffix(s) for s in SUFFIXES if s != path.suffix and path.with_suffix(s).is_file()]


def target_path(name: str, root: Path) -> Path | None:
    """The file of target ``name`` under ``root`` (``targets/<name>.yaml`` or ``.yml``), or None.

    Raises :class:`DocumentError` when both exist: serving either one silently could build for
    the wrong target (``planctl validate`` reports the pair as PLN123)."""
    found = [p for p in (Path(root) / TARGETS / f"{name}{s}" for s in SUFFIXES) if p.is_file()]
    if len(found) > 1:
        raise DocumentError(f"target `{name}` is defined twice: {found[0]} and {found[1]}",
                            file=str(found[1]), hint="keep one file per target: delete or rename "
                            "the other (planctl validate reports it as PLN123)")
    return found[0] if found else None


def find_target(name: str, root: Path) -> Path:
    """:func:`target_path`, raising :class:`MissingReferenceError` when there is no such file."""
    path = target_path(name, root)
    if path is None:
        raise MissingReferenceError(
            f"target `{name}` not found: no {Path(root) / TARGETS / name}.yaml (or .yml)",
            hint="add the target document or fix the name in spec.targets")
    return path
