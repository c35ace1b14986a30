"""load_plan / load_target / load_document / find_target: the API apply and check use."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from planctl.documents.load import (Loaded, find_target, load_document, load_plan, load_target,
                                    validate_file)
from planctl.documents.models import OptimizationPlan, Target
from planctl.errors import DocumentError, MissingReferenceError

HERE = Path(__file__).parent
VALID, INVALID = HERE / "valid", HERE / "invalid"


def test_load_plan_returns_model_data_index_and_digest():
    path = VALID / "minilm-embed.yaml"
    loaded = load_plan(path)
    assert isinstance(loaded, Loaded) and isinstance(loaded.model, OptimizationPlan)
    assert loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.data["spec"]["targets"] == ["x86-64-avx2"]
    assert loaded.index.locate("/spec/targets/0")[0] == len(path.read_text().splitlines())


def test_load_document_dispatches_on_kind():
    assert isinstance(load_document(VALID / "x86-64-avx2.yaml").model, Target)
    assert load_document(VALID / "lock.yaml").model.kind == "Lock"


def test_load_target_rejects_a_plan_with_position():
    with pytest.raises(DocumentError) as info:
        load_target(VALID / "minilm-embed.yaml")
    err = info.value
    assert (err.code, err.line, err.exit_code) == ("PLN104", 3, 1)
    assert err.file == str(VALID / "minilm-embed.yaml") and err.pointer == "/kind"


def test_first_error_carries_file_line_col_and_hint():
    with pytest.raises(DocumentError) as info:
        load_plan(INVALID / "bad-technique.yaml")
    err = info.value
    assert err.code == "PLN104" and err.col == 18
    assert "constant-folding" in err.hint
    assert err.location().startswith(str(INVALID / "bad-technique.yaml") + f":{err.line}:")


def test_unparsable_input_raises_with_exit_2():
    with pytest.raises(DocumentError) as info:
        load_plan(INVALID / "tab-indented.yaml")
    assert (info.value.code, info.value.exit_code) == ("PLN100", 2)


@pytest.mark.parametrize(("line", "hint"), [
    ("\tname: x", "YAML forbids tabs for indentation"),
    ("  name:\tx", "YAML allows only spaces after a key's `:` or a value"),
    ("  name: x \t", "YAML allows only spaces after a key's `:` or a value"),
])
def test_a_tab_gets_the_fix_for_where_it_is(tmp_path, line, hint):
    plan = tmp_path / "p.yaml"
    plan.write_text(f"apiVersion: planctl.dev/v1alpha1\nkind: OptimizationPlan\nmetadata:\n{line}\nspec: {{}}\n")
    with pytest.raises(DocumentError) as info:
        load_plan(plan)
    assert info.value.code == "PLN100" and info.value.hint.startswith(hint) and info.value.line == 4


def test_duplicate_key_is_an_error_even_when_both_values_are_valid():
    assert [f.rule for f in validate_file(INVALID / "duplicate-key.yaml")] == ["PLN105"]
    with pytest.raises(DocumentError):
        load_plan(INVALID / "duplicate-key.yaml")


def test_validate_file_reports_every_finding_in_file_order():
    findings = validate_file(INVALID / "shape-value-outside.yaml") + validate_file(
        INVALID / "undeclared-dim.yaml")
    assert [f.rule for f in findings] == ["PLN113", "PLN112"]
    assert all(f.severity.value == "error" and f.file for f in findings)


def test_find_target(tmp_path):
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "cpu.yaml").write_text("x: 1\n")
    assert find_target("cpu", tmp_path) == tmp_path / "targets" / "cpu.yaml"
    with pytest.raises(MissingReferenceError):
        find_target("gpu", tmp_path)


def test_check_file_gives_findings_or_the_document():
    from planctl.documents.load import check_file

    findings, loaded = check_file(VALID / "plan-full.yaml", "OptimizationPlan")
    assert findings == [] and loaded.model.metadata.name == "bert-int8"
    findings, loaded = check_file(INVALID / "negative-rtol.yaml")
    assert [f.rule for f in findings] == ["PLN104"] and loaded is None


def test_a_yaml_1_1_directive_is_a_finding_and_changes_nothing(tmp_path):
    """issue 13: under `%YAML 1.1`, `on` would be a boolean; planctl reads YAML 1.2 and says so."""
    text = (VALID / "minilm-embed.yaml").read_text().replace(
        "    - technique: constant-folding\n", "    - technique: constant-folding\n      enabled: on\n")
    path = tmp_path / "plan.yaml"
    path.write_text("%YAML 1.1\n---\n" + text)
    findings = validate_file(path)
    assert [(f.rule, f.line, f.col, f.end_col) for f in findings][0] == ("PLN109", 1, 1, 10)
    [enabled] = [f for f in findings if f.rule == "PLN103"]
    assert enabled.pointer == "/spec/optimizations/0/enabled" and "string 'on'" in enabled.message
    assert "YAML 1.2" in enabled.help
    path.write_text("%YAML 1.2\n---\n" + text.replace("enabled: on", "enabled: true"))
    assert validate_file(path) == []


def test_whole_numbers_are_integers_as_in_json_schema(tmp_path):
    """`trials: 1500.0` is the integer 1500 (JSON Schema's `integer` accepts it too)."""
    path = tmp_path / "plan.yaml"
    path.write_text((VALID / "minilm-embed.yaml").read_text().replace("trials: 1500", "trials: 1500.0"))
    trials = load_plan(path).model.spec.optimizations[3].budget.trials
    assert trials == 1500 and type(trials) is int


@pytest.mark.parametrize(("created", "ok"), [
    ("2026-11-20T10:00:00Z", True), ("2026-11-20t10:00:00.123456789+05:30", True),
    ("2026-11-20T10:00:00", False),        # RFC 3339 needs the offset
    ("2026-11-20 10:00:00Z", False), ("2026-02-30T10:00:00Z", False), ("2026-11-20", False),
])
def test_lock_timestamps_are_rfc_3339(tmp_path, created, ok):
    path = tmp_path / "lock.yaml"
    path.write_text((VALID / "lock.yaml").read_text().replace("2026-11-20T10:00:00Z", f'"{created}"'))
    findings = validate_file(path)
    assert (findings == []) == ok, findings
    assert ok or [f.pointer for f in findings] == ["/spec/created"]


def test_a_file_in_plans_or_targets_must_be_of_that_kind(tmp_path):
    """One definition of which files are plans and which are targets (documents.layout)."""
    for folder, other in (("plans", "x86-64-avx2.yaml"), ("targets", "minilm-embed.yaml")):
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "x86-64-avx2.yml"
        path.write_text((VALID / other).read_text())
        [finding] = validate_file(path)
        assert (finding.rule, finding.pointer) == ("PLN104", "/kind")
        assert "plans/ holds OptimizationPlans" in finding.help
    (tmp_path / "targets" / "x86-64-avx2.yml").write_text((VALID / "x86-64-avx2.yaml").read_text())
    assert validate_file(tmp_path / "targets" / "x86-64-avx2.yml") == []
    assert find_target("x86-64-avx2", tmp_path) == tmp_path / "targets" / "x86-64-avx2.yml"


def test_layout_lists_yaml_and_yml_documents_only(tmp_path):
    from planctl.documents import layout

    (tmp_path / "plans" / "sub").mkdir(parents=True)
    for name in ("a.yaml", "b.yml", "c.json", "d.YAML", "sub/e.yaml"):
        (tmp_path / "plans" / name).write_text("x: 1\n")
    assert [p.name for p in layout.plan_files(tmp_path)] == ["a.yaml", "b.yml"]
    assert layout.target_files(tmp_path) == []
    assert [layout.expected_kind(tmp_path / "plans" / n) for n in ("a.yaml", "c.json")] == \
        ["OptimizationPlan", None]


def test_plain_scalars_read_as_yaml_1_2_core(tmp_path):
    """`=`, `yes` and `010` are a string, a string and ten; `!!bool yes` is no boolean at all."""
    from planctl.documents.source import Unparsable, read_source

    path = tmp_path / "x.yaml"
    path.write_text("a: =\nb: yes\nc: 010\nd: 0o10\ne: .inf\n")
    data = read_source(path).data
    assert data["a"] == "=" and data["b"] == "yes" and (data["c"], data["d"]) == (10, 8)
    assert data["e"] == float("inf")
    path.write_text("a: !!bool yes\n")
    with pytest.raises(Unparsable):
        read_source(path)


def test_a_share_entry_with_a_bad_value_names_the_value_not_the_entry_type(tmp_path):
    """``{value: 0, share: ...}`` for ``int | {value, share}``: the mapping branch matched and failed
    inside it ("value must be greater than 0"); "must be an integer, found a mapping" would mislead."""
    text = (VALID / "minilm-embed.yaml").read_text().replace(
        "batch: {min: 2, opt: 2, max: 2, values: [2]}", "batch: {min: 1, opt: 2, max: 2, values: [{value: 0, share: 1.0}]}")
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    findings = validate_file(path)
    at_entry = [f for f in findings if f.pointer.endswith("/batch/values/0")]
    at_value = [f for f in findings if f.pointer.endswith("/batch/values/0/value") and f.rule == "PLN104"]
    assert not at_entry and len(at_value) == 1 and "greater than 0" in at_value[0].message


def test_a_number_out_of_bounds_gets_a_help_line_with_the_bound_and_the_field(tmp_path):
    """``buckets: {max: 0}``: the help line says which values are allowed and, from the schema,
    what the field is."""
    text = (VALID / "minilm-embed.yaml").read_text()
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("  workload:\n", "  workload:\n    buckets: {max: 0}\n", 1))
    [found] = [f for f in validate_file(path) if f.pointer.endswith("/buckets/max")]
    assert found.rule == "PLN104" and found.help.startswith("use a value above 0 (")


