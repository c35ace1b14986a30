"""What an apply's output depends on, as one digest, so an unchanged run can be skipped.

``components`` collects the inputs without importing TVM (file digests, package metadata,
/proc/cpuinfo, ``nvidia-smi`` for a CUDA target, a read-only count of the tuning cache); the digest
is the sha256 of their canonical JSON. The emit stage stores both in the record; ``live_output`` answers
whether the live ``OUT/<plan>/<target>/`` was produced from the same inputs and is intact.
Anything it cannot read counts as changed: a spurious rebuild costs minutes, a stale skip a wrong
artifact.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from planctl.documents.references import inside_root, read_by_apply
from planctl.documents.techniques import autotuning
from planctl.errors import PlanctlError
from planctl.files import sha256_file
from planctl.tuning.digest import canonical

LIBRARIES = ("artifact", "baseline", "candidate", "fallback")  # manifest keys naming library files
NVIDIA_SMI = ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"]
NVIDIA_SMI_TIMEOUT_S = 5.0


def components(options, plan, target, environ=os.environ, external_data=()) -> dict:
    """The inputs of one apply of the plan document ``plan`` for the target document ``target``
    under ``options`` (ApplyOptions); ``external_data``: the model's external data files
    (planctl.lowering.external_data.ExternalData), digested like the model itself. Raises nothing
    for a missing or unreadable file: its entry says so, and the run itself reports it."""
    spec, target_spec = plan.model.spec, target.model.spec
    tuning = autotuning(spec)
    found = {"plan": plan.sha256, "target": target.sha256, "model": spec.workload.model.sha256,
             "model_external_data": {d.location: _sha_or_error(d.path) for d in external_data},
             "files": _named_files(options, plan), "versions": _versions(),
             "host": _host(target_spec.capabilities.device),
             "options": {"replay": options.replay, "allow_version_drift": options.allow_version_drift,
                         "measure_repeats": options.measure_repeats,
                         "baseline_max_seconds": options.baseline_max_seconds,
                         "measure_max_seconds": options.measure_max_seconds,
                         "TVM_NUM_THREADS": _tvm_threads(target_spec, environ)}}
    if tuning is not None:
        found["budget"] = _budget(tuning, options.root)
        found["compatible_targets"] = {name: _target_sha(name, options.root) for name in target_spec.compatible_with}
        found["tuning_cache"] = cache_generation(options.cache_dir)
    return found


def digest(found: dict) -> str:
    """sha256 (hex) of the canonical JSON of ``found``."""
    return hashlib.sha256(canonical(found).encode()).hexdigest()


def cache_generation(cache_dir) -> dict:
    """Record count, highest record id and quarantine count of the tuning cache, read without
    creating or changing it (a search, an import, a prune or a quarantine moves one of them)."""
    from planctl.tuning.store import generation

    return generation(cache_dir)


REPORTS = ("report.md", "report.html")  # written with report.json; a run without them is incomplete


def live_output(destination: Path, expected: str) -> dict | None:
    """The record of the output in ``destination`` when it was made from inputs of digest
    ``expected``, its manifest agrees with it (verdict, plan, target), its reports are all there and
    every library the manifest names still has its recorded sha256; else None (also for any file
    that cannot be read or lacks a field: the apply then simply runs)."""
    try:
        record = json.loads((destination / "report.json").read_text())
        manifest = json.loads((destination / "manifest.json").read_text())
        recorded = (record.get("inputs") or {}).get("digest")
        sums = manifest.get("sha256")
        if recorded != expected or not isinstance(sums, dict) or not sums:
            return None
        if (record["decision"]["verdict"] != manifest["verdict"] or record["plan"]["name"] != manifest["plan"]
                or record["target"]["name"] != manifest["target"]):
            return None
        if not all((destination / name).is_file() for name in REPORTS):
            return None
        # a library deleted on purpose (on_violation: fail) has no sum; the deployed ones must
        deployed = [e.get("artifact") for e in [manifest, *manifest.get("buckets", [])]]
        if any(name is not None and name not in sums for name in deployed):
            return None
        for name, want in sums.items():
            if Path(name).name != name or sha256_file(destination / name) != want:
                return None
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None
    return record


def library_sums(folder: Path, manifest: dict) -> dict[str, str]:
    """sha256 of each library file the manifest names (its buckets' included) that exists in ``folder``."""
    entries = [manifest, *manifest.get("buckets", [])]
    names = {entry.get(key) for entry in entries for key in LIBRARIES} - {None}
    return {name: sha256_file(folder / name) for name in sorted(names) if (folder / name).is_file()}


def _named_files(options, plan) -> dict:
    """sha256 of the files besides the model that the plan names and apply reads, by JSON pointer."""
    return {ref.pointer: _file_sha(options.root, ref.path, plan) for ref in read_by_apply(plan.model.spec)}


def _sha_or_error(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as exc:
        return f"unreadable: {exc}"


def _file_sha(root: Path, relative: str, plan) -> dict:
    """sha256 of a named file, or of every file in a named directory (TVM's records format)."""
    from planctl.apply.lock import tree_digest

    try:
        path = inside_root(root, relative, what="file", plan_file=str(plan.path), pointer="")
        return {"path": relative, "sha256": tree_digest(path) if path.is_dir() else sha256_file(path)}
    except (PlanctlError, OSError) as exc:
        return {"path": relative, "sha256": None, "error": str(exc)}


def _versions() -> dict:
    """Installed versions of planctl and of what builds, verifies and measures (metadata only)."""
    import planctl
    from planctl.lowering.tvm_env import versions
    from planctl.versions import version

    found = {"planctl": planctl.__version__, "planctl_source": _source_digest(Path(planctl.__file__).parent),
             **versions()}
    if hypothesis := version("hypothesis"):  # hypothesis draws the parity examples
        found["hypothesis"] = hypothesis
    return found


def _source_digest(package: Path) -> str:
    """sha256 of planctl's own code and data files: an editable install keeps its version number
    while its passes and techniques change, and those change the build (~5 ms for the package)."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".yaml", ".json") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _host(device: str) -> dict:
    from planctl.host import cpu_fingerprint

    host = {"cpu": cpu_fingerprint()}
    if device == "cuda":
        host["gpus"] = gpu_names()
    return host


def gpu_names() -> list[str] | str:
    """``name, compute_cap`` of each GPU from nvidia-smi, or ``"unavailable"``."""
    try:
        out = subprocess.run(NVIDIA_SMI, capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unavailable"
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] or "unavailable"


def _tvm_threads(target_spec, environ) -> str:
    # the value TVM runs with, not the raw variable: apply sets TVM_NUM_THREADS to the target's
    # num-cores when it is unset (tvm_env.import_tvm), so a second apply in one process sees it set
    from planctl.host import physical_cores

    return environ.get("TVM_NUM_THREADS") or str(target_spec.tvm.get("num-cores") or physical_cores())


def _budget(tuning, root: Path) -> dict:
    """The budget the search gets (the plan's, capped by planctl.toml / [tool.planctl])."""
    from planctl.rules.config import load_config
    from planctl.tuning.budget import effective_budget

    try:
        return effective_budget(tuning.budget, load_config(root)).to_dict()
    except PlanctlError as exc:
        return {"error": str(exc)}


def _target_sha(name: str, root: Path) -> str | None:
    from planctl.documents.load import find_target

    try:
        return sha256_file(find_target(name, root))
    except (PlanctlError, OSError):
        return None
