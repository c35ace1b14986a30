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

    from planctl.cli.rule import catalogue, markdown

    path = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    assert path.read_text() == markdown(catalogue()), \
        "docs/rules.md is stale: planctl rule --all --output markdown > docs/rules.md"


ERROR_CODES = ["PLN000", "PLN001", "PLN002", "PLN010", "PLN100", "PLN300", "PLN500", "PLN600",
               "PLN700", "PLN800", "PLN900"]


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


@pytest.mark.parametrize("dtype", typing.get_args(plan_models.DType))
def test_every_dtype_has_a_bit_width(dtype):
    """PLN204 compares widths: a dtype added to the schema without one would escape the rule."""
    from planctl.rules.capabilities import dtype_bits

    bits = dtype_bits(dtype)
    assert bits in (1, 4, 8, 16, 32, 64)
    assert (bits < 16) == (dtype in ("float8_e4m3fn", "float8_e5m2", "int8", "uint8", "int4",
                                      "uint4", "bool"))


def _ids_in_source() -> set[str]:
    """Every `PLN###` written in the engine's source (rule ids, error codes, messages, docs)."""
    import re
    from pathlib import Path

    engine = Path(__file__).resolve().parents[1] / "engine" / "planctl"
    return {m for path in engine.rglob("*.py") for m in re.findall(r"PLN[0-9]{3}", path.read_text())}


def test_one_catalogue_has_every_id_the_engine_uses(capsys):
    """issue 14: one code catalogue (planctl.codes) for document findings, rules and errors, and
    `planctl rule` explains every id planctl can print."""
    from planctl import codes

    load_rules()
    known = {c.id for c in codes.entries()}
    assert _ids_in_source() <= known, sorted(_ids_in_source() - known)
    for code in sorted(known):
        assert main(["rule", code]) == 0, code
        assert capsys.readouterr().out.startswith(f"{code} ")


def test_catalogue_refuses_a_second_id_or_name():
    from planctl import codes

    with pytest.raises(ValueError, match="already registered"):
        codes.register(codes.Code("PLN201", "something-else", "s", "d"))
    with pytest.raises(ValueError, match="already taken"):
        codes.register(codes.Code("PLN999", "technique-bottleneck", "s", "d"))
    assert codes.get("PLN999") is None


def test_documents_never_import_later_stages():
    """The documents stage imports nothing from rules, apply or the stages after it (issue 14)."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "engine" / "planctl" / "documents"
    later = ("planctl.rules", "planctl.apply", "planctl.lowering", "planctl.tuning",
             "planctl.verify", "planctl.measure", "planctl.report", "planctl.cli")
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.startswith(later)], (path.name, names)
