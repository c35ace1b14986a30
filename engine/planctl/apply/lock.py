"""The saved plan (``planctl plan -o FILE``, a ``Lock`` document) and what ``apply`` would do.

A saved plan pins the digests of everything an apply depends on: the plan file, the model file,
the target file, the plan schema (the text of ``schemas/plan.schema.json`` as the installed planctl
renders it), the committed tuning records and the TVM version. ``planctl apply FILE`` recomputes
them and refuses to run when any moved (StaleLockError, exit 2), naming each one, the way a
terraform plan file is refused once the state it was computed from changed.

:func:`describe` is the dry run: techniques and the TVM passes they map to, the tuning budget,
and, when TVM is importable, the tuning tasks of each production shape split into served by the
cache, served by the committed records, and left to search. It lowers the model (legalize, fuse)
but compiles nothing.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from planctl import API_VERSION
from planctl.errors import DocumentError, StaleLockError

DIGEST_LABELS = {"plan": "plan file", "model": "model file", "target": "target file",
                 "schema": "plan schema", "records": "committed tuning records"}


def tvm_version() -> str:
    from planctl.versions import version

    return version("apache-tvm") or "not installed"


def schema_digest() -> str:
    from planctl.documents.schema import render

    return hashlib.sha256(render("OptimizationPlan").encode("utf-8")).hexdigest()


def records_path(plan_model, root: Path, plan_file: str) -> Path | None:
    """The committed tuning records the plan's autotuning names (None when it names none)."""
    from planctl.apply.paths import inside_root

    tuning = next((t for t in plan_model.spec.optimizations if t.technique == "autotuning" and t.enabled), None)
    if tuning is None or not tuning.records:
        return None
    return inside_root(root, tuning.records, what="tuning records", plan_file=plan_file,
                       pointer="/spec/optimizations")


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


def current_digests(plan_loaded, target_loaded, root: Path) -> dict:
    """The digests a saved plan pins, computed now. Raises MissingReferenceError when the model is
    missing or does not match the plan's declared sha256 (the same check apply makes first)."""
    from planctl.apply.paths import checked_model, sha256_file

    model = checked_model(root, plan_loaded)
    records = records_path(plan_loaded.model, root, str(plan_loaded.path))
    return {"plan": plan_loaded.sha256, "model": sha256_file(model), "target": target_loaded.sha256,
            "schema": schema_digest(), "records": tree_digest(records) if records is not None else None}


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        raise DocumentError(f"plan {path} is outside the repository root {root}",
                            hint="pass --root, or keep plans inside the repository") from None


