"""Shape buckets end to end on a tiny masked-mean-pooling encoder with symbolic batch and seq:
apply builds, verifies, gates and ships one build per bucket; the runtime dispatcher pads a call up
to the smallest bucket that fits it and refuses one above every bucket; a model whose exporter
baked a dim is refused with the node that fixed it named."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.apply.conftest import REPO

pytestmark = pytest.mark.tvm

PLAN = """\
apiVersion: planctl.dev/v1alpha1
kind: OptimizationPlan
metadata:
  name: tiny-encoder
spec:
  workload:
    model:
      onnx: models/encoder.onnx
      sha256: {sha}
    inputs:
      - name: input_ids
        dtype: int64
        shape: [batch, seq]
        domain: {{kind: integer-range, min: 0, max: 63}}
        pad: 0
      - name: attention_mask
        dtype: int64
        shape: [batch, seq]
        domain: {{kind: attention-mask, min_length: 1}}
    outputs: [embedding]
    production_shapes:
      batch:
        min: 1
        opt: 2
        max: 4
        values: [{{value: 1, share: 0.3}}, {{value: 4, share: 0.7}}]
      seq:
        min: 4
        opt: 4
        max: 8
        values: [{{value: 4, share: 0.75}}, {{value: 8, share: 0.25}}]
    buckets: {{max: 2}}
    baseline_telemetry:
      date: 2026-11-20
      source: unit test
      p50_ms: 1.0
  bottleneck:
    kind: memory-bandwidth
    layer: kernel
    evidence: the untuned build writes every intermediate (embedding, projection, masked copy) to memory
  optimizations:
    - technique: constant-folding
    - technique: operator-fusion
  envelope:
    parity:
      examples: 3
      default: {{rtol: 1.0e-4, atol: 1.0e-5}}
    performance: {{statistic: p50, min_speedup: 0.01}}
  fallback:
    switch: PLANCTL_DISABLE_TINY_ENCODER
    on_violation: rollback
  targets: [x86-64-avx2]
