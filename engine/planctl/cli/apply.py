"""``planctl apply PLAN --target T``: lower, tune, verify, measure, then promote or roll back."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from planctl.errors import Rejected, RolledBack


def _progress(verbose: int, command: str = "apply"):
    """A stderr progress line per stage on a terminal, or anywhere with ``-v`` (rich), prefixed
    ``planctl <command>:``; else None."""
    if not sys.stderr.isatty() and verbose < 1:
        return _heartbeat(command)
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    # escaped: rich reads a stage's bucket, "import[batch-1_seq-64]", as a markup tag and drops it
    return lambda name: console.print(f"[dim]planctl {command}:[/dim] {escape(name)}")


# the stages of minutes, per bucket: a line as each starts off a terminal (verify-padding, verify and
# quality run right after verify-fallback, or replace it, and count as one)
_LONG_STAGES = {"candidate-build": "candidate-build", "verify-fallback": "verify", "verify-padding": "verify",
                "verify": "verify", "quality": "verify", "cpu-profile": "cpu-profile", "measure": "measure"}


def _heartbeat(command: str):
    """Off a terminal without ``-v`` (CI logs, nohup): one line as each bucket's build, verification,
    profile and measurement starts; they are minutes that would otherwise print nothing."""
    seen: set[tuple[str, str]] = set()

    def beat(name: str) -> None:
        stage, _, tag = name.partition("[")
        step = (_LONG_STAGES.get(stage, ""), tag)
        if step[0] and step not in seen:
            seen.add(step)
            more = "" if len(seen) > 1 else " (-v shows every stage)"
            click.echo(f"planctl {command}: {step[0]}[{tag}{more}", err=True)
    return beat


@click.command("apply")
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", "target", default=None,
              help="Target name (targets/<name>.yaml); a saved plan (planctl plan -o) brings its own.")
@click.option("--out", "out_root", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Output root; results go to OUT/<plan>/<target>/.")
@click.option("--cache", "cache_dir", default=None, metavar="DIR|URL",
              help="Tuning cache: a folder (SQLite) or a postgresql:// URL (a shared cache; its password from "
                   "$PGPASSWORD, ~/.pgpass or a pg_service.conf service) [default: $PLANCTL_CACHE or .planctl/cache].")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Repository root that plan paths are relative to.")
@click.option("--replay", is_flag=True, help="No search: a task without a cached record is an error.")
@click.option("--allow-version-drift", is_flag=True,
              help="Use tuning records of another TVM version after re-measuring them (else ignored).")
@click.option("--repeats", default=50, show_default=True, type=click.IntRange(min=3), help="Timed runs of the candidate and onnxruntime.")
@click.option("--force", is_flag=True,
              help="Rebuild and re-measure even when the inputs are unchanged since the live output.")
@click.option("--write-keep-float", is_flag=True,
              help="When a quantized candidate misses its quality goal, add the operators the sensitivity "
                   "search keeps float to the plan's keep_float, for review (the plan file is edited).")
def command(plan: Path, target: str | None, out_root: Path, cache_dir: str | None, root: Path, replay: bool,
            allow_version_drift: bool, repeats: int, force: bool, write_keep_float: bool) -> None:
    """Apply PLAN (a plan file, or a saved plan from `planctl plan -o`) for one target and write the
    artifact and the evidence report. A stale saved plan is refused (exit 2). When the live output
    was made from the same inputs (plan, target, model, named files, versions, host, options, tuning
    cache), nothing is rebuilt and its verdict is reported again.

    Exit 0 when the candidate is promoted; 1 when check rejects the plan, when it was rolled back to
    the verified baseline, or when nothing verified was left to deploy (reject; the report says
    why); 2 for bad input, including a model TVM cannot import or build; 3 for an internal error.
    """
    from planctl.apply.lock import resolve_apply_argument
    from planctl.apply.pipeline import ApplyOptions, run_apply
    from planctl.cli.runlog import capture_command

    plan_file, target_name = resolve_apply_argument(plan, target, root)   # a saved plan must still be fresh
    options = ApplyOptions(plan_file=plan_file, target_name=target_name, root=root, out_root=out_root,
                           cache_dir=cache_dir, replay=replay, allow_version_drift=allow_version_drift,
                           measure_repeats=repeats, force=force)
    verbose = (click.get_current_context().find_root().obj or {}).get("verbose", 0)
    done = {}
    with capture_command(options.command, plan_file, target_name, cache_dir,
                         skipped=lambda: bool(done.get("up_to_date"))) as log:
        result = run_apply(options, progress=_progress(verbose, options.command))
        done["up_to_date"] = result.record.get("up_to_date")
    text = up_to_date(result.record) if result.record.get("up_to_date") else summary(result.record, result.out_dir)
    click.echo(text + ("" if result.record.get("up_to_date") else
                       f"\n  log: {log} (library output: TVM, onnxruntime and Python warnings)"))
    if write_keep_float:
        click.echo(keep_float_written(plan_file, result.record), err=True)
    if result.verdict == "reject":
        reasons = "; ".join((result.record.get("decision") or {}).get("reasons") or [])
        raise Rejected(f"reject: no verified build may serve this plan ({reasons or 'see the report'}); nothing "
                       f"new was deployed; see {result.out_dir / 'report.md'}",
                       hint="the report's verdict and fallback sections say which check failed (parity, "
                            "padding, quality); a previously promoted output stays live")
    if result.verdict == "partial":
        raise RolledBack(f"partial: some shape buckets rolled back alone to their verified baseline, the others "
                         f"are promoted; see {result.out_dir / 'report.md'}")
    if result.verdict != "promote":
        raise RolledBack(f"{result.verdict}: the candidate was not promoted; see {result.out_dir / 'report.md'}")


def keep_float_written(plan_file: Path, record: dict) -> str:
    """Write the sensitivity search's operators into the plan's keep_float (planctl.documents.edit);
    the line that says what was done, or why nothing was."""
    from planctl.documents.edit import set_keep_float
    from planctl.documents.load import load_plan

    found = ((record.get("quantization") or {}).get("sensitivity") or {})
    if not found.get("keep_float"):
        why = found.get("note") or ("the quality goal was met" if not found else "no operator set meets the goal")
        return f"--write-keep-float: {plan_file} left as it is ({why})"
    spec = load_plan(plan_file).model.spec
    index = next(i for i, t in enumerate(spec.optimizations) if t.technique == "quantization" and t.enabled)
    written = set_keep_float(plan_file, index, found["keep_float"])
    return (f"--write-keep-float: {plan_file}: keep_float: [{', '.join(written)}] (simulated "
            f"{found['metric']} {found['value']:.6g}); review and commit it, then apply again")


def up_to_date(record: dict) -> str:
    """One line for a run skipped because its inputs are unchanged."""
    since = record.get("up_to_date_since") or "unknown time"
    verdict = record.get("decision", {}).get("verdict", "?").upper()
    return (f"{record['plan']['name']} on {record['target']['name']}: up to date (inputs unchanged since the "
            f"run of {since}, verdict {verdict}); nothing rebuilt; --force rebuilds and re-measures")


def _bucket_line(build: dict) -> str:
    """One bucket's latencies: candidate p50/p99, baseline and onnxruntime p50, the gated speedup."""
    lat, sp = build.get("latency") or {}, build.get("speedup") or {}

    def p50(name: str) -> str:
        value = (lat.get(name) or {}).get("p50")
        return f"{_ms(value)} ms" if isinstance(value, (int, float)) else "-"
    cand = lat.get("candidate") or {}
    p99 = f" (p99 {_ms(cand['p99'])})" if isinstance(cand.get("p99"), (int, float)) else ""
    gated = (f"; speedup {sp['value']:.1f}x vs baseline (gate {sp.get('gate')}x)"
             if isinstance(sp.get("value"), (int, float)) else "")
    vs = sp.get("vs_onnxruntime")
    ort = f" ({vs:.2f}x vs onnxruntime, {_faster(vs)})" if isinstance(vs, (int, float)) else ""
    return (f"  [{build.get('tag')}] candidate p50 {p50('candidate')}{p99}, baseline {p50('baseline')}, "
            f"onnxruntime {p50('onnxruntime')}{ort}{gated}")


