"""A search on a busy host says so (planctl.tuning.search.disturbed_share): the repeats of a
kernel alone agree within a few percent on a quiet host, and a neighbour that takes a core makes
most of them several times slower."""
from __future__ import annotations

from planctl.tuning.search import TuningReport, _disturbed_note, disturbed_share
from planctl.tuning.store.record import FAILED_S


def _records(kit, runs: list[list[float]]):
    key = kit.make_key()
    return [type(kit.make_record(key)).new(key.key_id, kit.make_device().device_id, "111", [["x", [], [], [f"b{i}"]]],
                                           secs, {"kind": "llvm"}, [], {"n": i}) for i, secs in enumerate(runs)]


QUIET = [0.30, 0.31, 0.30, 0.32, 0.30]
BUSY = [0.61, 5.9, 6.0, 0.60, 8.8]       # the 8 x 16 FFN-up's confirmation beside a pip install


def test_a_quiet_search_is_not_called_busy(kit):
    records = _records(kit, [QUIET] * 18 + [BUSY] * 2 + [[FAILED_S]] * 5)
    assert disturbed_share(records) == (2, 20)   # failure marks are not timings
    report = TuningReport("cache")
    _disturbed_note(report, records)
    assert report.notes == []


def test_a_search_on_a_busy_host_says_so(kit):
    report = TuningReport("cache")
    _disturbed_note(report, _records(kit, [QUIET] * 14 + [BUSY] * 6))
    assert len(report.notes) == 1 and report.notes[0].startswith("the host was busy during the search: 6 of 20")
