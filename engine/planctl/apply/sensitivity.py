"""Which operators to keep in float when a quantized candidate misses its quality goal.

Measured, then bisected, on the plan's own quality dataset and metric, with the quantized
numerics simulated by onnxruntime (planctl.verify.fake_quant: minutes of TVM builds per probe
become about a second each):

1. ``all``: every operator the candidate quantized, simulated; the gap between it and the
   candidate's measured value is the simulation's error on this model, added as a ``margin``
   to the goal of every probe, so a set that passes in simulation also passes when built.
2. Sensitivity: for each quantized operator, the metric with that operator alone kept float,
   minus ``all``: how much quality it costs (one probe each).
3. Bisection over the operators ranked by that cost: the shortest prefix whose keeping in float
   meets the goal (binary search: about log2(n) probes), then each of its operators dropped again
   in turn while the goal still holds (the set is 1-minimal).

The result is what ``keep_float`` should list (``planctl apply --write-keep-float`` writes it into
the plan for review); the next apply builds it and measures the real candidate. Operators the
plan already keeps float stay float in every probe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

Score = Callable[[Sequence[str]], float]   # quantized operator names -> metric value


@dataclass
class SensitivityResult:
    """``keep_float``: the operators found (in addition to the plan's own); ``value``: the
    simulated metric with them float; ``passed``: whether that meets the goal with the margin."""

    metric: str
    method: str
    quantized: list[str]
    simulated_all: float
    measured: Optional[float]
    margin: float
    per_op: list[dict] = field(default_factory=list)     # {name, metric, gain}, most sensitive first
    probes: list[dict] = field(default_factory=list)     # {keep_float, value, passed}, in order
    keep_float: list[str] = field(default_factory=list)
    value: Optional[float] = None
    passed: bool = False
    note: Optional[str] = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def search(quantized: Sequence[str], score: Score, meets: Callable[[float], bool], *, metric: str,
           measured: Optional[float]) -> SensitivityResult:
    """Find the smallest set of ``quantized`` operators to keep float (module doc).

    ``score(names)``: the metric with exactly ``names`` quantized; ``meets(value)``: the goal;
    ``measured``: the real candidate's metric with every operator of ``quantized`` quantized.
    """
    quantized = list(quantized)
    result = SensitivityResult(metric=metric, method="onnxruntime fake quantization on the plan's quality dataset",
                               quantized=quantized, simulated_all=score(quantized), measured=measured, margin=0.0)
    if measured is not None:
        result.margin = max(0.0, result.simulated_all - measured)

    def probe(keep: Sequence[str]) -> bool:
        keep = list(keep)
        value = score([n for n in quantized if n not in keep])
        passed = meets(value - result.margin)
        result.probes.append({"keep_float": keep, "value": value, "passed": passed})
        return passed

    if meets(result.simulated_all - result.margin):
        result.value, result.passed = result.simulated_all, True
        result.note = "the simulation meets the goal with every operator quantized: the candidate's shortfall is not " \
                      "explained by quantization numerics"
        return result
    for name in quantized:
        value = score([n for n in quantized if n != name])
        result.per_op.append({"name": name, "metric": value, "gain": value - result.simulated_all})
    result.per_op.sort(key=lambda row: -row["gain"])
    ranked = [row["name"] for row in result.per_op]
    if not probe(ranked):
        result.note = "keeping every operator float still misses the goal: quantization is not the cause"
        return result
    low, high = 0, len(ranked)          # prefix low fails (known), prefix high passes
    while high - low > 1:
        mid = (low + high) // 2
        if probe(ranked[:mid]):
            high = mid
        else:
            low = mid
    keep = ranked[:high]
    for name in reversed(ranked[:high]):   # least sensitive first: drop what is not needed
        if len(keep) > 1 and probe([n for n in keep if n != name]):
            keep = [n for n in keep if n != name]
    result.keep_float = keep
    result.value = score([n for n in quantized if n not in keep])
    result.passed = meets(result.value - result.margin)
    return result


def run(*, model_file, technique, levels: int, quantized: Sequence[str], quality_spec: Any, plan_spec: Any,
        shape_env: dict, root, plan_file: str, reference, baseline: float, measured: Optional[float],
        threads: int, ranges: Optional[dict] = None) -> SensitivityResult:
    """The search for one plan: the ONNX model at ``model_file``, its ``quantization`` technique on a
    kernel path with ``levels`` activation levels, the operators the candidate ``quantized``, and
    the plan's quality envelope judged as apply judged the candidate (``reference``: the quality
    reference model; ``baseline``: the metric's baseline value). Raises VerificationError when
    onnxruntime cannot run the model."""
    from planctl.lowering.quant_scheme import QuantScheme
    from planctl.verify import fake_quant
    from planctl.verify.quality import example_arrays, judge, labels_of, load_dataset, run_batched, scores

    scheme = QuantScheme.of(technique, levels=levels)
    dataset = load_dataset(root, quality_spec.dataset, plan_file=plan_file)
    arrays, batch = example_arrays(dataset, plan_spec, shape_env)
    labels = labels_of(dataset, quality_spec.metric)
    ref = run_batched(reference, arrays, batch)
    model = fake_quant.load(model_file)

    def score(names: Sequence[str]) -> float:
        simulated = fake_quant.session(fake_quant.fake_quantized_model(model, names, scheme, ranges), threads)
        out = run_batched(simulated, arrays, batch)
        return float(scores(quality_spec.metric, out, ref, labels).mean())

    return search(quantized, score, lambda value: judge(quality_spec.goal, value, baseline)[0],
                  metric=quality_spec.metric, measured=measured)
