"""Where each task's schedule comes from, decided before any search, and what apply prints."""
from __future__ import annotations

from planctl.documents.shapes import shape_text
from planctl.tuning.census import classify, counts, render
from planctl.tuning.scope import resolve


def row(kit, workload: str, device, identity: str, valid: bool = True, key=None) -> dict:
    return {"workload_hash": workload, "key_id": (key or kit.make_key()).key_id, "device_id": device.device_id,
            "identity": identity, "valid": valid, "min_s": 1e-3 if valid else 1e10}


def test_each_task_gets_one_source_in_order(kit):
    here, amd = kit.make_device(), kit.make_device(device={**kit.DEVICE, "model": "AMD EPYC"})
    other_target = kit.make_key(target={**kit.TARGET, "mcpu": "znver4"}, target_name="zen4")
    scope = resolve(kit.make_key(), {other_target.key_id: other_target}, here, devices={amd.device_id: amd})
    rows = [row(kit, "1", here, "searched-here"), row(kit, "2", here, "from-file"),
            row(kit, "3", amd, "amd"), row(kit, "4", amd, "amd-failed", valid=False),
            row(kit, "5", here, "zen4", key=other_target), row(kit, "6", amd, "amd-from-file")]
    tasks = [(f"t{i}", str(i)) for i in range(1, 7)]
    found = classify(tasks, rows, scope, committed={"from-file", "amd-from-file"})
    assert [s.source for s in found] == ["cache", "committed", "other-devices", "other-devices", "search",
                                         "committed"]
    assert found[3].best_s is None  # only failure marks: searched there, nothing to schedule
    assert found[2].measured_on == "AMD EPYC (x86_64, AVX2)" and found[0].measured_on == "this CPU"
    assert found[5].measured_on == "AMD EPYC (x86_64, AVX2)"  # committed, measured elsewhere: the device is named
    assert counts(found)["search"] == 1
    assert render("batch=1", found, None)[1] == ("  the serving records were measured on AMD EPYC (x86_64, AVX2) (3 tasks); "
                                                 "this CPU (2 tasks)")


def test_this_cpu_under_other_measurement_settings_is_named_as_such(kit):
    """A record this very CPU measured with warm caches, served on a target that measures cold (or
    with other runner numbers), says so instead of the CPU's label (which reads like another host)."""
    from planctl.tuning.keys import measurement_settings

    cold = kit.make_device(measurement=measurement_settings({"kind": "local", "caches": "cold"}))
    warm = kit.make_device(measurement=measurement_settings({"kind": "local"}))
    slow = kit.make_device(measurement={**measurement_settings({"kind": "local"}), "repeat": 5})
    scope = resolve(kit.make_key(), {}, warm, devices={cold.device_id: cold, slow.device_id: slow})
    assert scope.measured_on(cold.device_id) == "this CPU, cold caches"
    assert scope.measured_on(slow.device_id) == "this CPU, other runner settings (repeat 5)"
    assert resolve(kit.make_key(), {}, cold, devices={warm.device_id: warm}).measured_on(warm.device_id) \
        == "this CPU, warm caches"


def test_the_policy_decides_what_other_devices_records_do(kit):
    here, amd = kit.make_device(), kit.make_device(device={**kit.DEVICE, "model": "AMD EPYC"})
    rows = [row(kit, "1", amd, "amd")]
    for policy, source in (("serve", "other-devices"), ("re-measure", "re-measure"), ("search", "search")):
        scope = resolve(kit.make_key(), {}, here, policy)
        assert classify([("t1", "1")], rows, scope, set())[0].source == source


def test_the_announcement_names_devices_budget_and_ceiling(kit):
    here, amd = kit.make_device(), kit.make_device(device={**kit.DEVICE, "model": "AMD EPYC"})
    scope = resolve(kit.make_key(), {}, here, devices={amd.device_id: amd})
    found = classify([("t1", "1"), ("t2", "2")], [row(kit, "1", amd, "a")], scope, set())
    budget = {"trials": 1500, "trials_per_task": 96, "wall_clock_s": 1200.0}
    lines = render(shape_text({"batch": 2}), found, budget)
    assert lines[0] == ("tuning at batch=2: 2 tasks: 0 served by the cache, 0 by the committed records, "
                        "1 by other devices' records in the cache, 1 left to search")
    assert lines[1] == "  the serving records were measured on AMD EPYC (x86_64, AVX2) (1 task)"
    assert lines[2] == "  search: at most 1500 trials (96 per task), wall-clock ceiling 1200 s"
    served = classify([("t1", "1")], [row(kit, "1", amd, "a")], scope, set())
    assert render("batch=2", served, budget)[-1] == "  search: none (no trial will run)"


def test_the_report_schema_names_every_census_source():
    """report.json's tasks and census use census.SOURCES, no more, no fewer (planctl.report.record)."""
    from typing import get_args

    from planctl.report.record import TaskSource
    from planctl.tuning.census import SOURCES

    assert get_args(TaskSource) == SOURCES
