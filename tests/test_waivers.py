"""Waivers: parsing, counting apart, expiry, unused waivers and the --no-waivers audit."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "rules"))
from check_harness import make_repo, run_check  # noqa: E402

from planctl.cli.main import main  # noqa: E402
from planctl.rules.waivers import parse  # noqa: E402

KEY = "planctl.dev/waive.PLN209"
OVER_BUDGET = [{"technique": "autotuning", "budget": {"trials": 10**6, "wall_clock_s": 60}}]


@pytest.mark.parametrize(("value", "reason", "expires", "problem"), [
    ("big sweep, ML-1", "big sweep, ML-1", None, None),
    ("big sweep; expires=2027-01-31", "big sweep", dt.date(2027, 1, 31), None),
    ("big sweep;expires = 2027-01-31 ", "big sweep", dt.date(2027, 1, 31), None),
    ("  ; expires=2027-01-31", "", dt.date(2027, 1, 31), "a waiver needs a reason"),
    ("", "", None, "a waiver needs a reason"),
    ("why; expires=soon", "why", None, "expires='soon' is not a YYYY-MM-DD date"),
    ("why; owner=me", "why", None, "unknown waiver option 'owner=me' (only expires=YYYY-MM-DD)"),
    # issue 13: read as a reason, this waiver would never expire
    ("expires=2027-03-31", "expires=2027-03-31", None, "`expires=2027-03-31` is not a reason"),
    ("why;", "why", None, "nothing follows `;`"),
    ("why; expires=2027-01-31; expires=2028-01-31", "why", None, "only one `; expires=YYYY-MM-DD`"),
    ("why; expires=20270131", "why", None, "expires='20270131' is not a YYYY-MM-DD date"),
    ("why; expires=2027-02-30", "why", None, "expires='2027-02-30' is not a YYYY-MM-DD date"),
])
def test_parse(value, reason, expires, problem):
    """The value is exactly `reason` or `reason; expires=YYYY-MM-DD`; anything else has a problem."""
    waiver = parse(KEY, value)
    assert (waiver.rule, waiver.reason, waiver.expires) == ("PLN209", reason, expires)
    assert (waiver.problem is None) == (problem is None), waiver.problem
    assert problem is None or waiver.problem.startswith(problem), waiver.problem
    assert waiver.pointer == "/metadata/annotations/planctl.dev~1waive.PLN209"


def test_an_expiry_without_a_reason_is_pln219_and_waives_nothing(tmp_path):
    """issue 13: `"expires=2027-03-31"` is not a reason with no expiry but an invalid waiver."""
    make_repo(tmp_path, {"metadata": {"annotations": {KEY: "expires=2027-03-31"}},
                         "spec": {"optimizations": OVER_BUDGET}})
    report = run_check(tmp_path)
    assert sorted(f.rule for f in report.active) == ["PLN209", "PLN219"]
    assert report.waived == []


@pytest.mark.parametrize(("place", "key"), [
    ("labels", KEY),                                   # a label is not read for waivers
    ("annotations", "planctl.dev/waiver.PLN209"),      # near misses of the prefix
    ("annotations", "planctl/waive.PLN209"),
])
def test_a_waiver_planctl_does_not_read_is_pln219_not_silence(tmp_path, place, key):
    """helper-39: a waiver under labels was ignored without a word, and the finding it meant to waive
    still failed the check with no hint why."""
    make_repo(tmp_path, {"metadata": {place: {key: "one-off sweep, ML-77"}},
                         "spec": {"optimizations": OVER_BUDGET}})
    report = run_check(tmp_path)
    assert sorted(f.rule for f in report.active) == ["PLN209", "PLN219"]
    [invalid] = [f for f in report.active if f.rule == "PLN219"]
    assert f"metadata.annotations[\"{KEY}\"]" in invalid.message and "waives nothing" in invalid.message


def test_waived_findings_are_counted_apart_and_do_not_fail(tmp_path):
    make_repo(tmp_path, {"metadata": {"annotations": {KEY: "one-off sweep, ML-77"}},
                         "spec": {"optimizations": OVER_BUDGET}})
    report = run_check(tmp_path)
    assert report.counts() == {"error": 0, "warning": 0, "note": 0, "waived": 1}
    assert report.waived[0].waiver_reason == "one-off sweep, ML-77"
    assert report.exit_code() == 0


def test_no_waivers_audits(tmp_path, capsys):
    make_repo(tmp_path, {"metadata": {"annotations": {KEY: "one-off sweep, ML-77",
                                                      "planctl.dev/waive.PLN201": ""}},
                         "spec": {"optimizations": OVER_BUDGET}})
    code = main(["check", "--root", str(tmp_path), "--today", "2026-12-01", "--no-waivers",
                 "-o", "json"])
    rules = [f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert code == 1 and rules == ["PLN209"]  # no waiver applied, no waiver findings


def test_expired_waiver_reports_the_finding_again(tmp_path):
    make_repo(tmp_path, {"metadata": {"annotations": {KEY: "sweep; expires=2026-11-30"}},
                         "spec": {"optimizations": OVER_BUDGET}})
    assert sorted(f.rule for f in run_check(tmp_path).active) == ["PLN209", "PLN217"]
    assert run_check(tmp_path, today=dt.date(2026, 11, 30)).active == []


def test_unused_waiver_is_reported(tmp_path):
    make_repo(tmp_path, {"metadata": {"annotations": {KEY: "sweep"}}})
    [finding] = run_check(tmp_path).active
    assert (finding.rule, finding.severity.value) == ("PLN218", "warning")
