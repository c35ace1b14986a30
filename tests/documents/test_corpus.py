"""Every file under invalid/ produces its expected finding, line and exit code (expected.yaml);
every file under valid/ is clean."""
from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from planctl.cli.main import main
from planctl.codes import exit_code_for
from planctl.documents.load import validate_file
from planctl.documents.source import MAX_BYTES

HERE = Path(__file__).parent
INVALID, VALID = HERE / "invalid", HERE / "valid"
EXPECTED = YAML(typ="safe").load(INVALID / "expected.yaml")


def test_corpus_is_complete():
    files = {p.name for p in INVALID.iterdir() if p.name != "expected.yaml"}
    assert files == set(EXPECTED)
    assert len(files) + 1 >= 40  # + huge.yaml, generated below


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_file(name, capsys):
    want = EXPECTED[name]
    findings = validate_file(INVALID / name)
    got = [(f.rule, f.line) for f in findings]
    assert any(rule == want["rule"] and want["line"] in (None, line) for rule, line in got), got
    assert exit_code_for({f.rule for f in findings}) == want["exit"]
    assert main(["validate", str(INVALID / name)]) == want["exit"]
    out = capsys.readouterr().out
    assert f"error[{want['rule']}]" in out


@pytest.mark.parametrize("name", sorted(p.name for p in VALID.iterdir()))
def test_valid_file(name):
    assert validate_file(VALID / name) == []


def test_ten_megabyte_file_is_rejected_unread(tmp_path):
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as fh:
        fh.write(b"apiVersion: planctl.dev/v1alpha1\n")
        fh.truncate(10 * 1024 * 1024)
    [finding] = validate_file(huge)
    assert (finding.rule, finding.line) == ("PLN108", 1)
    assert str(MAX_BYTES) in finding.message
    assert main(["validate", str(huge)]) == 2


def test_billion_laughs_stays_in_bounded_memory():
    import tracemalloc

    tracemalloc.start()
    try:
        [finding] = validate_file(INVALID / "billion-laughs.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert finding.rule == "PLN108"
    assert peak < 64 * 1024 * 1024


def test_missing_file_is_unparsable(tmp_path):
    [finding] = validate_file(tmp_path / "nope.yaml")
    assert finding.rule == "PLN107"
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2


def test_target_name_must_match_its_file_in_targets(tmp_path):
    """PLN120: plans and apply find a target as targets/<name>.yaml."""
    (tmp_path / "targets").mkdir()
    text = (VALID / "x86-64-avx2.yaml").read_text()
    (tmp_path / "targets" / "x86-64-avx2.yaml").write_text(text)
    assert validate_file(tmp_path / "targets" / "x86-64-avx2.yaml") == []
    (tmp_path / "targets" / "avx2.yaml").write_text(text)
    [finding] = validate_file(tmp_path / "targets" / "avx2.yaml")
    assert (finding.rule, finding.pointer, finding.line) == ("PLN120", "/metadata/name", 5)


def test_target_defined_by_two_suffixes_is_reported_and_never_chosen_silently(tmp_path):
    """PLN123: targets/x.yaml and targets/x.yml both define `x`; validate reports each file and a
    lookup of `x` (check, apply, plan) refuses to pick one."""
    from planctl.documents.layout import target_path
    from planctl.errors import DocumentError

    (tmp_path / "targets").mkdir()
    text = (VALID / "x86-64-avx2.yaml").read_text()
    for suffix in (".yaml", ".yml"):
        (tmp_path / "targets" / f"x86-64-avx2{suffix}").write_text(text)
    for suffix in (".yaml", ".yml"):
        [finding] = validate_file(tmp_path / "targets" / f"x86-64-avx2{suffix}")
        assert finding.rule == "PLN123" and finding.severity == "error"
    with pytest.raises(DocumentError, match="defined twice"):
        target_path("x86-64-avx2", tmp_path)
    (tmp_path / "targets" / "x86-64-avx2.yml").unlink()
    assert target_path("x86-64-avx2", tmp_path) == tmp_path / "targets" / "x86-64-avx2.yaml"


@pytest.mark.parametrize("name", ["nvidia-h200.yaml", "x86-64-avx2.yaml"])
def test_repository_targets_are_clean(name):
    assert validate_file(HERE.parents[1] / "targets" / name) == []
