"""`planctl validate`: exit codes, text and JSON output, and what it must not import."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from planctl.cli.main import main

REPO = Path(__file__).resolve().parents[1]
VALID = REPO / "tests" / "documents" / "valid"
INVALID = REPO / "tests" / "documents" / "invalid"


@pytest.mark.parametrize("output", ["text", "json", "sarif", "github"])
@pytest.mark.parametrize("files, code", [
    ([VALID / "minilm-embed.yaml", VALID / "x86-64-avx2.yaml"], 0),
    ([VALID / "minilm-embed.yaml", INVALID / "negative-rtol.yaml"], 1),
    ([INVALID / "negative-rtol.yaml", INVALID / "empty.yaml"], 2),
])
def test_exit_code_does_not_depend_on_output(files, code, output, capsys):
    assert main(["validate", "--output", output, *map(str, files)]) == code
    out = capsys.readouterr().out
    if output == "json":
        assert json.loads(out)["summary"]["exit_code"] == code


def test_text_output_has_location_source_caret_and_help(capsys):
    path = INVALID / "unknown-key-nested.yaml"
    assert main(["validate", str(path)]) == 1
    first = capsys.readouterr().out.split("\n\n")[0].splitlines()
    assert first[0].startswith(f"{path}:") and "error[PLN101]" in first[0]
    assert first[1].endswith("min_speedpu: 1.5")
    assert first[2].strip().startswith("^")
    assert first[3] == "  help: did you mean `min_speedup`? (valid keys here: statistic, min_speedup, versus_onnxruntime)"


def test_json_output_shape(capsys):
    path = INVALID / "bad-technique.yaml"
    assert main(["validate", "-o", "json", str(path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["version"] == 1
    [finding] = doc["findings"]
    # the documented keys; version 1 may add more (check's reporter adds waived and fingerprint)
    assert {"rule", "severity", "message", "file", "pointer", "start", "end", "help"} <= set(finding)
    assert finding["rule"] == "PLN104" and finding["pointer"] == "/spec/optimizations/0/technique"
    assert finding["start"]["line"] == finding["end"]["line"]
    assert doc["summary"] == {"files": 1, "findings": 1, "errors": 1, "warnings": 0, "notes": 0,
                              "exit_code": 1}


def test_defaults_to_plans_and_targets_of_cwd(tmp_path, monkeypatch, capsys):
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "a.yaml").write_text((INVALID / "negative-rtol.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    (tmp_path / "plans" / "a.yaml").unlink()
    assert main(["validate"]) == 2  # nothing to validate is a usage error


def test_validate_imports_no_tvm_numpy_or_hypothesis():
    code = ("import sys; from planctl.cli.main import main\n"
            f"rc = main(['validate', {str(INVALID / 'negative-rtol.yaml')!r}, "
            f"{str(VALID / 'plan-full.yaml')!r}, {str(INVALID / 'unknown-key-top.yaml')!r}])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tvm', 'numpy', 'hypothesis'))\n"
            "print(rc, heavy)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=REPO, check=True)
    assert result.stdout.strip().splitlines()[-1] == "1 []"


def test_a_found_symlink_out_of_the_repo_is_not_read(tmp_path, monkeypatch, capsys):
    secret = tmp_path / "outside" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:top secret\n")
    repo = tmp_path / "repo"
    (repo / "targets").mkdir(parents=True)
    (repo / "targets" / "evil.yaml").symlink_to(secret)
    monkeypatch.chdir(repo)
    assert main(["validate"]) == 1
    out, err = capsys.readouterr()
    assert "top secret" not in out + err and "symlink out of the repository" in err


def test_sarif_output_validates_and_names_document_rules(tmp_path, monkeypatch, capsys):
    """issue 13: validate reports through check's reporters, so document errors reach code
    scanning as SARIF results, like rule findings do."""
    import jsonschema

    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "a.yml").write_text((INVALID / "atol-inf.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "-o", "sarif"]) == 1
    doc = json.loads(capsys.readouterr().out)
    schema = json.loads((REPO / "tests" / "rules" / "sarif" / "sarif-2.1.0-rtm.5.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    [result] = run["results"]
    assert result["ruleId"] == "PLN121"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "PLN121"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "plans/a.yml"
    assert (location["region"]["startLine"], location["region"]["startColumn"]) == (54, 37)


def test_github_output_is_one_annotation_per_finding(capsys):
    path = INVALID / "string-trials.yaml"
    assert main(["validate", "-o", "github", str(path)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("::error file=") and ",line=46,col=17," in line
    assert "title=PLN103::" in line and "help: a quoted value is a string" in line.replace("%0A", "\n")


def test_clean_run_says_how_many_files_are_valid_in_one_line(capsys):
    assert main(["validate", str(VALID / "minilm-embed.yaml")]) == 0
    assert capsys.readouterr().out == "1 file valid\n"


def test_a_directory_stands_for_its_documents(tmp_path, capsys):
    """`planctl validate plans/` (fresh-eyes report: "File 'plans/' is a directory", exit 2)."""
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "ok.yaml").write_text((Path(__file__).parent / "documents" / "valid" / "minilm-embed.yaml").read_text())
    (plans / "bad.yml").write_text("apiVersion: planctl.dev/v1alpha1\nkind: OptimizationPlan\n")
    (plans / "notes.txt").write_text("not a document")
    assert main(["validate", str(plans)]) == 1
    out = capsys.readouterr().out
    assert "bad.yml" in out and "ok.yaml" not in out and "notes.txt" not in out


def test_running_out_of_memory_names_the_likely_cause_not_a_crash(tmp_path, monkeypatch, capsys):
    """helper-40: `seq: {max: 100000000}` passed check; apply then died with "internal error:
    MemoryError" and a crash log for a bug report. It is the host's limit, not a bug."""
    from planctl.cli import main as cli_main

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.98 GiB for an array")

    monkeypatch.setattr(cli_main.cli, "main", exhausted)
    assert cli_main.main(["validate", str(tmp_path / "p.yaml")]) == 2
    err = capsys.readouterr().err
    assert "error: out of memory (Unable to allocate 2.98 GiB" in err and "internal error" not in err
    assert "`planctl plan PLAN --target T` lists the shape buckets" in err
