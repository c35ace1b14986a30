"""Text tuning records: what a team reviews and commits beside a plan.

``*.jsonl`` (format 2): one record per line, sorted, canonical JSON (stable diffs). Each line holds
``format: 2``; the validity ``key`` (target dict and TVM versions, their digests, ``key_id``, the
target's name); the ``device`` that measured it (fingerprint and measurement settings, their
digests, ``device_id``, ``label``), which is provenance only; ``workload_hash`` and ``workload``
(base64 of TVM's JSON of the workload module, as TVM's JSONDatabase stores it); the record's
``trace``, ``run_secs``, ``target`` (TVM's JSON of the measured target) and ``args_info``;
``created`` (unix seconds); ``provenance``; and ``checksum`` = sha256 of the line's canonical JSON
without ``checksum``. Nothing in a line depends on the host that reads it.

Format 1 lines (one ``key`` of target, device, versions and measurement) are still read: their
checksum and key_id are verified as written, then the key is split into validity key and device.

Also read: the legacy directory format (TVM's ``database_workload.json`` +
``database_tuning_record.json``), which records neither device nor versions: those records get the
current key and this device, and a provenance note that says so. The readers need no TVM; a line
that fails to parse or to verify is skipped and reported, never loaded.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from planctl.errors import TuningError
from planctl.files import atomic_write_text
from planctl.tuning.digest import canonical
from planctl.tuning.keys import CacheKey, Device, split_v1, v1_key_id
from planctl.tuning.store import Record, Store
from planctl.tuning.store.record import min_of

FORMAT = 2
WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"
JSONL_NAME = "records.jsonl"
# what every record's provenance says (None where a legacy source did not record it)
PROVENANCE_FIELDS = ("plan", "plan_sha256", "host", "time", "seed", "task_trials")


@dataclass
class Parsed:
    """One sound line: its validity key, device, record and workload blob."""

    key: CacheKey
    device: Device
    record: Record
    workload: str


@dataclass
class ImportResult:
    """Lines read, records added (new to the store), the problems of the lines skipped, and the
    identities of every sound record read (planctl.tuning.census counts them as committed)."""

    source: str
    lines: int = 0
    added: int = 0
    usable: int = 0   # records read whole (added, or already in the store)
    problems: list[str] = field(default_factory=list)
    identities: set[str] = field(default_factory=set)


# what git leaves in a file two branches changed: a records file is machine-written, one record a line
CONFLICT_MARKERS = ("<<<<<<< ", "=======", ">>>>>>> ", "||||||| ")


def has_conflict_markers(path: Path) -> bool:
    """Whether a records file (or one ``.jsonl`` in a folder) holds a git merge conflict's markers."""
    files = jsonl_files(path) if path.is_dir() else [path]
    return any(line.startswith(CONFLICT_MARKERS) for file in files
               for line in file.read_text(encoding="utf-8", errors="replace").splitlines())


def line_checksum(line: dict) -> str:
    return hashlib.sha256(canonical({k: v for k, v in line.items() if k != "checksum"}).encode()).hexdigest()


def to_line(rec: Record, key: CacheKey, device: Device, blob: str) -> dict:
    line = {"format": FORMAT, "key": key.to_dict(), "device": device.to_dict(), "workload_hash": rec.workload_hash,
            "workload": blob, "trace": rec.json("trace"), "run_secs": rec.json("run_secs"),
            "target": rec.json("target"), "args_info": rec.json("args_info"), "created": rec.created,
            "provenance": rec.json("provenance")}
    line["checksum"] = line_checksum(line)
    return line


def select(store: Store, key_ids: list[str] | None = None, workloads: list[str] | None = None,
           top_k: int | None = 1, device_ids: list[str] | None = None) -> list[Record]:
    """Best ``top_k`` records per (workload, key, device) (all when None), failed ones only where no valid one."""
    chosen: dict[tuple[str, str, str], list[Record]] = {}
    for rec in store.records(key_ids=key_ids, device_ids=device_ids, workloads=workloads):
        group = chosen.setdefault((rec.workload_hash, rec.key_id, rec.device_id), [])
        if top_k is None or len(group) < top_k:
            group.append(rec)
    return [rec for group in chosen.values() for rec in group]


