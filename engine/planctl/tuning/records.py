"""Text tuning records: what a team reviews and commits beside a plan.

``*.jsonl``: one record per line, sorted, canonical JSON (stable diffs). Each line holds the key
(components, their digests, ``key_id``), ``workload_hash`` and ``workload`` (base64 of TVM's JSON of
the workload module, as TVM's JSONDatabase stores it), the record's ``trace``, ``run_secs``,
``target`` (TVM's JSON of the measured target) and ``args_info``, ``created`` (unix seconds),
``provenance``, and ``checksum`` = sha256 of the line's canonical JSON without ``checksum``.

Also read: the legacy directory format (TVM's ``database_workload.json`` +
``database_tuning_record.json``), which records neither device nor versions: those records get the
current key and a provenance note that says so. Both readers need no TVM; a line that fails to parse
or to verify is skipped and reported, never loaded.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from planctl.errors import TuningError
from planctl.files import atomic_write_text
from planctl.tuning.digest import canonical
from planctl.tuning.keys import CacheKey
from planctl.tuning.store import Record, Store

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"
JSONL_NAME = "records.jsonl"
# what every record's provenance says (None where a legacy source did not record it)
PROVENANCE_FIELDS = ("plan", "plan_sha256", "host", "time", "seed", "task_trials")


@dataclass
class ImportResult:
    """Lines read, records added (new to the store), and the problems of the lines skipped."""

    source: str
    lines: int = 0
    added: int = 0
    usable: int = 0   # records read whole (added, or already in the store)
    problems: list[str] = field(default_factory=list)


def line_checksum(line: dict) -> str:
    return hashlib.sha256(canonical({k: v for k, v in line.items() if k != "checksum"}).encode()).hexdigest()


def to_line(rec: Record, key: CacheKey, blob: str) -> dict:
    line = {"key": key.to_dict(), "workload_hash": rec.workload_hash, "workload": blob,
            "trace": rec.json("trace"), "run_secs": rec.json("run_secs"), "target": rec.json("target"),
            "args_info": rec.json("args_info"), "created": rec.created, "provenance": rec.json("provenance")}
    line["checksum"] = line_checksum(line)
    return line


def select(store: Store, key_ids: list[str] | None = None, workloads: list[str] | None = None,
           top_k: int | None = 1) -> list[Record]:
    """Best ``top_k`` records per (workload, key) (all when None), failed ones only where no valid one."""
    where, args = ["1"], []
    if key_ids is not None:
        where.append(f"key_id IN ({','.join('?' * len(key_ids))})")
        args += key_ids
    if workloads is not None:
        where.append(f"workload_hash IN ({','.join('?' * len(workloads))})")
        args += workloads
    chosen: dict[tuple[str, str], list[Record]] = {}
    for rec in store.records(" AND ".join(where), tuple(args)):
        group = chosen.setdefault((rec.workload_hash, rec.key_id), [])
        if top_k is None or len(group) < top_k:
            group.append(rec)
    return [rec for group in chosen.values() for rec in group]


def export_jsonl(store: Store, path: Path, records: list[Record]) -> int:
    """Write ``records`` to ``path`` as sorted JSON lines (atomic replace); returns the line count."""
    keys = store.keys()
    lines = []
    for rec in records:
        blob = store.workload(rec.workload_hash)
        if blob is not None:
            lines.append(canonical(to_line(rec, keys[rec.key_id], blob)))
    lines.sort(key=lambda text: _sort_key(json.loads(text)))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def _sort_key(line: dict):
    return (line["key"]["key_id"], line["workload_hash"], sum(line["run_secs"] or [1e10]), line["checksum"])


def export_tvm_json(store: Store, directory: Path, records: list[Record]) -> int:
    """The same records as a TVM JSONDatabase pair in ``directory`` (for plain TVM tooling)."""
    directory.mkdir(parents=True, exist_ok=True)
    order = sorted({rec.workload_hash for rec in records})
    index = {h: i for i, h in enumerate(order)}
    workloads = "".join(json.dumps([h, store.workload(h)]) + "\n" for h in order)
    lines = "".join(json.dumps([index[r.workload_hash], [r.json("trace"), r.json("run_secs"), r.json("target"),
                                                          r.json("args_info")]]) + "\n"
                    for r in sorted(records, key=lambda r: (index[r.workload_hash], r.mean_s, r.checksum)))
    (directory / WORKLOAD_FILE).write_text(workloads)
    (directory / RECORD_FILE).write_text(lines)
    return len(records)


def import_jsonl(store: Store, path: Path, verify_workload=None) -> ImportResult:
    """Verify and load a JSONL record file. ``verify_workload(hash, blob) -> bool`` (optional, needs
    TVM) recomputes the structural hash. Raises TuningError only when the file cannot be read."""
    result = ImportResult(source=str(path))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise TuningError(f"{path}: cannot read tuning records: {exc}") from exc
    records, keys = [], {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        result.lines += 1
        parsed = _parse_line(raw, verify_workload)
        if isinstance(parsed, str):
            result.problems.append(f"{path}:{number}: {parsed}; line skipped")
            continue
        key, rec, blob = parsed
        keys[key.key_id] = key
        store.put_workload(rec.workload_hash, blob)
        records.append(rec)
    for key in keys.values():
        store.ensure_key(key)
    result.added, result.usable = store.add(records), len(records)
    _note(store, text, result)
    return result


def _parse_line(raw: str, verify_workload):
    """(key, record, workload blob) or the reason the line is unusable."""
    try:
        line = json.loads(raw)
        if line.get("checksum") != line_checksum(line):
            return "checksum mismatch (edited or truncated record)"
        key = CacheKey.from_dict(line["key"])
        if key.key_id != line["key"].get("key_id"):
            return "key components do not hash to the stated key_id"
        if verify_workload is not None and not verify_workload(line["workload_hash"], line["workload"]):
            return f"workload does not hash to {line['workload_hash']}"
        rec = Record.new(key.key_id, line["workload_hash"], line["trace"], line["run_secs"], line["target"],
                         line["args_info"], line["provenance"], created=float(line["created"]))
        return key, rec, line["workload"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unreadable record ({type(exc).__name__}: {exc})"


def import_legacy(store: Store, directory: Path, key: CacheKey, provenance: dict) -> ImportResult:
    """Load a TVM JSONDatabase directory under ``key`` (the current one). Records measured for a
    target other than ``key.target`` are skipped and reported. Raises TuningError when a file is missing."""
    result = ImportResult(source=str(directory))
    for name in (WORKLOAD_FILE, RECORD_FILE):
        if not (directory / name).is_file():
            raise TuningError(f"{directory}: committed tuning records lack {name}",
                              hint="export them with planctl cache export FILE.jsonl")
    workloads = _legacy_workloads(store, directory / WORKLOAD_FILE, result)
    note = {**{name: None for name in PROVENANCE_FIELDS}, **provenance, "source": "legacy TVM JSONDatabase",
            "assumed": "device and TVM versions (the format records neither): the importing machine's"}
    records = []
    for number, raw in enumerate((directory / RECORD_FILE).read_text(errors="replace").splitlines(), 1):
        if not raw.strip():
            continue
        result.lines += 1
        where = f"{directory / RECORD_FILE}:{number}"
        try:
            index, (trace, run_secs, target, args_info) = json.loads(raw)
            workload_hash = workloads[index]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            result.problems.append(f"{where}: unreadable record ({type(exc).__name__}); line skipped")
            continue
        if not _same_target(target, key.target):
            result.problems.append(f"{where}: measured for {json.dumps(target)}, not {json.dumps(key.target)}; "
                                   "line skipped")
            continue
        records.append(Record.new(key.key_id, workload_hash, trace, run_secs, target, args_info, note, created=0.0))
    store.ensure_key(key)
    result.added, result.usable = store.add(records), len(records)
    _note(store, (directory / WORKLOAD_FILE).read_text(errors="replace")
          + (directory / RECORD_FILE).read_text(errors="replace"), result)
    return result


def _legacy_workloads(store: Store, path: Path, result: ImportResult) -> dict[int, str]:
    """Line index -> workload hash; each workload is stored as it is read."""
    workloads = {}
    for index, raw in enumerate(path.read_text(errors="replace").splitlines()):
        try:
            workload_hash, blob = json.loads(raw)
        except (ValueError, TypeError):
            result.problems.append(f"{path}:{index + 1}: unreadable workload; its records are skipped")
            continue
        workloads[index] = str(workload_hash)
        store.put_workload(str(workload_hash), blob)
    return workloads


def _same_target(record_target: dict, target: dict) -> bool:
    """TVM exports a target with defaults (``keys``, ``tag``): compare the keys the document sets."""
    if not isinstance(record_target, dict):
        return False
    return all(record_target.get(k) == v for k, v in target.items() if k != "host")


def _note(store: Store, text: str, result: ImportResult) -> None:
    store.note_import(hashlib.sha256(text.encode()).hexdigest(), result.source, result.added)
    store.problems.extend(result.problems)


def import_any(store: Store, path: Path, key: CacheKey, provenance: dict, verify_workload=None) -> ImportResult:
    """A ``.jsonl`` file, or a legacy directory (which must hold TVM's two JSONDatabase files).
    Raises TuningError for a missing file, a Git LFS pointer, or a file that yields no usable
    record (an empty import would silently turn into a full search)."""
    if not path.exists():
        raise TuningError(f"tuning records {path} do not exist", hint="export them with planctl cache export")
    refuse_lfs_pointers(path)
    if path.is_dir():
        if (path / JSONL_NAME).is_file():
            return require_usable(import_jsonl(store, path / JSONL_NAME, verify_workload))
        return require_usable(import_legacy(store, path, key, provenance))
    return require_usable(import_jsonl(store, path, verify_workload))


def refuse_lfs_pointers(path: Path) -> None:
    """TuningError when ``path`` (or a file in it) is a Git LFS pointer instead of the records."""
    from planctl.files import lfs_pointer_problem

    for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
        problem = lfs_pointer_problem(file)
        if problem:
            raise TuningError(f"tuning records {file} are {problem}", hint="git lfs install && git lfs pull")


def require_usable(result: ImportResult) -> ImportResult:
    """``result`` when it read at least one whole record; else TuningError naming the first problems."""
    if result.usable:
        return result
    why = "; ".join(result.problems[:3]) or "the file holds no record"
    raise TuningError(f"tuning records {result.source} yield no usable record ({result.lines} line(s) read: {why})",
                      hint="re-export them with planctl cache export FILE.jsonl, or fix the records path")
