"""The promotion decision with the whole envelope: parity, task quality, memory ceiling, gate."""
from __future__ import annotations

from planctl.apply.decide import decide
from planctl.documents.models.plan import Envelope


def envelope(**extra) -> Envelope:
    return Envelope.model_validate({"parity": {"examples": 1, "default": {"rtol": 0, "atol": 0}},
                                    "performance": {"statistic": "p50", "min_speedup": 1.5}, **extra})


QUALITY = {"quality": {"metric": "cosine-similarity", "dataset": "d.jsonl", "goal": {"type": "threshold", "value": 0.999}}}
FAST = {"value": 3.0, "ci_low": 2.8, "ci_high": 3.2}
PARITY = [{"passed": True, "shape_env": {"batch": 2}}]


def q(passed: bool) -> dict:
    return {"passed": passed, "shape_env": {"batch": 2}, "reason": "cosine-similarity: 0.98 < threshold 0.999"}


def test_quality_violation_rolls_back_with_its_reason():
    d = decide(PARITY, FAST, envelope(**QUALITY), [q(False)])
    assert d["verdict"] == "rollback"
    assert any(r.startswith("quality violated at batch=2: cosine-similarity") for r in d["reasons"])


def test_quality_that_holds_promotes():
    assert decide(PARITY, FAST, envelope(**QUALITY), [q(True)])["verdict"] == "promote"


def test_a_quality_envelope_that_was_not_evaluated_does_not_promote():
    d = decide(PARITY, FAST, envelope(**QUALITY), None)
    assert d["verdict"] == "rollback" and "task quality was not evaluated" in d["reasons"]


def test_memory_ceiling():
    env = envelope(memory={"planned_bytes": 1000, "peak_rss_mb": 500})
    assert decide(PARITY, FAST, env, memory={"planned_bytes": 999, "peak_rss_mb": 400})["verdict"] == "promote"
    d = decide(PARITY, FAST, env, memory={"planned_bytes": 2000, "peak_rss_mb": 400})
    assert d["verdict"] == "rollback" and any("planned 2,000 bytes" in r for r in d["reasons"])


def test_parity_and_gate_unchanged():
    assert decide([{"passed": False, "shape_env": {}}], FAST, envelope())["verdict"] == "rollback"
    assert decide(PARITY, {"value": 1.2, "ci_low": 1.1, "ci_high": 1.3}, envelope())["verdict"] == "rollback"
    assert decide(PARITY, {"value": 1.6, "ci_low": 1.4, "ci_high": 1.8}, envelope())["verdict"] == "inconclusive"