def with_retimings(store: Store, records: list[Record]) -> list[Record]:
    """``records`` plus, for each one a re-timing session stored (``tune --refine``), that
    session's re-measured record of the old best (Store.retiming): the evidence that ranks the
    session's times above older records of the workload in a cache that holds them, and the time
    the winner beat."""
    out, seen = list(records), {rec.id for rec in records}
    for rec in records:
        evidence = store.retiming(rec)
        if evidence is not None and evidence.id not in seen:
            out.append(evidence)
            seen.add(evidence.id)
    return out


def export_jsonl(store: Store, path: Path, records: list[Record]) -> int:
    """Write ``records`` and their re-timings (:func:`with_retimings`) to ``path`` as sorted JSON
    lines (atomic replace); returns the line count."""
    keys, devices = store.keys(), store.devices()
    lines = []
    for rec in with_retimings(store, records):
        blob = store.workload(rec.workload_hash)
        if blob is not None:
            lines.append(canonical(to_line(rec, keys[rec.key_id], devices[rec.device_id], blob)))
    lines.sort(key=lambda text: _sort_key(json.loads(text)))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def _sort_key(line: dict):
    return (line["key"]["key_id"], line["workload_hash"], line["device"]["device_id"],
            min_of(line["run_secs"]), line["checksum"])


def export_tvm_json(store: Store, directory: Path, records: list[Record]) -> int:
    """The same records as a TVM JSONDatabase pair in ``directory`` (for plain TVM tooling)."""
    directory.mkdir(parents=True, exist_ok=True)
    order = sorted({rec.workload_hash for rec in records})
    index = {h: i for i, h in enumerate(order)}
    workloads = "".join(json.dumps([h, store.workload(h)]) + "\n" for h in order)
    lines = "".join(json.dumps([index[r.workload_hash], [r.json("trace"), r.json("run_secs"), r.json("target"),
                                                          r.json("args_info")]]) + "\n"
                    for r in sorted(records, key=lambda r: (index[r.workload_hash], r.min_s, r.checksum)))
    (directory / WORKLOAD_FILE).write_text(workloads)
    (directory / RECORD_FILE).write_text(lines)
    return len(records)


def read_jsonl(path: Path, verify_workload=None) -> tuple[list[Parsed], ImportResult]:
    """Parse and verify a JSONL record file (format 1 or 2) without loading it anywhere.
    ``verify_workload(hash, blob) -> bool`` (optional, needs TVM) recomputes the structural hash.
    Raises TuningError only when the file cannot be read."""
    result = ImportResult(source=str(path))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise TuningError(f"{path}: cannot read tuning records: {exc}") from exc
    parsed = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        result.lines += 1
        found = _parse_line(raw, verify_workload)
        if isinstance(found, str):
            result.problems.append(f"{path}:{number}: {found}; line skipped")
            continue
        parsed.append(found)
        result.identities.add(found.record.identity())
    return parsed, result


def import_jsonl(store: Store, path: Path, verify_workload=None) -> ImportResult:
    """Verify and load a JSONL record file (see :func:`read_jsonl`)."""
    parsed, result = read_jsonl(path, verify_workload)
    for item in {p.key.key_id: p.key for p in parsed}.values():
        store.ensure_key(item)
    for item in {p.device.device_id: p.device for p in parsed}.values():
        store.ensure_device(item)
    for p in parsed:
        store.put_workload(p.record.workload_hash, p.workload)
    result.added, result.usable = store.add([p.record for p in parsed]), len(parsed)
    _note(store, path.read_text(encoding="utf-8", errors="replace"), result)
    return result


