"""planctl.verify.parity: hypothesis parity, tolerances, shrunk counterexamples, replay."""
from __future__ import annotations

import json

import numpy as np
import pytest

from planctl.errors import VerificationError
from planctl.verify import check_parity, load_counterexample, replay_counterexample
from planctl.verify.reference import OnnxRuntimeReference


def test_identical_candidate_passes_every_example(spec, tmp_path, numpy_embed):
    result = check_parity(numpy_embed, numpy_embed, spec, {"batch": 2}, tmp_path)
    assert result.corners == 7   # every corner of the two domains is distinct here
    assert result.passed and result.examples == 6 + result.corners and result.counterexample is None
    assert result.reason is None
    assert result.outputs["embedding"].max_abs == 0.0 and result.outputs["embedding"].passed
    assert not list(tmp_path.iterdir())


def test_numpy_candidate_against_onnxruntime_reference(tiny_onnx, tmp_path, make_spec, numpy_embed):
    spec = make_spec(outputs=[])   # names then come from the reference
    result = check_parity(numpy_embed, OnnxRuntimeReference(tiny_onnx, intra_op_threads=1), spec,
                          {"batch": 1}, tmp_path)
    assert result.passed and set(result.outputs) == {"embedding"}
    assert result.outputs["embedding"].max_abs <= 1e-5


@pytest.fixture
def offset(numpy_embed):
    """``offset(delta, when)``: the numpy model plus ``delta`` on every output element when ``when(inputs)``."""
    def make(delta, when=lambda inputs: True):
        def candidate(inputs):
            out = numpy_embed(inputs)[0]
            return [out + np.float32(delta if when(inputs) else 0.0)]
        return candidate
    return make


def test_offset_beyond_tolerance_fails_with_a_counterexample(spec, tmp_path, numpy_embed, offset):
    result = check_parity(offset(1e-3), numpy_embed, spec, {"batch": 2}, tmp_path)
    assert not result.passed and result.examples == 1
    assert result.counterexample == str(tmp_path / "counterexample-batch-2.npz")
    assert result.replay == f"planctl verify replay {result.counterexample}"
    assert "embedding" in result.reason and not result.outputs["embedding"].passed
    assert result.outputs["embedding"].max_abs == pytest.approx(1e-3, rel=1e-2)
    cx = load_counterexample(result.counterexample)
    # every input fails, so shrinking reaches the simplest one: all ids 0, shortest masks
    assert (cx.inputs["input_ids"] == 0).all() and (cx.inputs["attention_mask"].sum(axis=1) == 1).all()
    np.testing.assert_allclose(cx.candidate[0] - cx.reference[0], 1e-3, rtol=1e-2)
    assert cx.meta["tolerances"]["embedding"] == [1e-4, 1e-4]


def test_counterexample_is_shrunk_to_the_offending_token(spec, tmp_path, numpy_embed, offset):
    candidate = offset(1.0, when=lambda inputs: bool((inputs["input_ids"] >= 7).any()))
    result = check_parity(candidate, numpy_embed, spec, {"batch": 2}, tmp_path, examples=30)
    assert not result.passed and result.shrink_calls > 0
    ids = load_counterexample(result.counterexample).inputs["input_ids"]
    assert sorted(ids.ravel().tolist()) == [0] * (ids.size - 1) + [7]


def test_per_output_tolerance_overrides_the_default(tmp_path, make_spec, numpy_embed, offset):
    spec = make_spec(outputs_tol={"embedding": {"rtol": 0.0, "atol": 1e-2}})
    result = check_parity(offset(1e-3), numpy_embed, spec, {"batch": 1}, tmp_path)
    assert result.passed and result.outputs["embedding"].atol == 1e-2


def test_nan_in_candidate_fails_whatever_the_tolerance(tmp_path, make_spec, numpy_embed, offset):
    spec = make_spec(default={"rtol": 1e9, "atol": 1e9})
    result = check_parity(offset(np.nan), numpy_embed, spec, {"batch": 1}, tmp_path)
    assert not result.passed and result.outputs["embedding"].nonfinite > 0 and "non-finite" in result.reason
    json.dumps(result.to_dict(), allow_nan=False)


def test_shape_mismatch_and_crashing_candidate_are_violations(spec, tmp_path, numpy_embed):
    sliced = lambda inputs: [numpy_embed(inputs)[0][:, :1]]   # noqa: E731
    wrong = check_parity(sliced, numpy_embed, spec, {"batch": 1}, tmp_path)
    assert not wrong.passed and "shape" in wrong.reason

    def boom(inputs):
        raise RuntimeError("kernel crashed")
    crashed = check_parity(boom, numpy_embed, spec, {"batch": 1}, tmp_path / "crash")
    assert not crashed.passed and "kernel crashed" in crashed.reason
    assert load_counterexample(crashed.counterexample).candidate == []


