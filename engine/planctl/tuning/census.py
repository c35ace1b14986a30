"""Where each tuning task's schedule will come from, decided before any search, and the lines
that say so (what ``apply`` prints before it searches and ``planctl plan`` prints instead).

A task (one workload hash) is, in this order:

- ``cache``: served by records measured on this device that were not read from the plan's
  committed records (an earlier search or re-measurement here);
- ``committed``: served by the plan's committed records: measured on this device, or (under the
  target's ``other_device_records: serve``, the default) on another one, which is named;
- ``other-devices``: served by valid records from the cache (not the committed file) measured on
  another device, e.g. a store another machine writes to (under ``serve``); the device is named;
- ``re-measure``: only other devices' records, and the policy is ``re-measure``: the best few
  are timed here first (within the budget);
- ``drift``: only records of another TVM version (re-measured with ``--allow-version-drift``,
  else searched);
- ``search``: nothing usable, or the policy is ``search``: searched here within the budget.

A task whose every record is a failure mark (every candidate failed to build or run) counts as
served by whoever searched it: the marks say it was searched, and a second apply spends no trials
on it (its kernel keeps TVM's default schedule, and the report counts it unscheduled).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from planctl.tuning.scope import HERE, Scope

SOURCES = ("cache", "committed", "other-devices", "re-measure", "drift", "search", "default")
WORDS = {"cache": "served by the cache", "committed": "by the committed records",
         "other-devices": "by other devices' records in the cache", "re-measure": "to re-measure here",
         "drift": "only another TVM version's records", "search": "left to search",
         "default": "kept on TVM's default schedule (outside the budget's max_tasks)"}


@dataclass
class TaskSource:
    """One task's source; ``device_id``: the device of the record that will serve it (None when
    nothing serves yet); ``best_s``: its fastest timed repeat in seconds on that device."""

    task: str
    workload_hash: str
    source: str
    device_id: str | None = None
    key_id: str | None = None
    best_s: float | None = None
    measured_on: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def classify(tasks: list[tuple[str, str]], rows: list[dict], scope: Scope, committed: set[str],
             drift_rows: list[dict] | None = None) -> list[TaskSource]:
    """``tasks``: (task name, workload hash); ``rows``: records of the serving keys (Store.serving_rows,
    plus the committed file's when it is not loaded yet); ``committed``: identities of the
    committed records; ``drift_rows``: records of other TVM versions."""
    by_workload: dict[str, list[dict]] = {}
    for row in rows:
        if row["key_id"] in scope.serving:
            by_workload.setdefault(row["workload_hash"], []).append(row)
    drifted = {row["workload_hash"] for row in drift_rows or []}
    out = []
    for name, workload in tasks:
        mine = [r for r in by_workload.get(workload, []) if r["device_id"] == scope.device_id]
        theirs = [r for r in by_workload.get(workload, []) if r["device_id"] != scope.device_id]
        if mine:
            source = "cache" if any(r["identity"] not in committed for r in mine) else "committed"
            best = _best(mine)
        elif theirs and scope.policy == "serve":
            best = _best(theirs)
            source = "committed" if best["identity"] in committed else "other-devices"
        elif theirs:
            source, best = scope.policy, None  # re-measure | search
        else:
            source, best = ("drift" if workload in drifted else "search"), None
        out.append(TaskSource(name, workload, source, best and best["device_id"], best and best["key_id"],
                              best["min_s"] if best and best["valid"] else None,
                              scope.measured_on(best["device_id"]) if best else None))
    return out


def _best(rows: list[dict]) -> dict:
    """Valid before failed, current before superseded (planctl.tuning.store.db), then the fastest."""
    return min(rows, key=lambda r: (not r["valid"], not r.get("current", True), r["min_s"]))


def counts(sources: list[TaskSource]) -> dict[str, int]:
    found = Counter(s.source for s in sources)
    return {name: found.get(name, 0) for name in SOURCES}


def elsewhere(sources: list[TaskSource]) -> dict[str, int]:
    """{device label: tasks its records serve} for the tasks served by records another device
    measured (committed or cached)."""
    return dict(Counter(s.measured_on for s in sources
                        if s.source in ("committed", "other-devices") and s.measured_on not in (None, HERE)))


def render(shape: str, sources: list[TaskSource], budget: dict | None, allow_drift: bool = False,
           lead: str = "tuning at", again: tuple[str, ...] = ()) -> list[str]:
    """The lines apply prints before it searches one production shape (``shape`` as ``batch=2``):
    the tasks per source, the devices named, and (with ``budget``) the search's trials and
    wall-clock ceiling; ``again``: served tasks searched again (``planctl tune --refine``)."""
    n = counts(sources)
    parts = [f"{n['cache']} {WORDS['cache']}", f"{n['committed']} {WORDS['committed']}",
             f"{n['other-devices']} {WORDS['other-devices']}"]
    parts += [f"{n[s]} {WORDS[s]}" for s in ("re-measure", "drift") if n[s]]
    parts.append(f"{n['search']} {WORDS['search']}")
    if n["default"]:
        parts.append(f"{n['default']} {WORDS['default']}")
    lines = [f"{lead} {shape}: {len(sources)} tasks: " + ", ".join(parts)]
    devices = elsewhere(sources)
    if devices:   # every served task's measuring device, this host's too, so the counts add up
        here = sum(1 for s in sources if s.source in ("cache", "committed") and s.measured_on == HERE)
        devices = {**devices, **({HERE: here} if here else {})}
        lines.append("  the serving records were measured on " + "; ".join(f"{label} ({count} task{'s' * (count != 1)})"
                                                  for label, count in sorted(devices.items())))
    work = n["search"] + n["re-measure"] + (n["drift"] if allow_drift else 0) + len(again)
    if again:
        lines.append(f"  searched again though served (--refine), from their records: {', '.join(again)}")
    if budget:
        ceiling = f"at most {budget['trials']} trials ({budget['trials_per_task']} per task), " \
                  f"wall-clock ceiling {budget['wall_clock_s']:g} s"
        lines.append(f"  search: {ceiling}" if work else "  search: none (no trial will run)")
    return lines


def print_lines(lines: list[str], command: str = "apply") -> None:
    """Write ``lines`` to stderr as the progress of ``planctl <command>`` (always, not only on a
    terminal: no search may start unannounced)."""
    import sys

    sys.stderr.write("".join(f"planctl {command}: {line}\n" for line in lines))
    sys.stderr.flush()


def common_notes(per_bucket: list[list[str]]) -> list[str]:
    """The search notes every bucket made, in the first bucket's order (said once by ``planctl tune``
    and report.md's Tuning section)."""
    return [n for n in (per_bucket[0] if per_bucket else []) if all(n in other for other in per_bucket[1:])]
