"""Validity key, device provenance and the compatibility/version/other-device policy: which stored
records may serve a lookup."""
from __future__ import annotations

from pathlib import Path

import pytest

from planctl.host import cpu_fingerprint, cpu_identity, describe
from planctl.rules.config import load_config
from planctl.tuning.budget import effective_budget
from planctl.tuning.scope import resolve

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c hypervisor md_clear avx512f

processor\t: 1
model name\t: AMD EPYC 7B13
"""


def test_cpu_fingerprint_keeps_model_and_isa_flags_only():
    fp = cpu_fingerprint(CPUINFO)
    assert fp["model"] == "AMD EPYC 7B13"
    assert fp["isa"] == ["avx", "avx2", "avx512f", "f16c", "fma", "sse", "sse2", "sse4_1", "sse4_2", "ssse3"]


def test_a_cpu_is_described_by_its_widest_vector_extension_and_identified_by_family_and_model():
    """VMs name a Zen 3 and a Zen 5 host "AMD EPYC" alike: the label adds the vector class (what
    decides which target's code is fast); the bench's figures add family and model."""
    fp = cpu_fingerprint(CPUINFO)
    assert describe(fp) == "AMD EPYC 7B13 (x86_64, AVX-512)"
    assert describe({**fp, "isa": ["avx", "avx2", "fma"]}) == "AMD EPYC 7B13 (x86_64, AVX2)"
    assert describe({**fp, "isa": ["sse", "sse2"]}) == "AMD EPYC 7B13 (x86_64)"
    identity = cpu_identity("vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n"
                            "stepping\t: 1\ncpu MHz\t\t: 2445.422\n\nprocessor\t: 1\ncpu family\t: 99\n")
    assert identity == {"vendor": "AuthenticAMD", "family": "25", "model": "1", "stepping": "1", "mhz": "2445.422"}


def test_the_validity_key_is_target_and_versions_only(kit):
    base = kit.make_key()
    others = [kit.make_key(target={**kit.TARGET, "mcpu": "znver3"}),
              kit.make_key(versions={**kit.VERSIONS, "apache-tvm": "0.28.0"})]
    assert len({base.key_id, *(k.key_id for k in others)}) == 3
    assert kit.make_key(target_name="renamed").key_id == base.key_id  # a label, not a component
    assert set(base.digests()) == {"target", "versions"}


def test_device_and_measurement_are_provenance(kit):
    base = kit.make_device()
    assert kit.make_device(device={**kit.DEVICE, "model": "Intel Xeon"}).device_id != base.device_id
    assert kit.make_device(measurement={**kit.MEASUREMENT, "number": 10}).device_id != base.device_id
    assert base.label == "Test CPU (x86_64, AVX2)"


def test_cold_caches_are_part_of_the_measuring_device_and_warm_ids_stay_as_they_were(kit):
    """``measurement.caches``: warm (the default) gives the settings records had before the option
    existed, so their device ids hold; cold times one run per repeat after a flush, another device."""
    from planctl.tuning.keys import COLD_REPEAT, measurement_settings

    warm = measurement_settings({"kind": "local", "caches": "warm"})
    assert warm == measurement_settings(None) == kit.MEASUREMENT
    cold = measurement_settings({"kind": "local", "caches": "cold"})
    assert cold == {**kit.MEASUREMENT, "number": 1, "repeat": COLD_REPEAT, "min_repeat_ms": 0, "cache_flush": True}
    assert kit.make_device(measurement=cold).device_id != kit.make_device(measurement=warm).device_id
    assert kit.make_device(measurement=cold).label == "Test CPU (x86_64, AVX2), cold caches"


def test_the_runner_flushes_the_cpu_caches_only_for_cold_measurement():
    pytest.importorskip("tvm")
    from planctl.tuning.keys import measurement_settings
    from planctl.tuning.worker import builder_runner

    for caches, flush in (("warm", False), ("cold", True)):
        spec = {"device": {"measurement": measurement_settings({"kind": "local", "caches": caches})}}
        _, runner = builder_runner(spec)
        assert runner.evaluator_config.enable_cpu_cache_flush is flush
        assert runner.evaluator_config.number == (1 if flush else 3)


def test_another_target_is_never_served(kit):
    me = kit.make_key()
    zen = kit.make_key(target={**kit.TARGET, "mcpu": "znver3"}, target_name="zen3")
    scope = resolve(me, {me.key_id: me, zen.key_id: zen}, kit.make_device())
    assert scope.serving == {me.key_id: "exact"}
    assert list(scope.ignored.values()) == ["another target (zen3)"]


def test_records_of_other_devices_serve_by_default_and_only_here_otherwise(kit):
    me, here = kit.make_key(), kit.make_device()
    assert resolve(me, {}, here).device_ids is None  # serve: every device
    for policy in ("re-measure", "search"):
        assert resolve(me, {}, here, policy).device_ids == [here.device_id]
    with pytest.raises(ValueError):
        resolve(me, {}, here, "sometimes")


def test_a_named_compatible_target_serves_and_is_labelled(kit):
    me = kit.make_key()
    zen = kit.make_key(target={**kit.TARGET, "mcpu": "znver3"}, target_name="zen3")
    scope = resolve(me, {me.key_id: me, zen.key_id: zen}, kit.make_device(), compatible={"zen3": zen.target})
    assert scope.serving[zen.key_id] == "compatible:zen3"


def test_another_tvm_version_is_drift_never_served(kit):
    me = kit.make_key()
    old = kit.make_key(versions={**kit.VERSIONS, "apache-tvm": "0.26.0"})
    scope = resolve(me, {me.key_id: me, old.key_id: old}, kit.make_device())
    assert old.key_id in scope.drift and old.key_id not in scope.serving


def test_budget_is_capped_by_the_repository_ceiling(tmp_path: Path):
    from planctl.documents.models.plan import TuningBudget

    plan = TuningBudget(trials=500, wall_clock_s=900, trials_per_task=64)
    assert effective_budget(plan, load_config(tmp_path)).capped_by == ()
    (tmp_path / "planctl.toml").write_text("max_trials = 100\nmax_wall_clock_s = 60\n")
    budget = effective_budget(plan, load_config(tmp_path))
    assert (budget.trials, budget.wall_clock_s, budget.trials_per_task) == (100, 60.0, 64)
    assert budget.capped_by == ("max_trials", "max_wall_clock_s")
