"""Rule tests as data: every ``tests/rules/PLN###.yaml`` holds passing and failing patches over
the base plan with the findings expected; one parametrized test runs them all."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from check_harness import MODEL_BYTES, TODAY, add_files, load_yaml, make_repo, run_check  # noqa: E402

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("PLN*.yaml"))


def cases():
    for path in FILES:
        spec = load_yaml(path)
        for case in spec["cases"]:
            yield pytest.param(spec["rule"], case, id=f"{path.stem}-{case['name']}")


def _model(case):
    if "model" not in case:
        return MODEL_BYTES
    return None if case["model"] is None else case["model"].encode()


@pytest.mark.parametrize(("rule", "case"), list(cases()))
def test_rule_case(tmp_path, rule, case):
    plan = make_repo(tmp_path, case.get("patch"), plans=case.get("plans"),
                     targets=case.get("targets"), config=case.get("config"), model=_model(case))
    add_files(tmp_path, case.get("files"), case.get("links"))
    report = run_check(tmp_path, [plan], select=case.get("select", [rule]),
                       today=case.get("today", TODAY), waivers=case.get("waivers", True))
    got = [f for f in report.findings if not f.waived]
    want = case.get("expect", [])
    assert sorted((f.rule, f.pointer, f.severity.value) for f in got) == sorted(
        (w["rule"], w["pointer"], w.get("severity", "error")) for w in want), \
        "\n".join(f"{f.rule} {f.pointer} {f.message}" for f in got)
    for w in want:
        if "message" in w:
            assert any(w["message"] in f.message for f in got if f.rule == w["rule"]
                       and f.pointer == w["pointer"]), w["message"]
        if "help" in w:
            assert any(w["help"] in (f.help or "") for f in got if f.rule == w["rule"]
                       and f.pointer == w["pointer"]), w["help"]
    assert report.exit_code() == (1 if any(f.severity.value == "error" for f in got) else 0)


def test_every_rule_has_cases():
    from planctl.rules.registry import load_rules

    have = {p.stem for p in FILES}
    missing = sorted(set(load_rules()) - have)
    assert not missing, f"rules without tests/rules/<id>.yaml: {missing}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_file_passes_and_fails(path):
    spec = load_yaml(path)
    assert spec["rule"] == path.stem
    assert any(not c.get("expect") for c in spec["cases"]), "needs a passing case"
    assert any(c.get("expect") for c in spec["cases"]), "needs a failing case"
