"""Bisection of an envelope violation: the pure search, and an apply whose plan has a broken technique."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from planctl.apply.bisect import bisect_techniques, minimal_failing


def test_halving_finds_a_single_culprit_with_few_probes():
    calls = []

    def fails(subset):
        calls.append(tuple(subset))
        return "e" in subset

    assert minimal_failing(list("abcdefgh"), fails) == ["e"]
    assert len(calls) <= 2 * 3 + 1


def test_interacting_culprits_are_both_named():
    # the envelope breaks only when b and f are on together
    result = bisect_techniques(list("abcdef"), lambda s: "b" in s and "f" in s, name=str)
    assert sorted(result.culprits) == ["b", "f"][:len(result.culprits)]
    assert result.culprits and all(c in "bf" for c in result.culprits)
    assert result.passing_plan == [t for t in "abcdef" if t not in result.culprits]
    assert not any(p["violates"] for p in result.probes if p["techniques"] == result.passing_plan)


def test_independent_culprits_are_all_removed_from_the_passing_plan():
    result = bisect_techniques(list("abcdef"), lambda s: "a" in s or "d" in s, name=str)
    assert sorted(result.culprits) == ["a", "d"]
    assert result.passing_plan == ["b", "c", "e", "f"]


def test_violation_without_any_technique_names_no_culprit():
    result = bisect_techniques(list("abc"), lambda s: True, name=str)
    assert result.culprits == [] and "no technique" in result.note


def test_violation_that_does_not_reproduce_is_said_so():
    result = bisect_techniques(list("abc"), lambda s: False, name=str)
    assert result.culprits == [] and result.passing_plan == ["a", "b", "c"] and "did not reproduce" in result.note


def test_probes_are_cached_by_subset():
    seen = []
    bisect_techniques(list("abcd"), lambda s: seen.append(s) or "c" in s, name=str)
    assert len(seen) == len({tuple(s) for s in seen})


# ------------------------------------------------------------------------------ through apply
QUALITY = """\
    quality:
      metric: cosine-similarity
      dataset: data/quality.jsonl
      goal: {type: threshold, value: 0.99999999}
    performance:"""


def _add_quality(repo: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    rows = [json.dumps({"inputs": {"x": rng.uniform(-1, 1, 128).round(4).tolist()}}) for _ in range(40)]
    (repo / "data").mkdir()
    (repo / "data" / "quality.jsonl").write_text("\n".join(rows) + "\n")
    plan = repo / "plans" / "tiny.yaml"
    plan.write_text(plan.read_text().replace("    performance:", QUALITY, 1))


@pytest.mark.tvm
def test_apply_bisects_a_broken_technique(tiny_repo: Path, monkeypatch):
    pytest.importorskip("tvm")
    from planctl.cli.main import main
    from planctl.lowering import techniques

    def fp16(_t, _target):
        from tvm import relax
        return [relax.transform.ToMixedPrecision(out_dtype="float32")]   # fp16 matmul inputs

    broken = techniques.TechniqueImpl("dead-code-elimination", "graph", fp16, "broken on purpose")
    monkeypatch.setitem(techniques.REGISTRY, "dead-code-elimination", broken)
    _add_quality(tiny_repo)
    assert main(["validate", str(tiny_repo / "plans" / "tiny.yaml")]) == 0
    code = main(["apply", str(tiny_repo / "plans" / "tiny.yaml"), "--target", "x86-64-avx2",
                 "--root", str(tiny_repo), "--out", str(tiny_repo / "out"), "--cache", str(tiny_repo / "cache"),
                 "--repeats", "6"])
    out_dir = tiny_repo / "out" / "tiny-mlp" / "x86-64-avx2"
    record = json.loads((out_dir / "report.json").read_text())
    assert code == 1 and record["decision"]["verdict"] == "rollback"
    assert not record["parity"][0]["passed"]
    quality = record["quality"][0]
    assert quality["metric"] == "cosine-similarity" and quality["examples"] == 40 and not quality["passed"]
    assert any("quality violated" in r for r in record["decision"]["reasons"])
    bisect = record["bisect"]
    assert bisect["culprits"] == ["dead-code-elimination"]
    assert bisect["passing_plan"] == ["constant-folding", "operator-fusion", "autotuning"]
    assert set(bisect["violated"]) == {"parity", "quality"}
    assert "planned_bytes" in record["memory"] and record["builds"][0]["flops"]["flops"] > 0
    assert record["roofline"]["achieved_gflops"] > 0
    md = (out_dir / "report.md").read_text()
    for heading in ("## Quality", "## Bisection", "## Roofline"):
        assert heading in md
    assert "names dead-code-elimination as the smallest set" in md