def _ms(value: float) -> str:
    """Two decimals, or three significant digits below 0.1 ms (a tiny model's 0.004 ms read "0.00")."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3g}"


def _faster(speedup: float) -> str:
    """``faster``, ``slower`` or ``about the same (within 3%)``: the summary's ratios are speedups
    (the other's time over planctl's)."""
    from planctl.measure.compare import SAME_WITHIN  # the same margin as the slower-than-onnxruntime note

    if abs(speedup - 1) <= SAME_WITHIN:
        return f"about the same, within {SAME_WITHIN:.0%}"
    return "faster" if speedup > 1 else "slower"


def _fallback_price(builds: list[dict]) -> str:
    """``; its p50 is 217.7-254.4x the candidate's``: what a call costs with the switch on."""
    ratios = [lat["baseline"]["p50"] / lat["candidate"]["p50"] for b in builds
              if (lat := b.get("latency") or {}).get("baseline") and (lat.get("candidate") or {}).get("p50")]
    if not ratios:
        return ""
    low, high = min(ratios), max(ratios)
    span = f"{low:.1f}x" if abs(high - low) < 0.05 else f"{low:.1f}-{high:.1f}x"
    return f"; its p50 is {span} the candidate's (report.md, Fallback)"


def summary(record: dict, out_dir: Path) -> str:
    """A few lines: verdict, latencies, speedups, parity, tuning, where things are."""
    from planctl.tuning import census, search  # light (no TVM), only needed here

    decision = record.get("decision", {})
    builds = record.get("builds", [])
    lines = [f"{record['plan']['name']} on {record['target']['name']}: {decision.get('verdict', '?').upper()}"
             + _traffic_caveat(record if len(builds) > 1 else {})]
    if len(builds) > 1:
        lines += [_bucket_line(b) for b in builds]
        ratio = (record.get("traffic") or {}).get("ratio_vs_onnxruntime")
        if isinstance(ratio, (int, float)):
            # a speedup like the bucket lines', then the time ratio report.md's Traffic mix section gives
            contenders = (record.get("traffic") or {}).get("contenders") or {}
            p99 = [(contenders.get(n) or {}).get("p99_ms") for n in ("planctl", "onnxruntime")]
            tail = (f"; its p99 {p99[0] / p99[1]:.2f}x onnxruntime's" if all(isinstance(v, (int, float)) and v > 0
                                                                              for v in p99) else "")
            lines.append(f"  traffic mix: {1 / ratio:.2f}x vs onnxruntime ({_faster(1 / ratio)} over the plan's "
                         f"traffic, calls padded up to their bucket: expected latency {ratio:.2f}x onnxruntime's"
                         f"{tail}; report.md, Traffic mix)")
    else:
        latency = record.get("latency", {})
        for name in ("baseline", "candidate", "onnxruntime"):
            if name in latency:
                s = latency[name]
                lines.append(f"  {name:<12} p50 {s['p50']:9.2f} ms   p99 {s['p99']:9.2f} ms   (n={s['n']})")
        sp = record.get("speedup")
        if sp:
            vs = sp.get("vs_onnxruntime")
            ort = f", {vs:.2f}x vs onnxruntime ({_faster(vs)})" if vs else ""
            lines.append(f"  speedup {sp['statistic']} {sp['value']:.1f}x vs baseline (gate {sp['gate']}x){ort}")
    elsewhere_by_bucket = []
    for build in record.get("builds", []):
        parity = build.get("parity", {})
        tuning = build.get("tuning") or {}
        lines.append(f"  parity[{build['tag']}] {'held' if parity.get('passed') else 'VIOLATED'} over "
                     f"{_examples_text(parity)}; tuning: {tuning.get('trials_spent', 0)} trials, "
                     f"{tuning.get('scheduled_funcs', 0)}/{tuning.get('total_funcs', 0)} kernels scheduled"
                     + _default_schedule_note(tuning.get("unscheduled_funcs") or []))
        lines += [f"    note: {note}" for note in tuning.get("notes") or [] if search.UNMEASURED in note]
        if parity.get("note"):
            lines.append(f"    note: {parity['note']}")
        elsewhere_by_bucket.append((build["tag"], census.elsewhere([
            census.TaskSource(t.get("name", ""), "", t.get("source") or "search", measured_on=t.get("measured_on"))
            for t in tuning.get("tasks") or []])))
    lines += _elsewhere_lines(elsewhere_by_bucket)
    fallback = record.get("fallback") or {}
    if fallback:
        lines.append(f"  fallback ({fallback.get('switch')}): "
                     + (f"{fallback['library']}, verified{_fallback_price(builds or [record])}"
                        if fallback.get("verified") and fallback.get("library")
                        else f"none ({fallback.get('reason')})"))
    for reason in decision.get("reasons", []):
        lines.append(f"  - {reason}")
    for note in record.get("notes", []):
        lines.append(f"  note: {note}")
    lines.append(_output_line(out_dir))
    return "\n".join(lines)


