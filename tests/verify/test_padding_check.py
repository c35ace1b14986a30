"""The padding check (planctl.verify.padding): a model whose outputs change when a call is padded
up to its bucket is named as such, with the pad values used and what would let it serve."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from planctl.documents.load import load_plan
from planctl.documents.shapes import TrafficPoint
from planctl.verify.padding import Layout, check_padding

REPO = Path(__file__).parents[2]
LAYOUT = Layout(dims={"batch": [("input_ids", 0), ("attention_mask", 0)], "seq": [("input_ids", 1), ("attention_mask", 1)]},
                pad={"input_ids": 0, "attention_mask": 0}, output_dims={"sentence_embedding": ["batch"]}, batch_dim="batch")


def check(reference):
    plan = load_plan(REPO / "plans" / "minilm-embed.yaml")
    bucket = {"batch": 1, "seq": 64}
    return check_padding(reference, plan.model, bucket, [bucket], [TrafficPoint({"batch": 1, "seq": 16}, 1.0)], LAYOUT)


def test_a_masked_mean_is_inert_under_padding():
    def masked_mean(inputs):
        ids, mask = inputs["input_ids"].astype(np.float64), inputs["attention_mask"].astype(np.float64)
        return [((ids * mask).sum(axis=1, keepdims=True) / mask.sum(axis=1, keepdims=True)).astype(np.float32)]

    assert check(masked_mean).passed


def test_a_model_that_reads_the_padding_is_named_with_the_pad_values_and_the_ways_out():
    def plain_mean(inputs):   # a convolution or pooling across the sequence that ignores the mask
        return [inputs["input_ids"].astype(np.float32).mean(axis=1, keepdims=True)]

    result = check(plain_mean)
    assert not result.passed
    assert "(pad values input_ids=0, attention_mask=0)" in result.reason
    assert "in the reference model itself" in result.reason and "no build of this bucket can serve smaller calls" in result.reason
    assert "buckets at the call shapes" in result.reason
