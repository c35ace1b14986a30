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
OK = PARITY                                                    # the baseline (the fallback) passed parity
WRONG = [{"passed": False, "shape_env": {"batch": 2}, "reason": "Y: 2 of 49 elements outside tolerance"}]


def q(passed: bool) -> dict:
    return {"passed": passed, "shape_env": {"batch": 2}, "reason": "cosine-similarity: 0.98 < threshold 0.999"}


def test_quality_violation_rolls_back_with_its_reason():
    d = decide(PARITY, FAST, envelope(**QUALITY), [q(False)], fallback=OK)
    assert d["verdict"] == "rollback"
    assert any(r.startswith("quality violated at batch=2: cosine-similarity") for r in d["reasons"])


def test_quality_that_holds_promotes():
    assert decide(PARITY, FAST, envelope(**QUALITY), [q(True)], fallback=OK)["verdict"] == "promote"


def test_a_quality_envelope_that_was_not_evaluated_does_not_promote():
    d = decide(PARITY, FAST, envelope(**QUALITY), None, fallback=OK)
    assert d["verdict"] == "rollback" and "task quality was not evaluated" in d["reasons"]


def test_memory_ceiling():
    env = envelope(memory={"planned_bytes": 1000, "peak_rss_mb": 500})
    assert decide(PARITY, FAST, env, memory={"planned_bytes": 999, "peak_rss_mb": 400}, fallback=OK)["verdict"] == "promote"
    d = decide(PARITY, FAST, env, memory={"planned_bytes": 2000, "peak_rss_mb": 400}, fallback=OK)
    assert d["verdict"] == "rollback" and any("planned 2,000 bytes" in r for r in d["reasons"])


def test_parity_and_gate_unchanged():
    assert decide([{"passed": False, "shape_env": {}}], FAST, envelope(), fallback=OK)["verdict"] == "rollback"
    assert decide(PARITY, {"value": 1.2, "ci_low": 1.1, "ci_high": 1.3}, envelope(), fallback=OK)["verdict"] == "rollback"
    assert decide(PARITY, {"value": 1.6, "ci_low": 1.4, "ci_high": 1.8}, envelope(), fallback=OK)["verdict"] == "inconclusive"


def test_a_rollback_needs_a_verified_baseline_else_it_is_a_reject():
    d = decide([{"passed": False, "shape_env": {}}], FAST, envelope(), fallback=WRONG)
    assert d["verdict"] == "reject"
    assert any("the baseline build (the fallback) fails parity" in r for r in d["reasons"])
    assert any(r.startswith("reject: not promoted (rollback)") and "nothing new is deployed" in r for r in d["reasons"])
    slow = decide(PARITY, {"value": 1.2, "ci_low": 1.1, "ci_high": 1.3}, envelope(), fallback=WRONG)
    unsure = decide(PARITY, {"value": 1.6, "ci_low": 1.4, "ci_high": 1.8}, envelope(), fallback=WRONG)
    assert slow["verdict"] == unsure["verdict"] == "reject"


def test_a_promotion_with_an_unverified_baseline_says_the_switch_has_nothing_to_run():
    d = decide(PARITY, FAST, envelope(), fallback=WRONG)
    assert d["verdict"] == "promote"
    assert any("the fallback switch has no verified build" in r for r in d["reasons"])


def test_a_candidate_tvm_could_not_build_rolls_back_naming_the_failure_and_its_cause():
    failure = {"code": "PLN500", "stage": "candidate-build", "shape": "static", "pass_name": "RewriteDataflowReshape",
               "node": None, "error": "InternalError", "detail": "no definition of shape_func",
               "technique": "constant-folding", "log": "/tmp/out/tvm-failure-candidate-build-static.log"}
    d = decide([{"passed": False, "shape_env": {}, "reason": "no candidate to check"}], None, envelope(),
               fallback=OK, failures=[failure])
    assert d["verdict"] == "rollback"
    assert d["reasons"][0].startswith("PLN500 TVM failed to make the candidate at static (stage candidate-build, "
                                      "pass RewriteDataflowReshape)")
    assert "technique constant-folding is the cause" in d["reasons"][0]
    assert "tvm-failure-candidate-build-static.log" in d["reasons"][0]


def test_a_failing_bucket_rolls_back_alone_and_the_run_is_partial():
    from planctl.apply.decide import overall

    buckets = [{"shape_env": {"batch": 8, "seq": 16}, "verdict": "promote", "reasons": ["p50 speedup 3x"]},
               {"shape_env": {"batch": 32, "seq": 128}, "verdict": "rollback", "reasons": ["parity violated"]}]
    verdict, reasons = overall(buckets)
    assert verdict == "partial"
    assert reasons[1].startswith("[batch=32, seq=128] rollback: parity violated")
    assert overall([{**b, "verdict": "promote"} for b in buckets])[0] == "promote"
    assert overall([{**b, "verdict": "reject"} for b in buckets])[0] == "reject"
    assert overall([buckets[1], {**buckets[0], "verdict": "inconclusive"}])[0] == "rollback"
    assert overall([buckets[1]]) == ("rollback", ["parity violated"])   # one bucket: its own verdict