def make_lock(plan_loaded, target_loaded, target_name: str, root: Path) -> dict:
    """The Lock document (plain data, validated against the model) for this plan and target."""
    from planctl.documents.models import Lock

    data = {"apiVersion": API_VERSION, "kind": "Lock", "metadata": {"name": plan_loaded.model.metadata.name},
            "spec": {"plan": _relative(plan_loaded.path, root), "target": target_name,
                     "digests": {k: v for k, v in current_digests(plan_loaded, target_loaded, root).items()
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)


def is_lock(path: Path) -> bool:
    """True when ``path`` is a YAML document whose top-level ``kind`` is ``Lock``."""
    from ruamel.yaml import YAML, YAMLError

    try:
        data = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return False
    return isinstance(data, dict) and data.get("kind") == "Lock"


@dataclass(frozen=True)
class LockedApply:
    """What a fresh saved plan resolves to: the plan file and the target to apply."""

    plan: Path
    target: str
    lock: object = field(repr=False, default=None)


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
    return LockedApply(plan_path, spec.target, lock)


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "none"


def resolve_apply_argument(argument: Path, target: str | None, root: Path) -> tuple[Path, str]:
    """``(plan file, target)`` for ``planctl apply ARGUMENT``: a saved plan is checked for
    staleness and supplies both; a plan file needs ``--target``."""
    if is_lock(argument):
        locked = check_lock(argument, root)
        if target is not None and target != locked.target:
            raise DocumentError(f"--target {target} differs from the saved plan's target {locked.target}",
                                file=str(argument), hint="drop --target when applying a saved plan")
        return locked.plan, locked.target
    if target is None:
        raise DocumentError("--target is required when PLAN is a plan file (not a saved plan)",
                            hint="planctl apply PLAN --target NAME, or planctl apply SAVED-PLAN")
    return argument, target


# ------------------------------------------------------------------------------------- dry run
def describe(plan_loaded, target_loaded, target_name: str, root: Path, cache_dir: Path | None) -> dict:
    """What apply would do, without compiling: techniques → passes, budget, tasks per shape."""
    from planctl.lowering.techniques import REGISTRY
    from planctl.verify.strategies import production_shape_envs

    spec = plan_loaded.model.spec
    chosen = [t for t in spec.optimizations if t.enabled]
    tvm_target, why = _tvm_target(target_loaded)
    techniques = []
    for t in spec.optimizations:
        impl = REGISTRY.get(t.technique)
        entry = {"technique": t.technique, "enabled": t.enabled,
                 "stage": impl.stage if impl else "not lowered by apply", "doc": impl.doc if impl else ""}
        if impl is not None and tvm_target is not None and t.enabled:
            try:
                entry["passes"] = [p.info.name for p in impl.passes(t, tvm_target)]
            except Exception as exc:  # noqa: BLE001 - a pass that cannot be built is shown, not fatal
                entry["passes_error"] = f"{type(exc).__name__}: {exc}"
        techniques.append(entry)
    tuning = next((t for t in chosen if t.technique == "autotuning"), None)
    out = {"plan": plan_loaded.model.metadata.name, "target": target_name, "techniques": techniques,
           "runs_here": _runs_here(target_loaded) if tvm_target is not None else None,
           "shapes": production_shape_envs(spec),
           "envelope": _envelope(spec), "budget": None, "tasks": None, "tasks_unavailable": why}
    if tuning is not None:
        out["budget"] = {"trials": tuning.budget.trials, "wall_clock_s": tuning.budget.wall_clock_s,
                         "trials_per_task": tuning.budget.trials_per_task, "records": tuning.records}
        out["budget"]["effective"] = _effective_budget(tuning.budget, root)
        if tvm_target is not None:
            out["tasks"] = _task_census(plan_loaded, target_loaded, target_name, root, cache_dir, tvm_target, chosen)
    return out


def _tvm_target(target_loaded):
    try:
        from planctl.lowering.build import make_target
        from planctl.lowering.tvm_env import import_tvm

        import_tvm(num_threads=target_loaded.model.spec.tvm.get("num-cores"))
        return make_target(target_loaded.model.spec.tvm), None
    except Exception as exc:  # noqa: BLE001 - TVM missing or a target TVM rejects: plan still prints
        return None, f"TVM is not importable here ({type(exc).__name__}: {str(exc)[:200]})"


def _runs_here(target_loaded) -> str:
    """Whether this host can run the target's code (the check apply makes before it builds)."""
    from planctl.lowering.compat import support

    return support(dict(target_loaded.model.spec.tvm)).reason()


def _envelope(spec) -> dict:
    env = spec.envelope
    out = {"parity": f"{env.parity.examples} hypothesis examples per shape vs {env.parity.reference}, "
                     f"rtol {env.parity.default.rtol:g} atol {env.parity.default.atol:g}",
           "performance": f"{env.performance.statistic} speedup >= {env.performance.min_speedup:g}x"}
    if env.quality is not None:
        out["quality"] = (f"{env.quality.metric} on {env.quality.dataset}: {env.quality.goal.type} "
                          f"{env.quality.goal.value:g}")
    return out


def _effective_budget(budget, root: Path):
    try:
        from planctl.rules.config import load_config
        from planctl.tuning.budget import effective_budget

        value = effective_budget(budget, load_config(root))
        return value.to_dict() if hasattr(value, "to_dict") else str(value)
    except Exception:  # noqa: BLE001 - optional: older caches have no repository ceiling
        return None


def _task_census(plan_loaded, target_loaded, target_name, root, cache_dir, tvm_target, chosen) -> list[dict]:
    """Per production shape: where each task's schedule would come from (planctl.tuning.census:
    the cache, the committed records, other devices' records, left to search), and the device
    whose records serve it."""
    from planctl.apply.paths import checked_model
    from planctl.verify.strategies import production_shape_envs

    spec = plan_loaded.model.spec
    model = checked_model(root, plan_loaded)
    committed = records_path(plan_loaded.model, root, str(plan_loaded.path))
    with _cache(cache_dir, target_loaded, target_name, root) as cache:
        return [_shape_census(cache, model, spec, shape_env, tvm_target, chosen, committed)
                for shape_env in production_shape_envs(spec)]


def _shape_census(cache, model, spec, shape_env: dict, tvm_target, chosen, committed) -> dict:
    from tvm.s_tir import meta_schedule as ms

    from planctl.lowering.build import lower_candidate
    from planctl.lowering.importer import import_onnx

    mod = lower_candidate(import_onnx(model, spec.workload.inputs, shape_env).mod, tvm_target, chosen).mod
    if cache is None:
        rows = [{"task": t.task_name, "source": "unknown", "measured_on": None}
                for t in ms.relax_integration.extract_tasks(mod, tvm_target)]
    else:
        rows = [{"task": s.task, "source": s.source, "measured_on": s.measured_on}
                for s in cache.sources(mod, tvm_target, committed)]
    return {"shape_env": shape_env, "tasks": rows, "cache_known": cache is not None,
            "policy": cache.policy if cache is not None else None}


@contextlib.contextmanager
def _cache(cache_dir, target_loaded, target_name, root):
    """The governed cache for this target (a temporary empty one when none exists yet, so the
    committed records are still counted: planctl plan creates nothing); None when it cannot be read."""
    import tempfile

    from planctl.documents.load import compatible_targets
    from planctl.tuning.governed import open_cache
    from planctl.tuning.store import resolve_cache_dir

    spec = target_loaded.model.spec
    where = resolve_cache_dir(cache_dir)
    with tempfile.TemporaryDirectory(prefix="planctl-plan-") as empty:
        try:
            cache = open_cache(where if where.exists() else Path(empty), spec, target_name,
                               compatible_targets(spec, root))
        except Exception:  # noqa: BLE001 - an unreadable cache is reported as unknown, not fatal
            cache = None
        try:
            yield cache
        finally:
            if cache is not None:
                cache.store.close()


def render_description(info: dict, lock_path: Path | None = None, lock: dict | None = None) -> str:
    """The dry run as the few lines ``planctl plan`` prints."""
    lines = [f"planctl plan: {info['plan']} on {info['target']} (nothing is compiled)"]
    if lock is not None:
        d = lock["spec"]["digests"]
        lines.append(f"  saved plan: {lock_path}  (TVM {lock['spec']['tvm_version']}; "
                     + ", ".join(f"{k} {v[:12]}" for k, v in d.items()) + ")")
    if info.get("runs_here"):
        lines.append(f"  this host runs {info['target']}: {info['runs_here']}")
    shapes = ", ".join(", ".join(f"{k}={v}" for k, v in s.items()) or "static" for s in info["shapes"])
    lines.append(f"  production shapes: {shapes} (one baseline and one candidate build each)")
    lines.append("  techniques -> passes:")
    for t in info["techniques"]:
        if not t["enabled"]:
            lines.append(f"    - {t['technique']}: disabled")
            continue
        passes = ", ".join(t.get("passes") or []) or t.get("passes_error") or t["doc"].split(":")[0] or "-"
        lines.append(f"    + {t['technique']} ({t['stage']}): {passes}")
    lines.append("    then LegalizeOps, AnnotateTIROpPattern, FoldConstant; build with TVM's dataflow-lowering "
                 "and finalize passes (StaticPlanBlockMemory, ...)")
    budget = info.get("budget")
    if budget:
        per = f", {budget['trials_per_task']} per task" if budget.get("trials_per_task") else ""
        lines.append(f"  tuning budget: {budget['trials']} trials, {budget['wall_clock_s']:g} s wall clock{per}"
                     + (f"; committed records {budget['records']}" if budget.get("records") else ""))
        if budget.get("effective"):
            lines.append(f"    effective (repository ceiling applied): {budget['effective']}")
    if info.get("tasks") is not None:
        from planctl.tuning.census import TaskSource, render, shape_text

        for shape in info["tasks"]:
            where = shape_text(shape["shape_env"])
            if not shape["cache_known"]:
                lines.append(f"  tasks at {where}: {len(shape['tasks'])} (the cache could not be read)")
                continue
            sources = [TaskSource(r["task"], "", r["source"], measured_on=r.get("measured_on"))
                       for r in shape["tasks"]]
            lines += [f"  {line}" for line in render(where, sources, None, lead="tasks at")]
            policy = shape.get("policy")
            if policy and policy != "serve":
                lines.append(f"    other devices' records: {policy} (the target's other_device_records)")
            todo = [r["task"] for r in shape["tasks"] if r["source"] in ("search", "re-measure", "drift")]
            if todo:
                lines.append(f"    to search: {', '.join(todo[:8])}{' ...' if len(todo) > 8 else ''}")
    elif budget and info.get("tasks_unavailable"):
        lines.append(f"  tasks: unknown: {info['tasks_unavailable']}")
    lines.append("  envelope: " + "; ".join(f"{k} {v}" for k, v in info["envelope"].items()))
    return "\n".join(lines)
