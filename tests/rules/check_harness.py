"""Temporary repositories for check tests: the base plan and targets of ``tests/rules/base``,
patched per case, with a tiny real ONNX model (``base/tiny.onnx``: the base plan's one input,
made by tests/onnx_stub.py; rule PLN224 reads its graph inputs, the others only hash it)."""
from __future__ import annotations

import copy
import datetime as dt
import io
from pathlib import Path

from ruamel.yaml import YAML

BASE = Path(__file__).parent / "base"
MODEL_BYTES = (BASE / "tiny.onnx").read_bytes()
TODAY = dt.date(2026, 12, 1)
DELETE = "<delete>"


def load_yaml(path: Path):
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def dump_yaml(data, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.dump(data, buf)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def merge(base, patch):
    """Deep merge: mappings merge, anything else (lists too) replaces; ``<delete>`` removes."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value == DELETE:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def base_plan(patch: dict | None = None) -> dict:
    return merge(load_yaml(BASE / "plan.yaml"), patch or {})


def make_repo(root: Path, patch: dict | None = None, *, plans: dict | None = None,
              targets: dict | None = None, config: str | None = None,
              model: bytes | None = MODEL_BYTES) -> Path:
    """Write a repository under ``root`` and return the path of ``plans/base.yaml``.
    ``plans``: other plan name -> patch over the base plan; ``targets``: target name -> patch
    over the base target of that name (or over x86-64-avx2 for a new name)."""
    for path in sorted((BASE / "targets").glob("*.yaml")):
        dump_yaml(load_yaml(path), root / "targets" / path.name)
    for name, target_patch in (targets or {}).items():
        base = BASE / "targets" / f"{name}.yaml"
        data = load_yaml(base if base.exists() else BASE / "targets" / "x86-64-avx2.yaml")
        data["metadata"]["name"] = name  # a target's name is its file's stem (PLN120)
        dump_yaml(merge(data, target_patch), root / "targets" / f"{name}.yaml")
    for name, other in (plans or {}).items():
        dump_yaml(base_plan(other), root / "plans" / f"{name}.yaml")
    if model is not None:
        (root / "models").mkdir(parents=True, exist_ok=True)
        (root / "models" / "tiny.onnx").write_bytes(model)
    if config is not None:
        (root / "planctl.toml").write_text(config, encoding="utf-8")
    return dump_yaml(base_plan(patch), root / "plans" / "base.yaml")


def add_files(root: Path, files: dict | None = None, links: dict | None = None) -> None:
    """``files``: repository path -> text (``null``: an empty directory); ``links``: path ->
    symlink target, where ``{outside}`` is a folder beside (not inside) the repository that
    holds ``secret.onnx``, ``secret.jsonl`` and a ``targets/`` copy of x86-64-avx2."""
    outside = root.parent / f"{root.name}-outside"
    (outside / "targets").mkdir(parents=True, exist_ok=True)
    (outside / "secret.onnx").write_bytes(MODEL_BYTES)
    (outside / "secret.jsonl").write_text("top secret line\n", encoding="utf-8")
    dump_yaml(load_yaml(BASE / "targets" / "x86-64-avx2.yaml"), outside / "targets" / "evil.yaml")
    for rel, text in (files or {}).items():
        path = root / rel
        if text is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for rel, target in (links or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target.replace("{outside}", str(outside)))


def run_check(root: Path, paths=None, *, select=(), ignore=(), today=TODAY, waivers=True):
    from planctl.rules.engine import Options, check
    from planctl.rules.selection import Selection

    options = Options(root=root, selection=Selection(tuple(select), tuple(ignore)),
                      use_waivers=waivers, today=today)
    return check(list(paths or []), options)
