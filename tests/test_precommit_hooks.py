"""The `.pre-commit-hooks.yaml` manifest is valid, and its planctl-validate hook, installed with the
real `pre-commit` into a scratch repository, blocks a bad plan and lets a good one through.

No network: the hook is copied into a `repo: local` config with `language: system` (the venv's
`planctl` on PATH) instead of letting pre-commit pip-install this repository.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from planctl.documents import layout

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "tests" / "documents"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (BIN / "pre-commit").exists(),
                                reason="needs git and pre-commit")


def _hooks() -> dict:
    return {h["id"]: h for h in YAML(typ="safe").load(REPO / ".pre-commit-hooks.yaml")}


def test_manifest_is_valid():
    subprocess.run([str(BIN / "pre-commit"), "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
                   check=True, capture_output=True)
    hooks = _hooks()
    assert hooks["planctl-validate"]["entry"] == "planctl validate"
    assert hooks["planctl-validate"]["files"] == layout.HOOK_FILES
    check = hooks["planctl-check"]
    assert (check["entry"], check["pass_filenames"], check["always_run"]) == ("planctl check", False, True)


def _run(args, cwd, env):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


def test_hook_blocks_bad_plan_and_passes_good_one(tmp_path):
    repo = tmp_path / "repo"
    (repo / "plans").mkdir(parents=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}
    hook = {k: v for k, v in _hooks()["planctl-validate"].items() if k != "description"}
    hook["language"] = "system"
    YAML().dump({"repos": [{"repo": "local", "hooks": [hook]}]}, repo / ".pre-commit-config.yaml")
    assert _run(["git", "init", "-q"], repo, env).returncode == 0
    assert _run([str(BIN / "pre-commit"), "install"], repo, env).returncode == 0

    shutil.copy(DOCS / "invalid" / "negative-rtol.yaml", repo / "plans" / "embed.yaml")
    _run(["git", "add", "-A"], repo, env)
    blocked = _run(["git", "commit", "-qm", "bad plan"], repo, env)
    assert blocked.returncode != 0
    assert "error[PLN104]" in blocked.stdout + blocked.stderr

    shutil.copy(DOCS / "valid" / "minilm-embed.yaml", repo / "plans" / "embed.yaml")
    _run(["git", "add", "-A"], repo, env)
    passed = _run(["git", "commit", "-qm", "good plan"], repo, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_hook_files_are_exactly_the_layouts_plans_and_targets(tmp_path):
    """The hook's `files` pattern selects the files validate, check and apply call plans and
    targets, and nothing else (issue 13: one definition, used everywhere)."""
    import re

    names = ["plans/a.yaml", "plans/b.yml", "plans/sub/c.yaml", "plans/d.json", "plans/e.YAML",
             "targets/t.yaml", "targets/u.yml", "docs/plans/f.yaml", "x/targets/g.yaml", "h.yaml"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x: 1\n")
    listed = {p.relative_to(tmp_path).as_posix()
              for p in layout.plan_files(tmp_path) + layout.target_files(tmp_path)}
    assert listed == {n for n in names if re.search(_hooks()["planctl-validate"]["files"], n)}
    assert listed == {"plans/a.yaml", "plans/b.yml", "targets/t.yaml", "targets/u.yml"}
