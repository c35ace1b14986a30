"""Where each task's schedule comes from, decided before any search, and what apply prints."""
from __future__ import annotations

from planctl.documents.shapes import shape_text
from planctl.tuning.census import classify, counts, render
from planctl.tuning.scope import resolve


def row(kit, workload: str, device, identity: str, valid: bool = True, key=None) -> dict:
    return {"workload_hash": workload, "key_id": (key or kit.make_key()).key_id, "device_id": device.device_id,
            "identity": identity, "valid": valid, "mean_s": 1e-3 if valid else 1e10}


def test_each_task_gets_one_source_in_order(kit):
    here, amd = kit.make_device(), kit.make_device(device={**kit.DEVICE, "model": "AMD EPYC"})
    other_target = kit.make_key(target={**kit.TARGET, "mcpu": "znver4"}, target_name="zen4")
    scope = resolve(kit.make_key(), {other_target.key_id: other_target}, here, devices={amd.device_id: amd})
    rows = [row(kit, "1", here, "searched-here"), row(kit, "2", here, "from-file"),
            row(kit, "3", amd, "amd"), row(kit, "4", amd, "amd-failed", valid=False),
            row(kit, "5", here, "zen4", key=other_target)]
    tasks = [(f"t{i}", str(i)) for i in range(1, 6)]
    found = classify(tasks, rows, scope, committed={"from-file"})
    assert [s.source for s in found] == ["cache", "committed", "other-devices", "other-devices", "search"]
    assert found[3].best_s is None  # only failure marks: searched there, nothing to schedule
    assert found[2].measured_on == "AMD EPYC (x86_64)" and found[0].measured_on == "this host"
    assert counts(found)["search"] == 1


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
                        "1 by other devices' records, 1 left to search")
    assert lines[1] == "  measured on AMD EPYC (x86_64) (1 task)"
    assert lines[2] == "  search: at most 1500 trials (96 per task), wall-clock ceiling 1200 s"
    served = classify([("t1", "1")], [row(kit, "1", amd, "a")], scope, set())
    assert render("batch=2", served, budget)[-1] == "  search: none (no trial will run)"


def test_the_report_schema_names_every_census_source():
    """report.json's tasks and census use census.SOURCES, no more, no fewer (planctl.report.record)."""
    from typing import get_args

    from planctl.report.record import TaskSource
    from planctl.tuning.census import SOURCES

    assert get_args(TaskSource) == SOURCES
