"""``planctl cache ls|show|verify|prune|export|import|migrate``: inspect and govern the tuning cache.

Data goes to stdout (``--output json`` for machines), problems to stderr. ``verify`` exits 1 when
it quarantined anything. Only ``import`` of the legacy directory format and ``verify --deep`` import TVM.
``--cache`` is a folder (SQLite) or a ``postgresql://`` URL; messages show a URL with its password masked.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import click

from planctl.errors import TuningError
from planctl.tuning.store.tables import SCHEMA_VERSION


class CacheDamaged(TuningError):
    """``cache verify`` found damaged rows or a damaged file (they were quarantined)."""

    exit_code = 1


def _store(ctx: click.Context, create: bool = True, repair: bool = True):
    """The store of ``--cache``; commands that do not add records pass ``create=False`` so that a
    mistyped path is an error (exit 2) rather than a new, empty cache; those that only read also
    pass ``repair=False``, so a damaged file is reported, not moved aside."""
    from planctl.tuning.store import Store, resolve_cache

    store = Store.open(resolve_cache(ctx.obj["cache_dir"]), create=create, repair=repair)
    if store.migrated_from is not None:
        click.echo(f"planctl cache: migrated {store.where} from schema {store.migrated_from} to {SCHEMA_VERSION}",
                   err=True)
    for problem in store.problems:
        click.echo(f"planctl cache: {problem}", err=True)
    return store


def _emit(data, output: str, text: str) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True) if output == "json" else text)


OUTPUT = click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)


@click.group("cache")
@click.option("--cache", "cache_dir", default=None, metavar="DIR|URL",
              help="Tuning cache: a folder (SQLite) or a postgresql:// URL (a shared cache; its password from "
                   "$PGPASSWORD, ~/.pgpass or a pg_service.conf service) [default: $PLANCTL_CACHE or .planctl/cache].")
@click.pass_context
def command(ctx: click.Context, cache_dir: str | None) -> None:
    """Inspect, verify, prune, export and import the tuning cache."""
    ctx.ensure_object(dict)
    ctx.obj["cache_dir"] = cache_dir


@command.command("ls")
@OUTPUT
@click.pass_context
def ls(ctx: click.Context, output: str) -> None:
    """One line per validity key (target, TVM versions) and device that measured its records
    (provenance): workloads, records (valid)."""
    store = _store(ctx, create=False, repair=False)
    keys, devices = store.keys(), store.devices()
    rows = []
    for found in store.key_device_summary():
        key, device = keys.get(found["key_id"]), devices.get(found["device_id"])
        rows.append({**found, "target_name": key.target_name if key else None, "target": key.target if key else None,
                     "versions": key.versions if key else None,
                     "measured_on": device.label if device else None,
                     "device": device.device if device else None,
                     "measurement": device.measurement if device else None})
    text = "\n".join([f"cache {store.where} ({store.size_bytes():,} bytes, schema {SCHEMA_VERSION})"] + [
        f"  key {r['key_id']}  {r['target_name'] or '-':<16} {json.dumps(r['target'], sort_keys=True)}  "
        f"tvm={(r['versions'] or {}).get('apache-tvm')}\n"
        f"    measured on {r['measured_on']} (device {r['device_id']})  workloads={r['workloads']} "
        f"records={r['records']} (valid {r['valid']})" for r in rows])
    _emit({"cache": store.where, "schema_version": SCHEMA_VERSION, "keys": rows}, output, text)


@command.command("show")
@click.argument("ident")
@OUTPUT
@click.pass_context
def show(ctx: click.Context, ident: str, output: str) -> None:
    """Records of a workload hash, a key id or a device id (a unique prefix is enough), best first."""
    store = _store(ctx, create=False, repair=False)
    records = store.find(ident)
    if not records:
        raise TuningError(f"no record matches '{ident}'", hint="planctl cache ls lists the keys and devices")
    keys, devices = store.keys(), store.devices()
    data = [{"id": r.id, "key_id": r.key_id, "target_name": keys[r.key_id].target_name,
             "target": keys[r.key_id].target, "versions": keys[r.key_id].versions,
             "device_id": r.device_id, "measured_on": devices[r.device_id].label,
             "workload_hash": r.workload_hash, "min_ms": r.min_s * 1e3 if r.valid else None,
             "run_secs": r.json("run_secs"), "created": r.created, "provenance": r.json("provenance"),
             "checksum": r.checksum} for r in records]
    text = "\n".join(f"{d['workload_hash']}  key {d['key_id']} ({d['target_name']})  {_ms(d['min_ms'])}  "
                     f"measured on {d['measured_on']} (device {d['device_id']})  "
                     f"{json.dumps(d['provenance'], sort_keys=True)}" for d in data)
    _emit(data, output, text)


def _ms(value: float | None) -> str:
    return "failed" if value is None else f"{value:.4f} ms"


@command.command("verify")
@click.option("--deep", is_flag=True, help="Also recompute each workload's TVM structural hash (imports TVM).")
@OUTPUT
@click.pass_context
def verify(ctx: click.Context, deep: bool, output: str) -> None:
    """Check the file and every checksum; damaged rows are quarantined. Exit 1 when any was found."""
    store = _store(ctx, create=False)
    records = store.records()
    hashes = sorted(store.workload_hashes())
    bad_hashes = [h for h in hashes if store.workload(h) is None]
    if deep:
        from planctl.tuning.database import workload_hash_holds

        bad_hashes += [h for h in hashes if h not in bad_hashes and not workload_hash_holds(h, store.workload(h))]
        for h in bad_hashes:
            store.problems.append(f"workload {h}: does not hash to its key")
    data = {"cache": store.where, "records_ok": len(records), "workloads": len(hashes),
            "problems": store.problems}
    _emit(data, output, f"{len(records)} records and {len(hashes)} workloads checked; "
                        f"{len(store.problems)} problem(s)" + "".join(f"\n  {p}" for p in store.problems))
    if store.problems:
        raise CacheDamaged(f"{len(store.problems)} problem(s) found and quarantined in {store.where}",
                           hint="the quarantine table keeps the damaged rows; the next apply re-tunes those tasks")


@command.command("prune")
@click.option("--keep", default=None, type=click.IntRange(min=1), help="Best records kept per workload and key.")
@click.option("--max-age-days", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Drop records (and search log folders) stored longer ago than this (> 0).")
@click.option("--max-bytes", default=None, type=click.IntRange(min=1), help="Size cap of the records' payload.")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@OUTPUT
@click.pass_context
def prune(ctx: click.Context, keep, max_age_days, max_bytes, dry_run: bool, output: str) -> None:
    """Evict: beyond the best K per workload and key, older than the age limit, over the size cap."""
    from planctl.tuning import eviction

    store = _store(ctx, create=False)
    if max_age_days is not None and not math.isfinite(max_age_days):
        raise click.BadParameter("must be a finite number of days", param_hint="--max-age-days")
    result = eviction.prune(store, keep=eviction.DEFAULT_KEEP if keep is None else keep,
                            max_age_days=eviction.DEFAULT_MAX_AGE_DAYS if max_age_days is None else max_age_days,
                            max_bytes=eviction.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
                            dry_run=dry_run)
    _emit(result.to_dict(), output, result.summary("would remove" if dry_run else "removed"))


@command.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_ids", multiple=True, help="Only these key ids (prefixes allowed).")
@click.option("--target-name", default=None, help="Only keys of this target document name.")
@click.option("--workload", "workloads", multiple=True, help="Only these workload hashes.")
@click.option("--top-k", default=1, show_default=True, type=click.IntRange(min=0),
              help="Best records per workload, key and device; 0 exports every record.")
@click.pass_context
def export(ctx: click.Context, file: Path, key_ids, target_name, workloads, top_k: int) -> None:
    """Write records as sorted, checksummed JSON lines for review and commit beside a plan (format 2:
    each line holds its validity key and the device that measured it)."""
    from planctl.tuning import records as record_files

    store = _store(ctx, create=False, repair=False)
    chosen = [k for k, key in store.keys().items()
              if (not key_ids or any(k.startswith(p) for p in key_ids))
              and (target_name is None or key.target_name == target_name)]
    recs = record_files.select(store, chosen, list(workloads) or None, top_k=top_k or None)
    count = record_files.export_jsonl(store, file, recs)
    click.echo(f"wrote {count} record(s) of {len(chosen)} key(s) to {file}", err=True)


@command.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--target", "target_name", default=None,
              help="Target document the records were tuned for (needed for TVM's JSONDatabase directory format).")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Repository root holding targets/.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Plan the records were tuned for: its name, digest and seed go into the provenance "
                   "of records from the directory format.")
@click.pass_context
def import_(ctx: click.Context, source: Path, target_name: str | None, root: Path, plan_file: Path | None) -> None:
    """Verify and load a JSONL record file (or a TVM JSONDatabase directory with --target)."""
    from planctl.tuning import records as record_files

    store = _store(ctx)
    if source.is_dir() and not record_files.jsonl_files(source):
        if target_name is None:
            raise TuningError(f"{source} is a TVM JSONDatabase directory: name the target it was tuned for",
                              hint="add --target NAME")
        record_files.refuse_lfs_pointers(source)
        result = record_files.require_usable(record_files.import_legacy(
            store, source, *_key(target_name, root),
            {"imported": time.strftime("%Y-%m-%d"), "path": str(source), **_plan_provenance(plan_file)}))
    else:
        result = record_files.import_any(store, source, None, None, {})
    for problem in result.problems:
        click.echo(f"planctl cache: {problem}", err=True)
    click.echo(f"{result.added} new record(s) of {result.lines} line(s) from {source}", err=True)
    if result.problems and source.exists() and record_files.has_conflict_markers(source):
        raise CacheDamaged(f"{len(result.problems)} line(s) of {source} were not loaded (the {result.added} whole "
                           "record(s) were): it holds a git merge conflict's markers",
                           hint="resolve the conflict by keeping both sides' lines (each line is one record; the "
                                "cache keeps the fastest per task), then import it again")
    if result.problems:
        raise CacheDamaged(f"{len(result.problems)} record(s) of {source} were not loaded")


def _key(target_name: str, root: Path):
    """The validity key of ``target_name`` and this device (the legacy format records neither)."""
    from planctl.documents.load import find_target, load_target
    from planctl.tuning.keys import make_key, this_device

    spec = load_target(find_target(target_name, root)).model.spec
    return make_key(spec.tvm, target_name), this_device(spec.tvm, spec.measurement.model_dump())


def _plan_provenance(plan_file: Path | None) -> dict:
    if plan_file is None:
        return {}
    from planctl.documents.load import load_plan
    from planctl.documents.techniques import autotuning

    plan = load_plan(plan_file)
    tuning = autotuning(plan.model.spec, enabled_only=False)
    return {"plan": plan.model.metadata.name, "plan_sha256": plan.sha256,
            "seed": tuning.seed if tuning is not None else None}


@command.command("migrate")
@click.option("--to", "destination", required=True, metavar="URL|DIR",
              help="The cache to copy into: a postgresql:// URL (its password from $PGPASSWORD, ~/.pgpass or a "
                   "pg_service.conf service, never the command line) or a folder.")
@OUTPUT
@click.pass_context
def migrate(ctx: click.Context, destination: str, output: str) -> None:
    """Copy this cache (``--cache``, e.g. an engineer's SQLite file) into another (a team's PostgreSQL
    database): validity keys, devices, workloads and records with their provenance, sessions,
    import notes and quarantined rows. Checksums are verified on the way (a damaged row is
    quarantined here, not copied); records already there (same identity) are skipped, so running
    it again copies only what is new. The source is left as it was."""
    from planctl.tuning.store import Store, resolve_cache

    target = resolve_cache(destination)
    source = _store(ctx, create=False)
    if target.url == source.location.url:
        raise TuningError(f"--to names the cache being copied ({source.where})", hint="name another cache")
    into = Store.open(target)
    try:
        copied = source.copy_into(into)
    finally:
        into.close()
    for problem in source.problems:
        click.echo(f"planctl cache: {problem}", err=True)
    data = {"from": source.where, "to": target.shown, **copied}
    _emit(data, output, f"copied {copied['records']} new record(s) of {copied['records_read']} sound, "
                        f"{copied['workloads']} workload(s), {copied['keys']} key(s), {copied['devices']} device(s), "
                        f"{copied['sessions']} session(s) from {source.where} to {target.shown}")
    if source.problems:
        raise CacheDamaged(f"{len(source.problems)} damaged row(s) of {source.where} were quarantined, not copied")