@pytest.mark.parametrize("old, new, pointer, hint", [
    ("trials: 1500\n", "trials: 1500.5\n", "/budget/trials", "write a whole number, e.g. 1500 (the candidates"),
    ("batch: {min: 2, opt: 2, max: 2,", "batch: {min: 2, opt: 2, max: six,", "/batch/max",
     "write an integer (the largest size production sends)"),
    ("targets: [x86-64-avx2]", "targets: []", "/spec/targets", "list at least 1 (the target documents"),
])
def test_a_value_of_the_wrong_type_or_an_empty_list_gets_a_help_line(tmp_path, old, new, pointer, hint):
    """The new user's ``max: six``, ``trials: 600.5`` and ``targets: []`` said what was wrong and
    nothing of what to write."""
    text = (VALID / "minilm-embed.yaml").read_text()
    assert old in text
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(old, new, 1))
    [found] = [f for f in validate_file(path) if f.pointer.endswith(pointer)]
    assert found.help.startswith(hint)


@pytest.mark.parametrize("text, line, col, opened", [
    ("apiVersion: planctl/v1\nkind: OptimizationPlan\nmetadata:\n  name: x\n  labels: [a, b\nspec:\n  a: 1\n",
     5, 11, "`[` is never closed"),
    ("apiVersion: planctl/v1\nkind: OptimizationPlan\nmetadata:\n  labels: {a: b\nspec:\n  a: 1\n",
     4, 11, "`{` is never closed"),
    ("apiVersion: planctl/v1\nkind: OptimizationPlan\nmetadata:\n  name: \"x\nspec:\n  a: 1\n",
     4, 9, "quote is never closed"),
])
def test_an_unclosed_bracket_or_quote_is_reported_where_it_opens(tmp_path, text, line, col, opened):
    """The parser notices an unclosed `[`, `{` or quote lines later (the next key, the end of the
    file); the finding points at the opening, with a help that says where it was noticed."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    [finding] = validate_file(plan)
    assert (finding.rule, finding.line, finding.col) == ("PLN100", line, col)
    assert opened in finding.help and "the parser noticed at" in finding.help
    assert "'?'" not in finding.message and "<stream end>" not in finding.message   # the parser's token names


@pytest.mark.parametrize("opening, line, col", [('"x', 4, 9), ("'x", 4, 9)])
def test_a_quote_left_open_mid_file_is_reported_where_it_opens(tmp_path, opening, line, col):
    """Fresh-eyes report: a quote left open in the middle of a plan runs on to the next line's
    quote, and the parser fails there, a line later, without a hint; the finding points at the
    quote that opened, and says where the parser noticed."""
    plan = tmp_path / "plan.yaml"
    q = opening[0]
    plan.write_text(f"apiVersion: planctl/v1\nkind: OptimizationPlan\nmetadata:\n  name: {opening}\n"
                    f"  description: {q}something{q}\nspec:\n  a: 1\n")
    [finding] = validate_file(plan)
    assert (finding.rule, finding.line, finding.col) == ("PLN100", line, col), finding
    assert f"this `{q}` may never be closed" in finding.help and "the parser noticed at 5:" in finding.help


def test_an_apostrophe_in_a_plain_value_is_not_taken_for_an_open_quote(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("apiVersion: planctl/v1\nkind: OptimizationPlan\nmetadata:\n  name: the model's\n"
                    "  labels: {a: b\nspec:\n  a: 1\n")
    [finding] = validate_file(plan)
    assert finding.line == 5 and "`{` is never closed" in finding.help


def test_a_key_left_empty_is_located_at_the_key_with_how_to_write_empty(tmp_path):
    """Deleting the last annotation leaves `annotations:`, YAML's null: the finding is on that line."""
    text = (VALID / "minilm-embed.yaml").read_text()
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("  annotations: {}\n", "  annotations:\n"))
    [found] = validate_file(path)
    line = text.splitlines().index("  annotations: {}") + 1
    assert (found.rule, found.line) == ("PLN103", line) and "found null" in found.message
    assert "write `{}` for an empty mapping" in found.help