"""


def encoder_model(path: Path, baked_batch: int | None = None) -> str:
    """Write embedding = mean over unmasked tokens of (E[input_ids] @ W), float32 [batch, 16], with
    batch and seq symbolic; ``baked_batch`` adds a Reshape to the constant shape
    [baked_batch, -1, 16] (what an exporter that bakes the batch writes). Returns the sha256."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((64, 16)).astype("float32"), "E"),
             numpy_helper.from_array(rng.standard_normal((16, 16)).astype("float32"), "W"),
             numpy_helper.from_array(np.array([2], dtype="int64"), "last_axis"),
             numpy_helper.from_array(np.array([1], dtype="int64"), "seq_axis")]
    nodes = [helper.make_node("Gather", ["E", "input_ids"], ["emb"], name="embed"),
             helper.make_node("MatMul", ["emb", "W"], ["h0"], name="project")]
    hidden = "h0"
    if baked_batch is not None:
        inits.append(numpy_helper.from_array(np.array([baked_batch, -1, 16], dtype="int64"), "baked"))
        nodes.append(helper.make_node("Reshape", ["h0", "baked"], ["h"], name="baked_reshape"))
        hidden = "h"
    nodes += [helper.make_node("Cast", ["attention_mask"], ["m0"], to=TensorProto.FLOAT, name="mask_float"),
              helper.make_node("Unsqueeze", ["m0", "last_axis"], ["m"], name="mask_axis"),
              helper.make_node("Mul", [hidden, "m"], ["masked"], name="mask"),
              helper.make_node("ReduceSum", ["masked", "seq_axis"], ["total"], keepdims=0, name="sum"),
              helper.make_node("ReduceSum", ["m", "seq_axis"], ["count"], keepdims=0, name="count"),
              helper.make_node("Div", ["total", "count"], ["embedding"], name="mean")]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
              for n in ("input_ids", "attention_mask")]
    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 16])]
    model = helper.make_model(helper.make_graph(nodes, "encoder", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _repo(tmp_path: Path, baked_batch: int | None = None) -> Path:
    sha = encoder_model(tmp_path / "models" / "encoder.onnx", baked_batch)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "encoder.yaml").write_text(PLAN.format(sha=sha))
    (tmp_path / "targets").mkdir()
    shutil.copy(REPO / "targets" / "x86-64-avx2.yaml", tmp_path / "targets")
    return tmp_path


def _apply(repo: Path):
    from planctl.apply.pipeline import ApplyOptions, run_apply

    return run_apply(ApplyOptions(plan_file=repo / "plans" / "encoder.yaml", target_name="x86-64-avx2", root=repo,
                                  out_root=repo / "out", cache_dir=repo / "cache", measure_repeats=9,
                                  baseline_max_seconds=2.0, measure_max_seconds=0.5))


def _call(batch: int, seq: int, length: int | None = None, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    mask = np.zeros((batch, seq), dtype="int64")
    for row in range(batch):
        mask[row, : (length or int(rng.integers(1, seq + 1)))] = 1
    return {"input_ids": rng.integers(0, 64, (batch, seq)).astype("int64"), "attention_mask": mask}


def test_one_build_per_bucket_gated_and_dispatched_with_padding(tmp_path: Path):
    import numpy as np
    import onnxruntime as ort

    from planctl.runtime import Dispatcher, load

    repo = _repo(tmp_path)
    result = _apply(repo)
    record = result.record
    assert result.verdict == "promote", record["decision"]["reasons"]
    buckets = [b["shape_env"] for b in record["decision"]["buckets"]]
    assert buckets == [{"batch": 4, "seq": 4}, {"batch": 4, "seq": 8}]   # least expected padded work with 2 builds
    for build in record["builds"]:   # one report row per bucket: gate, parity, padding, latency
        assert build["parity"]["passed"] and build["padding"]["passed"]
        assert build["speedup"]["value"] > 0 and {"baseline", "candidate", "onnxruntime"} <= set(build["latency"])
    assert record["buckets"]["dynamic_baseline"] is True
    assert set(record["traffic"]["contenders"]) == {"planctl", "onnxruntime"}
    assert abs(sum(p["share"] for p in record["traffic"]["points"]) - 1.0) < 1e-9
    # onnxruntime's traffic calls are timed in their bucket's rounds, beside its candidate: none is left
    # for a measurement after the buckets
    assert all(p["onnxruntime"]["n"] > 0 and p["onnxruntime"]["interleaved"] for p in record["traffic"]["points"])
    assert "measure[traffic]" not in {s["name"] for s in record["stages"]}
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert [e["serves"] for e in manifest["buckets"]] == ["candidate", "candidate"] and manifest["padding"]
    assert len({e["candidate"] for e in manifest["buckets"]}) == 2   # a build per bucket
    report = (result.out_dir / "report.md").read_text()
    assert "## Buckets" in report and "## Traffic mix" in report

    runner = load(result.out_dir)
    assert isinstance(runner, Dispatcher)
    session = ort.InferenceSession(str(repo / "models" / "encoder.onnx"), providers=["CPUExecutionProvider"])
    for batch, seq, bucket in [(1, 3, "batch-4_seq-4"), (3, 4, "batch-4_seq-4"), (2, 7, "batch-4_seq-8"),
                               (4, 8, "batch-4_seq-8")]:
        call = _call(batch, seq, seed=batch * seq)
        assert runner.bucket_of(**call).tag == bucket
        (got,) = runner(**call)
        (want,) = session.run(None, call)   # the same model, unpadded, in onnxruntime
        assert got.shape == want.shape == (batch, 16)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="larger than every bucket"):
        runner(**_call(5, 4))
    # the caller's own call is what an error quotes (fresh-eyes report: it quoted the padded one)
    bad = _call(3, 3)
    bad["input_ids"][0, 0] = 99
    with pytest.raises(ValueError, match=r"input 'input_ids' has values in \[\d+, 99\]"):
        runner(**bad)
    with pytest.raises(ValueError, match=r"is int32 \[3, 3\], the artifact takes int64"):
        runner(**{**_call(3, 3), "input_ids": _call(3, 3)["input_ids"].astype("int32")})
    with pytest.raises(ValueError, match="unexpected input"):
        runner(**_call(2, 3), token_type_ids=np.zeros((2, 3), "int64"))
    with pytest.raises(ValueError, match="empty along axis 0"):
        runner(**_call(0, 3))


def test_a_baked_dim_is_refused_naming_the_node(tmp_path: Path):
    from planctl.errors import LoweringError

    repo = _repo(tmp_path, baked_batch=4)
    with pytest.raises(LoweringError, match="baked_reshape.*Reshape.*`batch`") as raised:
        _apply(repo)
    # located at the plan's model line, the model named as the plan names it
    assert raised.value.file.endswith("encoder.yaml") and raised.value.pointer == "/spec/workload/model/onnx"
    assert str(repo) not in raised.value.message and "models/encoder.onnx" in raised.value.message


@pytest.mark.parametrize("damage", ["truncated", "not-onnx"])
def test_a_model_onnx_cannot_parse_is_a_located_error_not_a_crash(tmp_path: Path, damage):
    """A truncated or non-ONNX file (its sha256 updated to match) is refused by apply's legality
    stage (check's PLN224) at the plan's ``onnx`` line, before TVM reads it; the importer, which
    reads the model first in the lowering stage, names the file too."""
    from planctl.errors import LegalityError, LoweringError
    from planctl.lowering.importer import read_model

    repo = _repo(tmp_path)
    model = repo / "models" / "encoder.onnx"
    model.write_bytes(model.read_bytes()[:200] if damage == "truncated" else b"not a model\n")
    plan = repo / "plans" / "encoder.yaml"
    text = plan.read_text()
    old = next(line.split()[-1] for line in text.splitlines() if "sha256:" in line)
    plan.write_text(text.replace(old, hashlib.sha256(model.read_bytes()).hexdigest()))
    with pytest.raises(LegalityError) as raised:
        _apply(repo)
    [finding] = [f for f in raised.value.findings if f.rule == "PLN224"]
    assert finding.pointer == "/spec/workload/model/onnx" and "not a valid ONNX model" in finding.message
    assert finding.line is not None
    with pytest.raises(LoweringError, match="not a valid ONNX model") as unread:
        read_model(model)
    assert unread.value.file == str(model)


def test_a_bucket_that_fails_parity_rolls_back_alone_to_its_verified_baseline(tmp_path: Path, monkeypatch):
    import dataclasses

    import numpy as np

    from planctl.apply.stages import verify
    from planctl.runtime import load

    original = verify._parity

    def failing_at_the_large_bucket(ctx, work, reference):
        found = original(ctx, work, reference)
        if work.tag != "batch-4_seq-8":
            return found
        return dataclasses.replace(found, passed=False, reason="embedding: 3 of 64 elements outside tolerance")

    monkeypatch.setattr(verify, "_parity", failing_at_the_large_bucket)
    repo = _repo(tmp_path)
    result = _apply(repo)
    assert result.verdict == "partial", result.record["decision"]["reasons"]
    serves = {b["tag"]: (b["verdict"], b["serves"]) for b in result.record["decision"]["buckets"]}
    assert serves == {"batch-4_seq-4": ("promote", "candidate"), "batch-4_seq-8": ("rollback", "baseline")}
    assert (repo / "out" / "tiny-encoder" / "x86-64-avx2" / "manifest.json").is_file()   # deployed: live
    runner = load(result.out_dir)
    assert runner.which == "mixed"
    assert runner.which_by_bucket == {"batch-4_seq-4": "candidate", "batch-4_seq-8": "baseline"}
    call = _call(2, 7)
    assert runner.bucket_of(**call).which == "baseline"
    assert runner(**call)[0].shape == (2, 16) and np.isfinite(runner(**call)[0]).all()


def test_a_gate_on_onnxruntime_over_the_traffic_mix_rolls_back_what_it_does_not_beat(tmp_path: Path):
    """``versus_onnxruntime`` over the mix is judged once, on the padded calls against onnxruntime's
    unpadded ones: a gate no build can reach (1000x) rolls back both promoted buckets, and the
    report keeps the figure with its interval."""
    from planctl.cli.apply import summary

    repo = _repo(tmp_path)
    plan = repo / "plans" / "encoder.yaml"
    plan.write_text(plan.read_text().replace(
        "performance: {statistic: p50, min_speedup: 0.01}",
        "performance: {statistic: p50, min_speedup: 0.01, versus_onnxruntime: {min_speedup: 1000}}"))
    result = _apply(repo)
    decision = result.record["decision"]
    assert result.verdict == "rollback", decision["reasons"]
    assert [(b["verdict"], b["serves"]) for b in decision["buckets"]] == [("rollback", "baseline")] * 2
    gate = decision["traffic_gate"]
    assert gate["verdict"] == "rollback" and gate["gate"] == 1000 and gate["missing"] is None
    assert 0 < gate["ci_low"] <= gate["value"] <= gate["ci_high"] < 1000
    assert gate["statistic"] == "mean"   # the mix's expected latency, whatever the per-bucket statistic
    assert any(r.startswith("onnxruntime gate over the traffic mix: expected-latency speedup") and "not met" in r
               for r in decision["reasons"])
    assert "per bucket; over the plan's traffic mix" not in summary(result.record, result.out_dir)
    assert "Gate on onnxruntime over the mix (envelope.performance.versus_onnxruntime): expected-latency speedup" in \
        (result.out_dir / "report.md").read_text()