def _parse_line(raw: str, verify_workload) -> Parsed | str:
    """The line's key, device, record and workload blob, or the reason the line is unusable."""
    try:
        line = json.loads(raw)
        if not isinstance(line, dict) or not {"checksum", "key", "workload_hash"} <= line.keys():
            what = type(line).__name__ if not isinstance(line, dict) else "object without checksum, key, workload_hash"
            return f"not a tuning record (a JSON {what}; planctl cache export and tune --write-records write them)"
        if line.get("checksum") != line_checksum(line):
            return "checksum mismatch (edited or truncated record)"
        if "device" in line:
            key, device = CacheKey.from_dict(line["key"]), Device.from_dict(line["device"])
            if key.key_id != line["key"].get("key_id") or device.device_id != line["device"].get("device_id"):
                return "key or device components do not hash to the stated ids"
        else:  # format 1: one key of four components
            if v1_key_id(line["key"]) != line["key"].get("key_id"):
                return "key components do not hash to the stated key_id"
            key, device = split_v1(line["key"])
        if verify_workload is not None and not verify_workload(line["workload_hash"], line["workload"]):
            return f"workload does not hash to {line['workload_hash']}"
        rec = Record.new(key.key_id, device.device_id, line["workload_hash"], line["trace"], line["run_secs"],
                         line["target"], line["args_info"], line["provenance"], created=float(line["created"]))
        return Parsed(key, device, rec, line["workload"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unreadable record ({type(exc).__name__}: {exc})"


def import_legacy(store: Store, directory: Path, key: CacheKey, device: Device, provenance: dict) -> ImportResult:
    """Load a TVM JSONDatabase directory under ``key`` and ``device`` (the current ones). Records
    measured for a target other than ``key.target`` are skipped and reported. Raises TuningError
    when a file is missing."""
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
        records.append(Record.new(key.key_id, device.device_id, workload_hash, trace, run_secs, target, args_info,
                                  note, created=0.0))
    store.ensure_key(key)
    store.ensure_device(device)
    result.added, result.usable = store.add(records), len(records)
    result.identities = {rec.identity() for rec in records}
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


def jsonl_files(path: Path) -> list[Path]:
    """The JSONL record files ``path`` names: the file itself, or a directory's ``*.jsonl`` files
    (sorted). Empty for a directory in TVM's JSONDatabase format."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.jsonl") if p.is_file()) if path.is_dir() else []


def import_any(store: Store, path: Path, key: CacheKey | None, device: Device | None, provenance: dict,
               verify_workload=None, allow_empty: bool = False) -> ImportResult:
    """A ``.jsonl`` file, a directory of them (one per target, say), or a legacy directory (which
    must hold TVM's two JSONDatabase files; it needs ``key`` and ``device``). Raises TuningError for
    a missing path, a Git LFS pointer, or a file that yields no usable record (an empty import
    would silently turn into a full search); an empty directory too, unless ``allow_empty`` (the
    first ``planctl tune --write-records`` of a new plan fills it)."""
    if not path.exists():
        raise TuningError(f"tuning records {path} do not exist", hint="export them with planctl cache export")
    if path.is_dir() and not any(path.iterdir()):
        if allow_empty:
            return ImportResult(source=str(path))
        raise TuningError(f"tuning records folder {path} is empty",
                          hint="`planctl tune PLAN --target TARGET --write-records` searches and writes "
                               "<folder>/<target>.jsonl")
    refuse_lfs_pointers(path)
    files = jsonl_files(path)
    if not files:
        if key is None or device is None:
            raise TuningError(f"{path} is a TVM JSONDatabase directory: name the target it was tuned for",
                              hint="add --target NAME")
        return require_usable(import_legacy(store, path, key, device, provenance))
    total = ImportResult(source=str(path))
    for file in files:   # every file the plan commits must hold records: none may be silently empty
        part = require_usable(import_jsonl(store, file, verify_workload))
        total.lines += part.lines
        total.added += part.added
        total.usable += part.usable
        total.problems += part.problems
        total.identities |= part.identities
    return total


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