OUTPUT_FILES = ("report.md", "report.html", "report.json", "manifest.json")


def _output_line(out_dir: Path) -> str:
    """``  output: DIR/ (report.md, ...)``: the files of OUTPUT_FILES the run left there, read from the
    folder so the line cannot name one that was not written (or miss one that was)."""
    written = [name for name in OUTPUT_FILES if (out_dir / name).is_file()]
    return f"  output: {out_dir}/" + (f" ({', '.join(written)})" if written else "")


def _traffic_caveat(record: dict) -> str:
    """`` (per bucket; over the plan's traffic mix, 0.60x vs onnxruntime, slower: see traffic mix below)``
    where the mix is slower: the verdict judges each bucket at its own shape, a user's calls are
    padded up to their bucket."""
    ratio = (record.get("traffic") or {}).get("ratio_vs_onnxruntime")
    if not isinstance(ratio, (int, float)) or _faster(1 / ratio) != "slower":
        return ""
    if (record.get("decision") or {}).get("traffic_gate"):   # the verdict already judged the mix
        return ""
    return f" (per bucket; over the plan's traffic mix, {1 / ratio:.2f}x vs onnxruntime, slower: see traffic mix below)"


def _examples_text(parity: dict) -> str:
    """``15 examples (8 random, 7 at the inputs' domain corners)``: the plan's count is the random draws."""
    examples, corners = parity.get("examples"), parity.get("corners")
    if examples is None:
        return "? examples"
    return f"{examples} examples" + (f" ({examples - corners} random, {corners} at the inputs' domain corners)"
                                     if corners else "")


def _elsewhere_lines(by_bucket: list[tuple[str, dict]]) -> list[str]:
    """The tasks whose schedules another device measured: one line when every bucket says the same."""
    def line(prefix: str, elsewhere: dict, each: str = "") -> str:
        return (f"  {prefix}schedules another device measured (another host, or this one under other runner "
                "settings): " + "; ".join(f"{n} task(s){each} measured on {label}"
                                          for label, n in sorted(elsewhere.items())))

    found = [(tag, e) for tag, e in by_bucket if e]
    if not found:
        return []
    if len(found) == len(by_bucket) and all(e == found[0][1] for _, e in found):
        return [line("", found[0][1], " of each bucket" if len(found) > 1 else "")]
    return [line(f"[{tag}] ", e) for tag, e in found]


def _default_schedule_note(names: list[str]) -> str:
    """`` (take1, te_gather_nd1 on TVM's default schedule)``: which kernels the count leaves out."""
    return f" ({', '.join(names)} on TVM's default schedule)" if names else ""