def test_failing_reference_is_a_verification_error(spec, tmp_path, numpy_embed):
    def broken(inputs):
        raise ValueError("no such input")
    with pytest.raises(VerificationError, match="reference failed"):
        check_parity(numpy_embed, broken, spec, {"batch": 1}, tmp_path)


def test_same_seed_same_result(spec, tmp_path, numpy_embed, offset):
    a = check_parity(offset(1e-3), numpy_embed, spec, {"batch": 2}, tmp_path / "a", seed=3)
    b = check_parity(offset(1e-3), numpy_embed, spec, {"batch": 2}, tmp_path / "b", seed=3)
    paths = {"counterexample": None, "replay": None}   # the out_dir differs, nothing else may
    assert a.to_dict() | paths == b.to_dict() | paths


def test_replay_reproduces_and_clears_after_a_fix(spec, tmp_path, numpy_embed, offset):
    failed = check_parity(offset(1e-3), numpy_embed, spec, {"batch": 2}, tmp_path)
    again = replay_counterexample(failed.counterexample, offset(1e-3))   # recorded reference outputs
    assert not again.passed and again.examples == 1 and again.shape_env == {"batch": 2}
    fixed = replay_counterexample(failed.counterexample, numpy_embed, numpy_embed)
    assert fixed.passed and fixed.reason is None


def test_to_dict_is_json_safe(spec, tmp_path, numpy_embed, offset):
    result = check_parity(offset(1e-3), numpy_embed, spec, {"batch": 2}, tmp_path)
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(d) >= {"passed", "shape_env", "examples", "outputs", "counterexample", "replay", "reason"}
    assert set(d["outputs"]["embedding"]) >= {"max_abs", "max_rel", "rtol", "atol", "passed"}


def test_unreadable_counterexample_is_a_verification_error(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(VerificationError) as raised:
        load_counterexample(bad)
    # numpy reads a non-archive as a pickle and suggests allow_pickle: planctl never unpickles
    assert "allow_pickle" not in raised.value.message and "never loads pickled data" in raised.value.message
    assert "counterexample-<shape>.npz" in raised.value.hint


def test_an_archive_apply_did_not_write_names_what_it_lacks(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(VerificationError, match="meta is not a file in the archive: apply did not write it"):
        load_counterexample(other)


def _large_rows_overflow(reference):
    """A candidate that is right except where a whole row has large magnitude (>= 90% of the
    domain's bound), where it returns NaN: a float16 accumulation overflowing, as in issue 12 A."""
    def candidate(inputs):
        x = inputs["x"]
        out = reference(inputs)[0].copy()
        big = (np.abs(x) >= 0.9 * 3.0e4).all(axis=-1)
        out[big] = np.nan
        return [out]
    return candidate


def test_domain_corners_catch_what_random_draws_miss(tmp_path, make_spec):
    spec = make_spec(inputs=[{"name": "x", "dtype": "float32", "shape": [1, 4, 64],
                              "domain": {"kind": "float-range", "min": -3.0e4, "max": 3.0e4}}],
                     production_shapes={}, outputs=["y"], default={"rtol": 1e9, "atol": 1e9}, examples=100)

    def reference(inputs):
        return [np.tanh(inputs["x"] / 3.0e4)]
    result = check_parity(_large_rows_overflow(reference), reference, spec, {}, tmp_path)
    # 100 random draws passed; a corner row of large values broke it, whatever the tolerance says
    assert not result.passed and result.corners >= 1 and result.examples == 100 + result.corners
    assert "non-finite" in result.reason and result.outputs["y"].nonfinite > 0
    x = load_counterexample(result.counterexample).inputs["x"]
    assert (np.abs(x) >= 0.9 * 3.0e4).all(axis=-1).any()


def test_replay_on_a_library_of_other_output_shapes_is_refused_not_a_false_max_abs_0(
        spec, tmp_path, numpy_embed, offset, monkeypatch, capsys):
    """helper-40: --library naming another model's build printed "max abs 0 ... FAIL" and "reproduced"."""
    from planctl.cli import verify as verify_cli
    from planctl.cli.main import main

    result = check_parity(offset(1e-3), numpy_embed, spec, {"batch": 2}, tmp_path)
    other = tmp_path / "other.so"
    other.write_bytes(b"a build of another model")
    monkeypatch.setattr(verify_cli, "_candidate", lambda cx, library: lambda inputs: [np.zeros((2, 8), "float32")])
    assert main(["verify", "replay", result.counterexample, "--library", str(other)]) == 2
    err = capsys.readouterr().err
    assert "returns other output shapes than this counterexample's reference" in err and "max abs 0" not in err
    assert main(["verify", "replay", result.counterexample]) == 1   # the build beside it: a reproduced failure
    assert "embedding: output shape differs from the reference's: FAIL" in capsys.readouterr().out
