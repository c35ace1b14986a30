"""planctl.runtime refuses a call whose values leave the plan's domain (the compiled kernels do not
bounds-check), with the consecutive-integer fast path giving the same answers as np.isin; its
warm-up at load runs the cheapest build on inputs inside those domains."""
from __future__ import annotations

import numpy as np
import pytest

from planctl.runtime.load import _all_in, check_domain


@pytest.mark.parametrize("allowed", [[0, 1], [1, 0], [0, 2, 5], [3], [-1, 0, 1]])
def test_membership_matches_isin(allowed):
    rng = np.random.default_rng(0)
    for dtype in ("int64", "int32", "uint8", "float32"):
        for _ in range(20):
            value = rng.integers(0, 6, size=(3, 4)).astype(dtype)
            assert _all_in(value, allowed) == bool(np.isin(value, allowed).all())
    assert _all_in(np.zeros((0, 4), "int64"), allowed)


def test_a_mask_value_outside_zero_and_one_is_refused():
    mask = np.ones((2, 8), "int64")
    check_domain("attention_mask", mask, {"kind": "attention-mask"})
    for bad in (2, -1):
        mask[1, 3] = bad
        with pytest.raises(ValueError, match="attention_mask"):
            check_domain("attention_mask", mask, {"kind": "attention-mask"})


def test_a_mask_row_shorter_than_min_length_is_refused():
    """Parity verified rows of min_length .. seq ones: an all-zero row (pooling over no token) is
    outside what was verified, as is a row of one token under min_length 2."""
    mask = np.ones((3, 8), "int64")
    mask[2, 4:] = 0
    check_domain("attention_mask", mask, {"kind": "attention-mask", "min_length": 1})
    mask[1] = 0
    with pytest.raises(ValueError, match=r"'attention_mask' row 1 keeps 0 position\(s\).*min_length 1"):
        check_domain("attention_mask", mask, {"kind": "attention-mask", "min_length": 1})
    short = np.ones((2, 8), "int64")
    short[0, 1:] = 0
    with pytest.raises(ValueError, match="row 0 keeps 1 position"):
        check_domain("attention_mask", short, {"kind": "attention-mask", "min_length": 2})
    left = np.ones((2, 8), "int64")
    left[1, :3] = 0                      # left padding: parity never drew it
    with pytest.raises(ValueError, match=r"row 1 is not right-padded \(a 0 before a 1 at position 2\)"):
        check_domain("attention_mask", left, {"kind": "attention-mask", "min_length": 1})
    gap = np.ones((2, 3, 8), "int64")
    gap[1, 2, 4] = 0
    with pytest.raises(ValueError, match=r"row \[1, 2\] is not right-padded"):
        check_domain("attention_mask", gap, {"kind": "attention-mask", "min_length": 1})


def test_warmup_inputs_hold_a_value_inside_each_domain():
    from planctl.runtime.load import warmup_inputs

    contract = [{"name": "ids", "dtype": "int64", "shape": [2, 4], "domain": {"kind": "integer-range", "min": 5, "max": 9}},
                {"name": "mask", "dtype": "int64", "shape": [2, 4], "domain": {"kind": "attention-mask", "min_length": 1}},
                {"name": "x", "dtype": "float32", "shape": [3], "domain": {"kind": "float-range", "min": -1.0, "max": 1.0}},
                {"name": "mode", "dtype": "int32", "shape": [1], "domain": {"kind": "enum", "values": [3, 7]}}]
    found = warmup_inputs(contract)
    assert {k: (v.shape, str(v.dtype), v.flat[0]) for k, v in found.items()} == {
        "ids": ((2, 4), "int64", 5), "mask": ((2, 4), "int64", 1), "x": ((3,), "float32", 0.0), "mode": ((1,), "int32", 3)}
    for spec in contract:
        check_domain(spec["name"], found[spec["name"]], spec["domain"])   # the runtime's own check accepts them
    assert warmup_inputs([{"name": "ids", "dtype": "int64", "shape": ["batch", 4]}]) is None


def test_load_warms_the_cheapest_runnable_bucket_up_and_survives_a_failing_call():
    from planctl.runtime.load import Bucket, Dispatcher, _warm_up

    calls = []
    contract = [{"name": "ids", "dtype": "int64", "shape": [1, 4], "domain": {"kind": "integer-range", "min": 0, "max": 9}}]
    refused = Bucket({"batch": 1}, "batch-1", None, None, contract, "rolled back", None)
    cheap = Bucket({"batch": 2}, "batch-2", "candidate", None, contract, run=lambda inputs: calls.append("cheap"))
    dear = Bucket({"batch": 8}, "batch-8", "candidate", None, contract, run=lambda inputs: calls.append("dear"))
    _warm_up(Dispatcher(manifest={}, buckets=[refused, cheap, dear]), seconds=0.0)
    assert calls == ["cheap"]

    def broken(inputs):
        raise RuntimeError("kernel fault")
    _warm_up(Dispatcher(manifest={}, buckets=[Bucket({"batch": 1}, "b", "candidate", None, contract, run=broken)]), 0.01)


def _dispatcher():
    from planctl.runtime.load import Bucket, Dispatcher

    contract = [{"name": "ids", "dtype": "int64", "shape": [1, 4], "domain": {"kind": "integer-range", "min": 0, "max": 9}}]
    manifest = {"dims": {"batch": [["ids", 0]], "seq": [["ids", 1]]}, "padding": True, "pad": {"ids": 0},
                "output_names": ["out"], "output_dims": {"out": ["batch", "seq"]}, "notes": "x" * 10_000}
    return Dispatcher(manifest=manifest, buckets=[
        Bucket({"batch": 1, "seq": 4}, "batch-1_seq-4", "candidate", None, contract, run=lambda inputs: [inputs["ids"]]),
        Bucket({"batch": 8, "seq": 4}, "batch-8_seq-4", None, None, contract, "rolled back")])


