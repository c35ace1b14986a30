"""Text records: JSONL export is sorted and stable, import verifies, the legacy directory loads."""
from __future__ import annotations

import json
from pathlib import Path

from planctl.tuning import records as files
from planctl.tuning.store import Store


def test_export_import_export_is_byte_identical(store, kit, tmp_path: Path):
    kit.fill(store, kit.make_key(), per_workload=3)
    first = tmp_path / "a.jsonl"
    assert files.export_jsonl(store, first, files.select(store, top_k=None)) == 6
    other = Store.open(tmp_path / "other")
    result = files.import_jsonl(other, first)
    assert (result.lines, result.added, result.problems) == (6, 6, [])
    second = tmp_path / "b.jsonl"
    files.export_jsonl(other, second, files.select(other, top_k=None))
    assert first.read_bytes() == second.read_bytes()
    line = json.loads(first.read_text().splitlines()[0])
    assert {"key", "workload_hash", "workload", "trace", "run_secs", "target", "args_info", "provenance",
            "checksum"} <= set(line)
    assert line["format"] == 2
    assert set(line["key"]["digests"]) == {"target", "versions"}
    assert set(line["device"]["digests"]) == {"device", "measurement"} and line["device"]["label"]


def test_top_k_export_keeps_the_best(store, kit, tmp_path: Path):
    kit.fill(store, kit.make_key(), per_workload=3)
    out = tmp_path / "best.jsonl"
    files.export_jsonl(store, out, files.select(store, top_k=1))
    assert sorted(sum(json.loads(x)["run_secs"]) for x in out.read_text().splitlines()) == [1e-3, 1e-3]


def test_an_edited_or_truncated_line_is_reported_and_skipped(store, kit, tmp_path: Path):
    kit.fill(store, kit.make_key(), per_workload=2)
    path = tmp_path / "r.jsonl"
    files.export_jsonl(store, path, files.select(store, top_k=None))
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"run_secs":[0.001]', '"run_secs":[0.0001]')
    lines[1] = lines[1][: len(lines[1]) // 2]
    path.write_text("\n".join(lines) + "\n")
    result = files.import_jsonl(Store.open(tmp_path / "fresh"), path)
    assert result.added == 2 and len(result.problems) == 2
    assert "checksum mismatch" in result.problems[0] and ":2:" in result.problems[1]


def test_legacy_directory_loads_under_the_current_key_and_skips_other_targets(store, kit, tmp_path: Path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / files.WORKLOAD_FILE).write_text(json.dumps(["123", "blob"]) + "\n")
    good = [0, [[["GetSBlock", [], ["m", "main"], ["b0"]]], [1e-4], {**kit.TARGET, "keys": ["cpu"], "tag": ""}, []]]
    wrong = [0, [[], [2e-4], {"kind": "llvm", "mcpu": "znver4", "num-cores": 2}, []]]
    (legacy / files.RECORD_FILE).write_text(json.dumps(good) + "\n" + json.dumps(wrong) + "\n{broken\n")
    key, device = kit.make_key(), kit.make_device()
    result = files.import_legacy(store, legacy, key, device, {"plan": "p"})
    assert result.added == 1 and len(result.problems) == 2
    rec = store.top_k("123", [key.key_id], 1)[0]
    assert rec.device_id == device.device_id
    provenance = rec.json("provenance")
    assert provenance["plan"] == "p" and provenance["source"] == "legacy TVM JSONDatabase"
    assert set(files.PROVENANCE_FIELDS) <= set(provenance)


def test_an_empty_records_folder_is_named_as_such_and_only_tune_may_start_from_it(store, kit, tmp_path: Path):
    import pytest

    from planctl.errors import TuningError

    empty = tmp_path / "records"
    empty.mkdir()
    with pytest.raises(TuningError, match="tuning records folder .* is empty") as raised:
        files.import_any(store, empty, kit.make_key(), kit.make_device(), {"plan": "p"})
    assert "--write-records" in raised.value.hint and "database_workload.json" not in raised.value.message
    assert files.import_any(store, empty, kit.make_key(), kit.make_device(), {"plan": "p"}, allow_empty=True).added == 0


def test_a_line_that_is_not_a_record_says_so(tmp_path: Path):
    """helper-40: `{"hello": "world"}` read as "checksum mismatch (edited or truncated record)", and
    `[1, 2, 3]` as an AttributeError's text."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"hello": "world"}\n[1, 2, 3]\n')
    parsed, result = files.read_jsonl(path)
    assert parsed == [] and len(result.problems) == 2
    assert "1: not a tuning record (a JSON object without checksum" in result.problems[0]
    assert "2: not a tuning record (a JSON list;" in result.problems[1] and "AttributeError" not in result.problems[1]
