"""``planctl rule`` and the registry: stable ids, kebab-case names, documented rules, the
capability table in step with the plan schema, and no heavy imports in check."""
from __future__ import annotations

import json
import subprocess
import sys
import typing

import pytest

from planctl.cli.main import main
from planctl.documents.models import plan as plan_models
from planctl.rules.capabilities import LAYERS, load_table
from planctl.rules.registry import DOC_SECTIONS, ID_PATTERN, NAME_PATTERN, load_rules

RULES = load_rules()


@pytest.mark.parametrize("rule", RULES.values(), ids=lambda r: r.id)
def test_rule_is_documented(rule):
    assert ID_PATTERN.match(rule.id) and NAME_PATTERN.match(rule.name)
    assert rule.id.startswith("PLN2")
    for section in DOC_SECTIONS:
        assert f"\n{section}\n" in rule.doc, f"{rule.id} lacks a '{section}' section"


def test_names_and_aliases_are_unique():
    names = [n for r in RULES.values() for n in (r.name, *r.aliases)]
    assert len(names) == len(set(names))


def test_rule_prints_one_page(capsys):
    assert main(["rule", "PLN201"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PLN201 technique-bottleneck [error]")
    assert "What it checks" in out and "Fix" in out
    assert main(["rule", "model-digest"]) == 0
    assert capsys.readouterr().out.startswith("PLN216 model-digest")


def test_rule_prints_document_codes(capsys):
    assert main(["rule", "PLN101"]) == 0
    assert capsys.readouterr().out.startswith("PLN101 unknown-key")


def test_rule_all_json_dumps_the_registry(capsys):
    assert main(["rule", "--all", "--output", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    ids = [e["id"] for e in entries]
    assert set(RULES) <= set(ids) and ids == sorted(ids)
    assert {"id", "name", "severity", "summary", "doc", "aliases"} <= set(entries[0])


@pytest.mark.parametrize("argv", [["rule"], ["rule", "PLN999"], ["rule", "PLN201", "--all"]])
def test_rule_usage_errors(capsys, argv):
    assert main(argv) == 2


def test_capability_table_covers_every_technique_of_the_schema():
    techniques = {typing.get_args(m.model_fields["technique"].annotation)[0]
                  for m in typing.get_args(typing.get_args(plan_models.Technique)[0])}
    table = load_table()
    assert techniques == set(table.techniques)
    kinds = set(typing.get_args(plan_models.BottleneckKind))
    for info in table.techniques.values():
        assert info.layer in LAYERS
        assert info.addresses == "any" or set(info.addresses) <= kinds
        assert set(info.enables) <= set(table.techniques)


def test_check_never_imports_tvm_numpy_or_hypothesis():
    code = ("import sys; from planctl.cli.main import main; main(['check', '--root', '.']); "
            "main(['rule', '--all']); "
            "print(sorted(m for m in ('tvm', 'numpy', 'hypothesis') if m in sys.modules))")
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=repo)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_docs_rules_md_is_generated_from_the_registry():
    from pathlib import Path

    from planctl.rules.catalog import markdown

    path = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    assert path.read_text() == markdown(), \
        "docs/rules.md is stale: planctl rule --all --output markdown > docs/rules.md"


ERROR_CODES = ["PLN000", "PLN010", "PLN100", "PLN300", "PLN500", "PLN600", "PLN700", "PLN800",
               "PLN900"]


@pytest.mark.parametrize("code", ERROR_CODES)
def test_every_error_code_is_explained(capsys, code):
    """The codes of planctl.errors (what apply and the other commands stop with) have a page."""
    from planctl import errors

    assert code in {c.code for c in vars(errors).values()
                    if isinstance(c, type) and issubclass(c, errors.PlanctlError)}
    assert main(["rule", code]) == 0
    assert capsys.readouterr().out.startswith(f"{code} ")
    assert main(["rule", "--all"]) == 0
    assert f"\n{code}  " in "\n" + capsys.readouterr().out


def test_rule_pln300_shows_the_class_docstring(capsys):
    from planctl.errors import MissingReferenceError

    assert main(["rule", "PLN300"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PLN300 missing-reference-error [error]")
    assert MissingReferenceError.__doc__.strip() in out and "exit code 2" in out
