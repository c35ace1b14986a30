"""planctl.apply.stages.measure: onnxruntime's traffic calls ride in their bucket's rounds, and their
failure is not the bucket's."""
from planctl.apply.stages import measure
from planctl.errors import PlanctlError


def test_a_failing_traffic_call_does_not_take_its_bucket_with_it(monkeypatch):
    from planctl.measure import benchmark

    seen = []

    def fake(contenders, rounds):
        seen.append(sorted(contenders))
        if "onnxruntime-traffic" in contenders:
            raise PlanctlError("onnxruntime refused a traffic call's shape")
        return {"latency": {}, "points": {}}

    monkeypatch.setattr(benchmark, "measure_in_subprocesses", fake)
    contenders = {"candidate": {}, "onnxruntime": {}, "onnxruntime-traffic": {}}
    assert measure._measure(contenders) == {"latency": {}, "points": {}}
    assert seen == [["candidate", "onnxruntime", "onnxruntime-traffic"], ["candidate", "onnxruntime"]]


def test_a_failing_bucket_measurement_still_fails(monkeypatch):
    import pytest

    from planctl.measure import benchmark

    def fake(contenders, rounds):
        raise PlanctlError("the candidate crashed")

    monkeypatch.setattr(benchmark, "measure_in_subprocesses", fake)
    with pytest.raises(PlanctlError, match="the candidate crashed"):
        measure._measure({"candidate": {}, "onnxruntime": {}})