def test_a_call_of_one_sample_without_its_batch_axis_is_told_to_add_it():
    """A 1-D call was refused with "its axis 1 is the dim seq" (the new user, eighteenth session)."""
    with pytest.raises(ValueError, match=r"input 'ids' is int64 \[4\], the artifact takes int64 with 2 axes "
                                         r"\(one sample\? add the batch axis: x\[None\]\)"):
        _dispatcher()(ids=np.zeros(4, dtype=np.int64))
    assert _dispatcher()(ids=np.zeros((1, 3), dtype=np.int64))[0].shape == (1, 3)


def test_the_runtime_prints_as_its_buckets_not_its_manifest():
    assert repr(_dispatcher()) == ("Dispatcher(which='candidate', buckets={batch-1_seq-4: candidate, "
                                   "batch-8_seq-4: refused})")


def test_an_input_given_as_none_is_named_as_none():
    with pytest.raises(ValueError, match=r"input 'ids' is None \(expected int64 with 2 axes\)"):
        _dispatcher()(ids=None)


def _ids_contract(batch: int) -> list[dict]:
    return [{"name": "ids", "dtype": "int64", "shape": [batch, 4],
             "domain": {"kind": "integer-range", "min": 0, "max": 9}}]


def _overlapping_calls(buckets: list, batches: list[int]) -> list[bool]:
    """Call a Dispatcher over ``buckets`` (whose ``run`` is None: a recording stand-in is given) from
    one thread per entry of ``batches``, 5 calls each; whether each call found another inside the build."""
    import threading
    import time

    from planctl.runtime.load import Dispatcher

    inside, overlaps = [], []

    def run(inputs):
        inside.append(1)
        overlaps.append(len(inside) > 1)
        time.sleep(0.01)
        inside.pop()
        return [inputs["ids"]]

    for bucket in buckets:
        bucket.run = run   # one build, as the fallback baseline serves every bucket
    runtime = Dispatcher(manifest={"dims": {"batch": [["ids", 0]]}, "padding": True, "output_names": ["out"]},
                         buckets=buckets)
    threads = [threading.Thread(target=lambda b=b: [runtime(ids=np.zeros((b, 4), dtype=np.int64)) for _ in range(5)])
               for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return overlaps


def test_calls_of_one_bucket_from_two_threads_run_one_at_a_time():
    """Two threads calling one loaded artifact crashed the process in TVM's storage allocator (the
    new user): a VM is not re-entrant, so the runtime serializes the calls of one bucket."""
    from planctl.runtime.load import Bucket

    overlaps = _overlapping_calls([Bucket({"batch": 1}, "batch-1", "candidate", None, _ids_contract(1))], [1, 1, 1, 1])
    assert len(overlaps) == 20 and not any(overlaps)


def test_buckets_that_share_a_build_share_its_lock():
    """Under the fallback switch every bucket runs the one dynamic-shape baseline: two threads calling
    two buckets entered that one VM together, each holding its own bucket's lock."""
    from planctl.runtime.load import Bucket

    buckets = [Bucket({"batch": 1}, "batch-1", "baseline", None, _ids_contract(1)),
               Bucket({"batch": 8}, "batch-8", "baseline", None, _ids_contract(8))]
    overlaps = _overlapping_calls(buckets, [1, 8, 1, 8])
    assert len(overlaps) == 20 and not any(overlaps)
    assert buckets[0].lock is buckets[1].lock


@pytest.mark.parametrize("value, switched", [("1", True), ("yes", True), ("2", True), ("enabled", True),
                                             ("0", False), ("off", False), ("", False)])
def test_any_value_of_the_fallback_switch_but_an_off_one_switches(monkeypatch, value, switched):
    """``PLANCTL_DISABLE_MINILM_EMBED=2`` left the candidate running (the new user)."""
    from planctl.runtime.load import _switch_set

    monkeypatch.setenv("PLANCTL_DISABLE_X", value)
    assert _switch_set({"fallback_switch": "PLANCTL_DISABLE_X"}) is switched


def test_big_endian_ids_are_told_about_the_byte_order():
    with pytest.raises(ValueError, match="in the other byte order"):
        _dispatcher()(ids=np.zeros((1, 4), dtype=">i8"))


@pytest.mark.parametrize("warmup", [-1, float("nan"), "abc", True])
def test_a_bad_warmup_is_a_value_error(tmp_path, warmup):
    from planctl.runtime import load

    with pytest.raises(ValueError, match="warmup_ms must be a finite number"):
        load(tmp_path, warmup_ms=warmup)


def test_a_manifest_that_is_not_a_json_object_is_refused_with_a_message(tmp_path):
    """``[]`` as manifest.json raised a raw AttributeError ('list' object has no attribute 'get')."""
    from planctl.errors import PlanctlError
    from planctl.runtime.load import load

    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(PlanctlError, match="no readable manifest.json .its top level is a JSON list"):
        load(tmp_path)


def test_a_folder_above_the_output_names_the_outputs_inside_it(tmp_path):
    """helper-40: load("out/minilm-embed"), one folder too high, said only "no readable manifest.json"."""
    from planctl.errors import PlanctlError
    from planctl.runtime.load import load

    (tmp_path / "x86-64-avx512").mkdir()
    (tmp_path / "x86-64-avx512" / "manifest.json").write_text("{}")
    with pytest.raises(PlanctlError, match="outputs inside it, one per target: x86-64-avx512 .load .*x86-64-avx512"):
        load(tmp_path)
