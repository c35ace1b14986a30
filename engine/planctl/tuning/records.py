"""Committed tuning records: a reviewed record set next to a plan, in TVM's JSON-lines format
(``database_workload.json`` + ``database_tuning_record.json``), loaded into the cache by ``apply``."""
from __future__ import annotations

import hashlib
from pathlib import Path

from planctl.errors import TuningError
from planctl.tuning.store import RECORD_FILE, WORKLOAD_FILE, Store, repair_jsonl


def records_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in (WORKLOAD_FILE, RECORD_FILE):
        digest.update((directory / name).read_bytes())
    return digest.hexdigest()


def import_records(store: Store, directory: Path) -> int:
    """Load a committed record set into ``store`` once; return how many records were added.

    Raises TuningError when the directory lacks either file or a line is corrupt.
    """
    for name in (WORKLOAD_FILE, RECORD_FILE):
        if not (directory / name).is_file():
            raise TuningError(f"{directory}: committed tuning records lack {name}",
                              hint="export them with planctl apply --export-records DIR")
        if repair_jsonl(directory / name):
            raise TuningError(f"{directory / name}: corrupt JSON line(s)", hint="restore the file from git")
    digest = records_digest(directory)
    imported = store.read_json("imports.json")
    if digest in imported:
        return 0
    from tvm.s_tir import meta_schedule as ms

    source = ms.database.JSONDatabase(path_workload=str(directory / WORKLOAD_FILE),
                                      path_tuning_record=str(directory / RECORD_FILE), allow_missing=False)
    with store.lock():
        target_db = store.database()
        added = copy_records(source.get_all_tuning_records(), target_db)
        imported[digest] = {"source": str(directory), "records": added}
        store.write_json("imports.json", imported)
    return added


def copy_records(records, target_db) -> int:
    from tvm.s_tir import meta_schedule as ms

    added = 0
    for rec in records:
        workload = target_db.commit_workload(rec.workload.mod)
        target_db.commit_tuning_record(ms.database.TuningRecord(
            rec.trace, workload, rec.run_secs, rec.target, rec.args_info))
        added += 1
    return added


def export_best(database, workload_hashes: list[str], directory: Path, top_k: int = 1) -> int:
    """Write the best ``top_k`` records of each workload to a fresh record set in ``directory``.

    A workload whose every candidate failed keeps one failed record, so that the set says it was
    searched and a later apply does not search it again.
    """
    from tvm.s_tir import meta_schedule as ms

    from planctl.tuning.search import mean_seconds, records_by_workload

    directory.mkdir(parents=True, exist_ok=True)
    for name in (WORKLOAD_FILE, RECORD_FILE):
        (directory / name).unlink(missing_ok=True)
    out = ms.database.JSONDatabase(path_workload=str(directory / WORKLOAD_FILE),
                                   path_tuning_record=str(directory / RECORD_FILE), allow_missing=True)
    groups = records_by_workload(database)
    best = [rec for key in dict.fromkeys(workload_hashes)
            for rec in sorted(groups.get(key, []), key=mean_seconds)[:top_k]]
    return copy_records(best, out)
