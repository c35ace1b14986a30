"""``check`` as a function: read the plans and their targets, run the selected rules on each
clean plan, apply waivers, and return a :class:`Report`. No TVM, numpy or hypothesis."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from planctl.rules import inputs, waivers
from planctl.rules.capabilities import load_table
from planctl.rules.config import CheckConfig, load_config
from planctl.rules.context import PlanContext, Repo
from planctl.rules.findings import UNUSED_WAIVER, from_violation, unused_waiver
from planctl.rules.registry import load_rules
from planctl.rules.report import Report
from planctl.rules.selection import Selection


@dataclass(frozen=True)
class Options:
    """How to check: ``today`` is injectable so results never depend on the run's date."""

    root: Path = Path(".")
    selection: Selection = field(default_factory=Selection)
    use_waivers: bool = True
    today: dt.date | None = None
    config: CheckConfig | None = None
    fail_level: str = "error"


def check(paths: list[Path], options: Options) -> Report:
    """Check ``paths`` (every ``plans/*.yaml`` under the root when empty)."""
    root = options.root
    docs = [inputs.read(p) for p in (paths or inputs.repo_plans(root))]
    plans = {p.path.resolve(): p for p in docs if p.kind not in ("Target", "Lock")}
    targets, escaping = _targets([d.loaded for d in plans.values() if d.loaded], root, docs)
    repo = Repo(root, {k: d.loaded for k, d in plans.items() if d.loaded},
                lambda: inputs.load_quietly([p for p in inputs.repo_plans(root)
                                             if p.resolve() not in plans]))
    base = dict(repo=repo, table=load_table(), config=options.config or load_config(root),
                today=options.today or dt.date.today(), root=root)
    every = list({id(d): d for d in [*docs, *targets.values()] if d is not None}.values())
    findings = [f for d in every for f in d.findings]
    for doc in plans.values():
        if doc.loaded is not None:
            findings += _plan_findings(doc.loaded, targets, escaping, base, options)
    findings = [f for f in findings if options.selection.wants(f.rule)]
    # the targets the plans name and those given as paths (their schema findings are above)
    checked_targets = {d.path.resolve() for d in [*targets.values(), *docs] if d is not None and d.kind == "Target"}
    report = Report(root, sorted(findings, key=lambda f: f.sort_key()), plans=len(plans),
                    targets=len(checked_targets),
                    fail_level=options.fail_level)
    report.unparsable = any(d.unparsable for d in every)
    return report


def _targets(plans, root: Path, docs) -> tuple[dict[str, inputs.Document | None], set[str]]:
    """name -> Document of every target the plans name (None when there is no such file, or when
    it is a symlink out of the root: such a file is never read, PLN220 reports it), and the names
    of those symlinks."""
    given = {d.path.resolve(): d for d in docs}
    out: dict[str, inputs.Document | None] = {}
    escaping: set[str] = set()
    for plan in plans:
        for name in plan.model.spec.targets:
            if name not in out:
                path = inputs.target_path(name, root)
                if path is not None and not path.resolve().is_relative_to(Path(root).resolve()):
                    escaping.add(name)
                    path = None
                out[name] = None if path is None else given.get(path.resolve()) or inputs.read(path)
    return out, escaping


def _plan_findings(loaded, targets, escaping, base, options: Options) -> list:
    rules = [r for r in load_rules().values() if options.selection.wants(r.id)
             and (options.use_waivers or r.waivable)]  # the waiver rules are off with --no-waivers
    names = loaded.model.spec.targets
    ctx = PlanContext(loaded, {n: targets[n].loaded for n in names if targets.get(n)},
                      missing_targets=tuple(n for n in names if targets.get(n) is None),
                      escaping_targets=tuple(n for n in names if n in escaping), **base)
    found = [from_violation(r, v, loaded) for r in rules for v in r.check(ctx)]
    if not options.use_waivers:
        return found
    ran = {r.id for r in rules if r.waivable and not r.unwaivable}
    found, unused = waivers.apply(found, waivers.waivers_of(loaded.model), ctx.today, ran)
    if options.selection.wants(UNUSED_WAIVER):
        found += [unused_waiver(w, loaded) for w in unused]
    return found
