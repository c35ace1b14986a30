"""The saved plan (``planctl plan -o FILE``, a ``Lock`` document).

A saved plan pins the digests of everything an apply depends on: the plan file, the model file,
the target file, the plan schema (the text of ``schemas/plan.schema.json`` as the installed planctl
renders it), the committed tuning records and the TVM version. ``planctl apply FILE`` recomputes
them and refuses to run when any moved (StaleLockError, exit 2), naming each one, the way a
terraform plan file is refused once the state it was computed from changed. (What ``planctl
plan`` prints, the dry run of an apply, is the tuning stage's: planctl.tuning.preview.)
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from planctl import API_VERSION
from planctl.errors import DocumentError, StaleLockError
from planctl.files import atomic_write_text

DIGEST_LABELS = {"plan": "plan file", "model": "model file", "target": "target file",
                 "schema": "plan schema", "records": "committed tuning records",
                 "model_external_data": "model's external data"}


def tvm_version() -> str:
    from planctl.versions import version

    return version("apache-tvm") or "not installed"


def schema_digest() -> str:
    from planctl.documents.schema import render

    return hashlib.sha256(render("OptimizationPlan").encode("utf-8")).hexdigest()


def tree_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's files (relative names and contents, sorted); a
    missing path digests as the empty string's sha256 of its name, so creating it moves it."""
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
    elif path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(item.read_bytes()).digest())
    else:
        digest.update(b"missing:" + path.name.encode())
    return digest.hexdigest()


def current_digests(plan, target, root: Path) -> dict:
    """The digests a saved plan pins for the plan and target documents, computed now. Raises
    MissingReferenceError when the model is missing or does not match the plan's declared sha256
    (the same check apply makes first)."""
    from planctl.documents.references import checked_model, records_path
    from planctl.files import sha256_file

    model = checked_model(root, plan)
    records = records_path(plan, root)
    return {"plan": plan.sha256, "model": sha256_file(model), "target": target.sha256,
            "schema": schema_digest(), "records": tree_digest(records) if records is not None else None,
            "model_external_data": external_data_digest(model, root, plan)}


def external_data_digest(model: Path, root: Path, plan) -> str | None:
    """sha256 over the model's external data files (each ``location`` and its file's sha256, in
    location order), or None for a model that keeps its tensors inside the ``.onnx`` file. Raises
    MissingReferenceError for a location that is missing, escapes the repository or is an LFS
    pointer (planctl.lowering.external_data)."""
    from planctl.files import sha256_file
    from planctl.lowering.external_data import external_data

    files = sorted(external_data(model, root, plan), key=lambda d: d.location)
    if not files:
        return None
    digest = hashlib.sha256()
    for item in files:
        digest.update(item.location.encode() + b"\0" + sha256_file(item.path).encode() + b"\0")
    return digest.hexdigest()


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        err = DocumentError(f"plan {path} is outside the repository root {Path(root).resolve()}: a saved plan "
                            "names its plan by the path inside the repository",
                            hint="keep the plan inside the repository, or pass --root; without -o, "
                                 "`planctl plan` saves nothing and takes it as it is")
        err.code = "PLN115"   # path-escapes-repo, not PLN100's unparsable YAML
        raise err from None


def make_lock(plan, target, target_name: str, root: Path) -> dict:
    """The Lock document (plain data, validated against the model) for the plan and target documents."""
    from planctl.documents.models import Lock

    data = {"apiVersion": API_VERSION, "kind": "Lock", "metadata": {"name": plan.model.metadata.name},
            "spec": {"plan": _relative(plan.path, root), "target": target_name,
                     "digests": {k: v for k, v in current_digests(plan, target, root).items()
                                 if v is not None},
                     "tvm_version": tvm_version(),
                     "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}}
    Lock.model_validate(data)
    return data


def write_lock(data: dict, path: Path) -> None:
    """Write the Lock as YAML (atomically: a temporary file beside it, then a rename)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    buf.write("# planctl saved plan: `planctl apply` on this file refuses to run once a digest moves.\n")
    yaml.dump(json.loads(json.dumps(data)), buf)
    atomic_write_text(path, buf.getvalue())


def is_lock(path: Path) -> bool:
    """True when ``path`` is a YAML document whose top-level ``kind`` is ``Lock``."""
    return document_kind(path) == "Lock"


def document_kind(path: Path) -> str | None:
    """The top-level ``kind`` of a YAML (or JSON) document; ``""`` when it has none, None when it
    cannot be read or parsed."""
    from ruamel.yaml import YAML, YAMLError

    try:
        data = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else ""


@dataclass(frozen=True)
class LockedApply:
    """What a fresh saved plan resolves to: the plan file and the target to apply."""

    plan_file: Path
    target_name: str


def check_lock(path: Path, root: Path) -> LockedApply:
    """Load the saved plan at ``path`` and recompute its digests. Raises DocumentError for an
    invalid file and StaleLockError naming every digest that moved (and the TVM version)."""
    from planctl.documents.load import find_target, load_lock, load_plan, load_target
    from planctl.errors import MissingReferenceError

    lock = load_lock(path).model
    spec = lock.spec
    plan_path = Path(root) / spec.plan
    moved = []
    try:
        plan = load_plan(plan_path)
        target = load_target(find_target(spec.target, root))
        now = current_digests(plan, target, Path(root))
    except (DocumentError, MissingReferenceError) as exc:
        raise StaleLockError(f"saved plan {path} is stale: {exc.message}", file=str(path),
                             hint="re-run `planctl plan` to save a fresh plan after review") from exc
    pinned = spec.digests.model_dump(by_alias=True)
    for name, label in DIGEST_LABELS.items():
        if pinned.get(name) != now.get(name):
            moved.append(f"{label} digest {_short(pinned.get(name))} -> {_short(now.get(name))}")
    if spec.tvm_version != tvm_version():
        moved.append(f"TVM version {spec.tvm_version} -> {tvm_version()}")
    if moved:
        raise StaleLockError(f"saved plan {path} is stale, moved since it was saved: {'; '.join(moved)}",
                             file=str(path),
                             hint=f"review the change, then `planctl plan {spec.plan} --target {spec.target} "
                                  f"-o {path}` to save a fresh plan")
    return LockedApply(plan_path, spec.target)


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "none"


def resolve_apply_argument(argument: Path, target: str | None, root: Path) -> tuple[Path, str]:
    """``(plan file, target)`` for ``planctl apply ARGUMENT``: a saved plan is checked for
    staleness and supplies both; a plan file needs ``--target``."""
    kind = document_kind(argument)   # parsed once: a saved plan, a plan, or neither
    if kind == "Lock":
        locked = check_lock(argument, root)
        if target is not None and target != locked.target_name:
            raise DocumentError(f"--target {target} differs from the saved plan's target {locked.target_name}",
                                file=str(argument), hint="drop --target when applying a saved plan")
        return locked.plan_file, locked.target_name
    if target is None and kind not in (None, "OptimizationPlan"):   # parsed, but neither document apply takes
        raise DocumentError("neither a plan (kind: OptimizationPlan) nor a saved plan (kind: Lock): "
                            + (f"its kind is {kind}" if kind else "it has no kind"), file=str(argument),
                            hint="`planctl plan PLAN --target NAME -o FILE` saves a plan; apply takes a plan file "
                                 "with --target, or the saved plan alone")
    if target is None:
        raise DocumentError("--target is required when PLAN is a plan file (not a saved plan)",
                            hint="planctl apply PLAN --target NAME, or planctl apply SAVED-PLAN")
    return argument, target