def test_a_speedup_without_interval_says_why_and_promotes_on_its_value():
    once = {"value": 80.0, "ci_low": None, "ci_high": None, "ci_omitted": "the baseline ran 1 time"}
    d = decide(PARITY, once, envelope(), fallback=OK)
    assert d["verdict"] == "promote"
    assert "p50 speedup 80.00x vs gate 1.50x (met; no interval: the baseline ran 1 time)" in d["reasons"]


def onnxruntime_gate(over: str, min_speedup: float = 1.0) -> Envelope:
    return Envelope.model_validate({"parity": {"examples": 1, "default": {"rtol": 0, "atol": 0}},
                                    "performance": {"statistic": "p50", "min_speedup": 1.5,
                                                    "versus_onnxruntime": {"min_speedup": min_speedup, "over": over}}})


def test_an_onnxruntime_gate_at_each_bucket_promotes_only_what_beats_onnxruntime():
    env = onnxruntime_gate("each-bucket")
    faster = decide(PARITY, {**FAST, "vs_onnxruntime": 1.2, "vs_onnxruntime_ci_low": 1.1,
                             "vs_onnxruntime_ci_high": 1.3}, env, fallback=OK)
    assert faster["verdict"] == "promote"
    assert "onnxruntime gate: p50 speedup 1.20x over onnxruntime vs gate 1.00x (met; 95% CI 1.10-1.30)" in faster["reasons"]
    slower = decide(PARITY, {**FAST, "vs_onnxruntime": 0.8}, env, fallback=OK)
    assert slower["verdict"] == "rollback" and any("0.80x over onnxruntime" in r and "not met" in r
                                                   for r in slower["reasons"])
    unsure = decide(PARITY, {**FAST, "vs_onnxruntime": 1.05, "vs_onnxruntime_ci_low": 0.9,
                             "vs_onnxruntime_ci_high": 1.2}, env, fallback=OK)
    assert unsure["verdict"] == "inconclusive"
    unmeasured = decide(PARITY, {**FAST, "vs_onnxruntime": None}, env, fallback=OK)
    assert unmeasured["verdict"] == "rollback" and any("onnxruntime was not measured" in r for r in unmeasured["reasons"])


def test_an_onnxruntime_gate_over_the_traffic_mix_is_not_judged_per_bucket():
    slower_here = {**FAST, "vs_onnxruntime": 0.5}
    assert decide(PARITY, slower_here, onnxruntime_gate("traffic-mix"), fallback=OK)["verdict"] == "promote"


def test_an_onnxruntime_gate_over_the_traffic_mix_rolls_back_every_promoted_bucket():
    from planctl.apply.decide import gate_on_mix

    env = onnxruntime_gate("traffic-mix").performance
    buckets = [{"tag": "a", "verdict": "promote", "serves": "candidate", "reasons": ["r"]},
               {"tag": "b", "verdict": "rollback", "serves": "baseline", "reasons": ["slow"]}]
    kept, reason, allows = gate_on_mix(buckets, {"value": 1.3, "ci_low": 1.2, "ci_high": 1.4}, env, [OK, OK])
    assert kept == buckets and allows == "promote" and "1.30x over onnxruntime" in reason and "(met;" in reason
    judged, reason, allows = gate_on_mix(buckets, {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8}, env, [OK, OK])
    assert allows == "rollback" and "not met" in reason
    assert [(b["verdict"], b["serves"]) for b in judged] == [("rollback", "baseline"), ("rollback", "baseline")]
    assert judged[0]["reasons"][-1] == reason and judged[1] == buckets[1]
    unsure, _, allows = gate_on_mix(buckets, {"value": 1.05, "ci_low": 0.95, "ci_high": 1.1}, env, [OK, OK])
    assert allows == "inconclusive" and unsure[0]["verdict"] == "inconclusive"
    missing, reason, allows = gate_on_mix(buckets, {"missing": "the call batch=1 has no onnxruntime measurement"},
                                          env, [OK, OK])
    assert allows == "rollback" and missing[0]["verdict"] == "rollback" and "not evaluated (the call batch=1" in reason
    refused, _, _ = gate_on_mix(buckets, {"value": 0.7}, env, [WRONG, OK])   # nothing verified to roll back to
    assert refused[0]["verdict"] == "reject" and refused[0]["serves"] is None
