"""The evidence report's content, independent of its format: the run record (``record.py``) turned
into titled sections of paragraphs, bullet lists and tables of plain strings. ``markdown.py`` and
``html.py`` only lay these out. Any section whose data is absent from the record is left out, so a
failed or rolled-back run still renders.
"""
from __future__ import annotations

from typing import Any, Iterable

from planctl.documents.shapes import padded_work_text, shape_tag, shape_text
from planctl.report.blocks import DASH, Section, Table, ms, num
from planctl.report.blocks import is_number as _num
from planctl.report.cpu import cpu_kernels
from planctl.report.gpu import gpu_kernels, kernel_routes

__all__ = ["CONTENDERS", "DASH", "Section", "Table", "ms", "num", "sections", "title"]

CONTENDERS = ("baseline", "candidate", "onnxruntime")


def title(record: dict) -> str:
    plan = record.get("plan", {}).get("name", "unnamed plan")
    target = record.get("target", {}).get("name")
    return f"planctl apply: {plan}" + (f" on {target}" if target else "")


def sections(record: dict) -> list[Section]:
    """Every section present in ``record``, verdict first; a builder may give several (one per
    shape bucket)."""
    builders = (verdict, buckets, traffic, failures, fallback, latency, roofline, cpu_kernels, gpu_kernels,
                kernel_routes, parity, quality, bisect, quantization, passes, tuning, memory, notes, stages,
                environment, digests)
    found = []
    for built in (b(record) for b in builders):
        found.extend(built if isinstance(built, list) else [built] if built is not None else [])
    return found


def verdict(record: dict) -> Section:
    decision = record.get("decision") or {}
    word = str(decision.get("verdict", "unknown")).upper()
    return Section("Verdict", paragraphs=[word], bullets=[str(r) for r in decision.get("reasons", [])])


def buckets(record: dict) -> Section | None:
    """One row per shape bucket: its share of the traffic, verdict, the build it serves, latency
    distribution, speedup with its interval, parity, quality and padding check."""
    builds = record.get("builds") or []
    decided = {b.get("tag"): b for b in (record.get("decision") or {}).get("buckets") or []}
    if len(builds) < 2 and not record.get("buckets"):
        return None
    header = ["bucket", "traffic", "verdict", "serves", "candidate p50 / p99 ms", "baseline p50 ms",
              "onnxruntime p50 ms", "speedup vs baseline (CI)", "speedup vs onnxruntime", "parity", "quality",
              "padding"]
    rows = []
    for b in builds:
        lat, sp, dec = b.get("latency") or {}, b.get("speedup") or {}, decided.get(b.get("tag")) or {}
        cand, base, ort = lat.get("candidate") or {}, lat.get("baseline") or {}, lat.get("onnxruntime") or {}
        speed = DASH
        if _num(sp.get("value")):
            speed = f"{sp['value']:.2f}×"
            if _num(sp.get("ci_low")) and _num(sp.get("ci_high")):
                speed += f" ({sp['ci_low']:.2f}–{sp['ci_high']:.2f})"
        par, qual, pad = b.get("parity") or {}, b.get("quality") or {}, b.get("padding")
        rows.append([str(b.get("tag")), f"{b['traffic_share']:.1%}" if _num(b.get("traffic_share")) else DASH,
                     str(dec.get("verdict", DASH)), str(dec.get("serves") or "nothing"),
                     f"{ms(cand.get('p50'))} / {ms(cand.get('p99'))}" if cand else DASH, ms(base.get("p50")),
                     ms(ort.get("p50")), speed,
                     f"{sp['vs_onnxruntime']:.2f}×" if _num(sp.get("vs_onnxruntime")) else DASH,
                     ("pass" if par.get("passed") else "FAIL") + f" ({par.get('examples', 0)})" if par else DASH,
                     (f"{qual.get('value'):.5f} " + ("pass" if qual.get("passed") else "FAIL"))
                     if _num(qual.get("value")) else DASH,
                     DASH if pad is None else ("inert" if pad.get("passed") else "FAIL")])
    choice = record.get("buckets") or {}
    lines = []
    if choice:
        lines.append(f"Buckets: {choice.get('rule')}. Expected padded work per call "
                     f"{num(choice.get('expected_work'), '.0f')} elements (a build per declared shape: "
                     f"{num(choice.get('exact_work'), '.0f')}; one build at the largest shape: "
                     f"{num(choice.get('max_only_work'), '.0f')}). Baseline: "
                     + ("one dynamic-shape build serves every bucket." if choice.get("dynamic_baseline")
                        else "a static build per bucket."))
        more = padded_work_text(choice.get("by_max") or [], choice.get("build_mb"))
        if more and len(choice["by_max"]) > 1:
            lines.append(f"Expected padded work: {more}.")
    return Section("Buckets", paragraphs=lines, tables=[Table(header, rows)])


def _traffic_gate_line(gate: dict) -> str:
    """The onnxruntime gate over the mix (decision.traffic_gate), judged on the builds the buckets
    would serve if promoted, which the table above shows only when they were."""
    if not _num(gate.get("value")):
        return f"Gate on onnxruntime over the mix: not evaluated ({gate.get('missing')}): {gate.get('verdict')}"
    interval = (f" (95% CI {gate['ci_low']:.2f}-{gate['ci_high']:.2f})" if _num(gate.get("ci_low")) else "")
    label = "expected-latency" if gate.get("statistic") == "mean" else str(gate.get("statistic"))
    return (f"Gate on onnxruntime over the mix (envelope.performance.versus_onnxruntime): {label} "
            f"speedup {gate['value']:.2f}x{interval} against {gate.get('gate'):g}x, with each bucket serving the "
            f"build it would deploy if promoted: {gate.get('verdict')}")


def traffic(record: dict) -> Section | None:
    """Expected latency and throughput over the declared traffic mix, planctl against onnxruntime."""
    mix = record.get("traffic")
    if not mix:
        return None
    header = ["contender", "expected ms", "p50 ms", "p99 ms", "items/s"]
    rows = [[name, ms(c.get("expected_ms")), ms(c.get("p50_ms")), ms(c.get("p99_ms")),
             num(c.get("throughput_per_s"), ".1f")] for name, c in (mix.get("contenders") or {}).items()]
    points, padded, unpadded = [], [], []
    for p in mix.get("points") or []:
        shape = ", ".join(f"{k}={v}" for k, v in p.get("shape_env", {}).items())
        ours, theirs = (p.get("planctl") or {}).get("p50"), (p.get("onnxruntime") or {}).get("p50")
        ratio = ours / theirs if _num(ours) and _num(theirs) and theirs > 0 else None
        at_own_shape = p.get("bucket") == shape_tag(p.get("shape_env") or {})
        slow = bool(ratio) and ratio >= PADDING_FLAG
        points.append([shape, f"{p.get('share', 0):.1%}", str(p.get("bucket") or DASH), ms(ours), ms(theirs),
                       f"{ratio:.2f}" + ((" (no padding)" if at_own_shape else " (padding)") if slow else "")
                       if ratio else DASH])
        if slow:
            (unpadded if at_own_shape else padded).append((shape, p.get("share", 0), ratio, p.get("bucket")))
    lines = [str(mix.get("method"))]
    if _num(mix.get("ratio_vs_onnxruntime")):
        lines.append(f"planctl expected latency / onnxruntime's: {mix['ratio_vs_onnxruntime']:.2f} (a time "
                     "ratio: below 1, planctl is faster; the Buckets table gives speedups, above 1 faster)")
    gate = (record.get("decision") or {}).get("traffic_gate")
    if gate:
        lines.append(_traffic_gate_line(gate))
    if padded:
        lines.append(f"{len(padded)} call shape(s), {sum(share for _, share, _, _ in padded):.1%} of the traffic, run "
                     f"at least {PADDING_FLAG:g}x onnxruntime's time because their bucket pads them (worst: "
                     + "; ".join(f"{shape} on {bucket}, {ratio:.1f}x" for shape, _, ratio, bucket in
                                 sorted(padded, key=lambda x: -x[2])[:3])
                     + "): a bucket nearer their shape (production_shapes' values, or buckets.max) would serve them; "
                       "the Buckets section gives the padded work a higher buckets.max would leave")
    if unpadded:
        lines.append(f"{len(unpadded)} call shape(s), {sum(share for _, share, _, _ in unpadded):.1%} of the traffic, "
                     f"run at least {PADDING_FLAG:g}x onnxruntime's time on a bucket of their own shape, without "
                     "padding (" + "; ".join(f"{shape}, {ratio:.1f}x" for shape, _, ratio, _ in
                                              sorted(unpadded, key=lambda x: -x[2])[:3])
                     + "): the build itself is slower there (the Buckets table, and CPU kernels for where its time goes)")
    return Section("Traffic mix", paragraphs=lines,
                   tables=[Table(header, rows), Table(["call shape", "share", "bucket", "planctl p50 ms",
                                                       "onnxruntime p50 ms (unpadded)", "planctl / onnxruntime time"],
                                                      points)])


PADDING_FLAG = 1.5   # a traffic point this many times slower than onnxruntime unpadded is called out


def failures(record: dict) -> Section | None:
    """PLN500: each exception TVM raised while making the candidate, located, with its cause."""
    items = record.get("failures") or []
    if not items:
        return None
    rows = [[str(f.get("shape") or DASH), str(f.get("stage")), str(f.get("pass_name") or DASH),
             str(f.get("node") or DASH), str(f.get("technique") or DASH)] for f in items]
    bullets = [f"{f.get('code', 'PLN500')} at {f.get('shape')}: {f.get('error')}: {f.get('detail')} "
               f"(passes running: {' > '.join(f.get('passes') or []) or 'none'}; crash log: {f.get('log')})"
               for f in items]
    return Section("TVM failures (PLN500)", tables=[Table(["shape", "stage", "pass", "ONNX node", "cause"], rows)],
                   bullets=bullets)


def fallback(record: dict) -> Section | None:
    """What the fallback switch runs, and the baseline's own parity at each shape."""
    fb = record.get("fallback")
    if not fb:
        return None
    lines = [f"Fallback switch {fb.get('switch')}: "
             + (f"runs {fb['library']} (verified: {fb.get('reason')})." if fb.get("library")
                else f"no verified build; planctl.runtime refuses the switch ({fb.get('reason')}).")]
    rows = []
    for b in record.get("builds") or []:
        res = b.get("fallback_parity") or {}
        lat = b.get("latency") or (record.get("latency") if len(record.get("builds") or []) == 1 else {}) or {}
        base, cand = (lat.get("baseline") or {}).get("p50"), (lat.get("candidate") or {}).get("p50")
        if res:
            rows.append([str(b.get("tag")), num(res.get("examples"), "d"), num(res.get("corners"), "d"),
                         "pass" if res.get("passed") else "FAIL", ms(base), _ratio(base, cand),
                         str(res.get("reason") or res.get("note") or DASH)])
    if fb.get("library") and rows:
        lines.append("With the switch on, every call runs the baseline build: its p50 and how many times the "
                     "candidate's it is are in the table (the price of falling back).")
    tables = [Table(["shape", "examples", "of which corners", "baseline parity", "baseline p50 ms",
                     "× candidate p50", "reason"], rows)] if rows else []
    return Section("Fallback", paragraphs=lines, tables=tables)


def latency(record: dict) -> Section | None:
    """The contenders' latency distributions: the record's (its first bucket's) alone, or one table
    per shape bucket when it has several."""
    per_bucket = [b for b in record.get("builds") or [] if b.get("latency")]
    if len(per_bucket) < 2:
        lat = {k: v for k, v in (record.get("latency") or {}).items() if v}
        if not lat:
            return None
        return Section("Latency", paragraphs=_speedup_line(record.get("speedup")), tables=[_latency_table(lat)])
    paragraphs = [f"{shape_text(b.get('shape_env'))}: " + "; ".join(_speedup_line(b.get("speedup")))
                  for b in per_bucket if b.get("speedup")]
    rows = [[shape_text(b.get("shape_env")), *row] for b in per_bucket
            for row in _latency_rows({k: v for k, v in b["latency"].items() if v})]
    return Section("Latency", paragraphs=paragraphs, tables=[Table(["bucket", *LATENCY_HEADER], rows)])


LATENCY_HEADER = ["contender", "n", "p50 ms", "p95 ms", "p99 ms", "mean ms",
                  "p50 / candidate", "p95 / candidate", "p99 / candidate"]


def _latency_table(lat: dict) -> Table:
    return Table(list(LATENCY_HEADER), _latency_rows(lat))


def _latency_rows(lat: dict) -> list[list[str]]:
    cand = lat.get("candidate", {})
    return [[name, num(s.get("n"), "d"), *(ms(s.get(k)) for k in ("p50", "p95", "p99", "mean")),
             *(_ratio(s.get(k), cand.get(k)) for k in ("p50", "p95", "p99"))]
            for name, s in _ordered(lat)]


def _ordered(lat: dict) -> Iterable[tuple[str, dict]]:
    known = [(k, lat[k]) for k in CONTENDERS if k in lat]
    return known + [(k, v) for k, v in lat.items() if k not in CONTENDERS]


def _ratio(a: Any, b: Any) -> str:
    return f"{a / b:.2f}×" if _num(a) and _num(b) and b > 0 else DASH


def _speedup_line(sp: dict | None) -> list[str]:
    if not sp or not _num(sp.get("value")):
        return []
    line = f"Speedup ({sp.get('statistic', '?')}, baseline / candidate): {sp['value']:.2f}×"
    if _num(sp.get("ci_low")) and _num(sp.get("ci_high")):
        line += f" ({sp.get('confidence', 0.95):.0%} bootstrap CI {sp['ci_low']:.2f}–{sp['ci_high']:.2f})"
    elif sp.get("ci_omitted"):
        line += f" (no interval: {sp['ci_omitted']})"
    if _num(sp.get("gate")):
        line += f"; gate ≥ {sp['gate']:g}×: {'met' if sp['value'] >= sp['gate'] else 'not met'}"
    lines = [line]
    if _num(sp.get("vs_onnxruntime")):
        lines.append(f"Candidate against onnxruntime ({sp.get('statistic', '?')}, onnxruntime / candidate): "
                     f"{sp['vs_onnxruntime']:.2f}×")
    return lines


def parity(record: dict) -> Section | None:
    results = record.get("parity") or []
    if not results:
        return None
    header = ["shape", "output", "examples", "max abs", "max rel", "rtol", "atol", "result"]
    rows, bullets = [], []
    for res in results:
        shape = ", ".join(f"{k}={v}" for k, v in (res.get("shape_env") or {}).items()) or "static"
        for name, o in (res.get("outputs") or {}).items():
            rows.append([shape, name, num(res.get("examples"), "d"), num(o.get("max_abs"), ".2e"),
                         num(o.get("max_rel"), ".2e"), num(o.get("rtol"), "g"), num(o.get("atol"), "g"),
                         "pass" if o.get("passed") else "FAIL"])
        if res.get("note"):
            bullets.append(f"{shape}: {res['note']}")
        if not res.get("passed"):
            bullets.append(f"{shape}: {res.get('reason') or 'failed'}")
            bullets += [f"counterexample: {res['counterexample']}"] if res.get("counterexample") else []
            bullets += [f"replay: `{res['replay']}`"] if res.get("replay") else []
    rule = ["An element passes when |candidate − reference| ≤ atol + rtol·|reference| (numpy.allclose's rule, "
            "planctl.verify.compare). max rel is a diagnostic: it is large where the reference is near 0, where "
            "atol decides."]
    return Section("Parity", paragraphs=rule, tables=[Table(header, rows)], bullets=bullets)


def passes(record: dict) -> Section | None:
    items = record.get("passes") or []
    if not items:
        return None
    header = ["pass", "seconds", "bindings", "bindings change", "kernels", "kernels change"]
    rows = [[str(p.get("name", "?")), num(p.get("seconds"), ".3f"),
             _arrow(p.get("bindings_before"), p.get("bindings_after")),
             _delta(p.get("bindings_before"), p.get("bindings_after")),
             _arrow(p.get("prim_funcs_before"), p.get("prim_funcs_after")),
             _delta(p.get("prim_funcs_before"), p.get("prim_funcs_after"))] for p in items]
    return Section("Passes", paragraphs=["Changes are signed: a pass that fuses or removes shows a negative "
                                         "change, one that creates kernels (LegalizeOps lowering operators to "
                                         "TIR) a positive one."], tables=[Table(header, rows)])


def _arrow(before: Any, after: Any) -> str:
    return f"{num(before, 'd')} → {num(after, 'd')}"


def _delta(before: Any, after: Any) -> str:
    """``after - before`` with its sign (``-41``, ``+29``, ``0``)."""
    if not (_num(before) and _num(after)):
        return DASH
    return f"{after - before:+d}" if after != before else "0"


def tuning(record: dict) -> Section | None:
    """The search of each shape bucket: the cache and budget (shared), a row per bucket when there
    are several, every task with where its schedule came from, and why candidates failed."""
    builds = [b for b in record.get("builds") or [] if b.get("tuning")]
    if not builds:
        return None
    t = builds[0]["tuning"]
    several = len(builds) > 1
    bullets = [f"{label}: {value}" for label, value in (
        ("cache", t.get("cache_dir")),
        ("records imported from the plan's records (every target's in them)", t.get("imported_records")),
        ("budget", _budget(t.get("budget") or {}) and _budget(t["budget"]) + (" per bucket" if several else "")),
        ("records measured on another device", t.get("policy") and
         f"{t['policy']} (the target's other_device_records)")) if value is not None]
    if not several:
        bullets[1:1] = [f"{label}: {value}" for label, value in _search_facts(t) if value is not None]
    bullets += _bucket_notes(builds) + _scheduled_note(builds)
    tables = [_bucket_tuning_table(builds)] if several else []
    rows = [(shape_text(b.get("shape_env")), k) for b in builds for k in b["tuning"].get("tasks") or []]
    flag, label = ("cached", "served without a search") if any("cached" in k for _, k in rows) else ("scheduled", "scheduled")
    if rows:
        header = ["task", "trials", "best ms", label, "measured on", "failed builds / candidates this run measured",
                  "failed runs / candidates this run measured"]
        tables.append(Table((["bucket"] if several else []) + header,
                            [([shape] if several else []) + [
                                str(k.get("name", "?")), num(k.get("trials"), "d"), ms(k.get("best_ms")),
                                "yes" if k.get(flag) else "no", str(k.get("measured_on") or DASH),
                                _failed(k, "build_errors"), _failed(k, "run_errors")] for shape, k in rows]))
    reasons = [[str(k.get("name", "?")), str(n), why] for _, k in rows for why, n in (k.get("errors") or {}).items()]
    if reasons:
        tables.append(Table(["task", "candidates", "why they failed (MetaSchedule builder/runner)"], reasons))
    return Section("Tuning", bullets=bullets, tables=tables)


def _bucket_notes(builds: list[dict]) -> list[str]:
    """The search notes: once when every bucket has it, else prefixed with each bucket's shape."""
    from planctl.tuning.census import common_notes

    notes = [(shape_text(b.get("shape_env")), [str(n) for n in b["tuning"].get("notes") or []]) for b in builds]
    common = common_notes([found for _, found in notes])
    each = f" (at each of the {len(builds)} buckets)" if len(builds) > 1 else ""   # its counts are one bucket's
    out = [n + each for n in common]
    return out + [f"{shape}: {n}" if len(builds) > 1 else n for shape, found in notes for n in found if n not in common]


def _scheduled_note(builds: list[dict]) -> list[str]:
    """Why "kernels scheduled" differs from the task count: planctl's hand-written kernels carry their
    schedule without a tuning task, and the kernels named stay on TVM's default schedule."""
    lines = {}
    for b in builds:
        t = b["tuning"]
        if not t.get("total_funcs"):
            continue
        tuned = sum(1 for k in t.get("tasks") or [] if k.get("best_ms") is not None)
        written = t.get("scheduled_funcs", 0) - tuned
        parts = [f"{tuned} from tuning records"] + ([f"{written} hand-written by planctl (no tuning task)"]
                                                     if written > 0 else [])
        default = t.get("unscheduled_funcs") or []
        left = f"; on TVM's default schedule: {', '.join(default)}" if default else ""
        text = f"{t.get('scheduled_funcs')} of {t['total_funcs']} = {' + '.join(parts)}{left}"
        lines.setdefault(text, []).append(shape_text(b.get("shape_env")))
    if len(lines) == 1:
        return [f"kernels scheduled: {text}" for text in lines]
    return [f"kernels scheduled at {', '.join(shapes)}: {text}" for text, shapes in lines.items()]


def _search_facts(t: dict) -> list[tuple[str, Any]]:
    return [("trials spent", t.get("trials_spent")),
            ("kernels scheduled", f"{t['scheduled_funcs']}/{t['total_funcs']}" if t.get("total_funcs") else None),
            ("seconds", num(t.get("seconds"), ".1f")), ("search stopped by", t.get("stopped_by")),
            ("served without a search", "yes" if t.get("reused") else "no"),
            ("tasks before the search", _census(t.get("census") or {}))]


def _bucket_tuning_table(builds: list[dict]) -> Table:
    names = ["trials spent", "kernels scheduled", "seconds", "search stopped by", "served without a search",
             "tasks before the search"]
    return Table(["bucket", *names], [[shape_text(b.get("shape_env")),
                                       *(str(v) if v is not None else DASH for _, v in _search_facts(b["tuning"]))]
                                      for b in builds])


def _census(counts: dict) -> str | None:
    """``24 from other devices' records, 0 searched``: where the tasks' schedules came from."""
    shown = [f"{n} {source}" for source, n in counts.items() if n]
    return ", ".join(shown) or None


def _budget(b: dict) -> str | None:
    if not b:
        return None
    capped = f" (capped by {', '.join(b['capped_by'])})" if b.get("capped_by") else ""
    return (f"{b.get('trials')} trials, {b.get('trials_per_task')} per task, "
            f"{b.get('wall_clock_s')} s wall clock{capped}")


def _failed(task: dict, key: str) -> str:
    return f"{task[key]}/{task['candidates']}" if task.get("candidates") else DASH


def memory(record: dict) -> Section | None:
    m = record.get("memory")
    if not m:
        return None
    bullets = [f"peak RSS: {num(m.get('peak_rss_mb'), ',.1f')} MiB"] if "peak_rss_mb" in m else []
    if _num(m.get("planned_bytes")):
        plan = next((b.get("planned_memory") for b in record.get("builds") or [] if b.get("planned_memory")), {})
        storages = f" in {plan['storages']} storage blocks" if _num(plan.get("storages")) else ""
        bullets.append(f"planned activation memory (StaticPlanBlockMemory): {m['planned_bytes'] / 2**20:,.2f} MiB "
                       f"({m['planned_bytes']:,} bytes{storages}; weights and the result not included)")
    by = m.get("peak_rss_mb_by_contender") or {}
    bullets += [f"peak RSS of the {k} process: {num(v, ',.1f')} MiB" for k, v in by.items() if k != "candidate"]
    return Section("Memory", bullets=bullets)


def roofline(record: dict) -> Section | None:
    r = record.get("roofline")
    if not r or not _num(r.get("achieved_gflops")):
        return None
    lines = [f"Workload: {r['flops'] / 1e9:,.3g} GFLOP per call"
             + (f", {r['bytes'] / 2**20:,.1f} MiB of compulsory kernel traffic "
                f"(arithmetic intensity {r['intensity']:.3g} FLOP/byte)" if _num(r.get("bytes")) and _num(r.get("intensity")) else "")
             + ".",
             f"Candidate at {r.get('statistic', 'p50')} latency: {r['achieved_gflops']:,.2f} GFLOP/s = "
             f"{r['percent_of_peak']:.1f}% of the {r.get('dtype')} peak ({r['peak_gflops']:,.1f} GFLOP/s)"
             + (f", {r['percent_of_attainable']:.1f}% of the {r['attainable_gflops']:,.1f} GFLOP/s attainable "
                f"at this intensity ({r['bound']}-bound; ridge at {r['ridge_intensity']:.3g} FLOP/byte)"
                if _num(r.get("percent_of_attainable")) and r.get("bound") else "") + "."]
    if _num(r.get("percent_of_peak")) and r["percent_of_peak"] > 100:
        lines.append(f"Above 100% of the declared peak: the target's peak ({r.get('source') or 'its roofline'}) "
                     "is lower than this host's (a faster clock or more cores than it assumes); raise "
                     "spec.roofline.peak_flops in the target document for a meaningful percentage.")
    if _num(r.get("baseline_achieved_gflops")):
        lines.append(f"Baseline: {r['baseline_achieved_gflops']:,.2f} GFLOP/s "
                     f"({r['baseline_achieved_gflops'] / r['peak_gflops']:.1%} of peak).")
    rows = [[k, v] for k, v in (("GFLOP per call", num(r["flops"] / 1e9, ".4g")),
                                ("achieved GFLOP/s", num(r["achieved_gflops"], ",.2f")),
                                ("% of peak", num(r.get("percent_of_peak"), ".2f")),
                                ("peak GFLOP/s", num(r.get("peak_gflops"), ",.1f")),
                                ("memory bandwidth GB/s", num(r.get("memory_bandwidth_gbs"), ",.1f")),
                                ("peaks source", str(r.get("source") or DASH)))]
    tables = [Table(["quantity", "value"], rows)]
    per_bucket = _roofline_by_bucket(record.get("builds") or [], r.get("peak_gflops"), r.get("statistic", "p50"))
    if per_bucket:
        lines[0] = f"The figures below are the first bucket's ({shape_text(record['builds'][0].get('shape_env'))}); " \
                   "the last table has every bucket. " + lines[0]
        tables.append(per_bucket)
    flops = next((b.get("flops") for b in record.get("builds") or [] if b.get("flops")), None) or {}
    kernels = [k for k in flops.get("kernels") or [] if _num(k.get("flops")) and k["flops"] > 0][:5]
    if kernels and _num(flops.get("flops")):
        tables.append(Table(["kernel (most FLOPs)", "launches", "GFLOP per call", "share of FLOPs"],
                            [[str(k.get("name")), num(k.get("calls"), "d"), num(k["flops"] / 1e9, ".3g"),
                              f"{k['flops'] / flops['flops']:.1%}"] for k in kernels]))
    return Section("Roofline", paragraphs=lines, tables=tables)


def _roofline_by_bucket(builds: list[dict], peak_gflops: Any, statistic: str) -> Table | None:
    """Per shape bucket (when there are several): FLOPs per call, the candidate's latency at the
    envelope's statistic and the GFLOP/s they give, against the target's peak."""
    rows = []
    for b in builds:
        flops = (b.get("flops") or {}).get("flops")
        latency = ((b.get("latency") or {}).get("candidate") or {}).get(statistic)
        if _num(flops) and _num(latency) and latency > 0:
            gflops = flops / 1e9 / (latency / 1e3)
            rows.append([shape_text(b.get("shape_env")), num(flops / 1e9, ".4g"), ms(latency), num(gflops, ",.1f"),
                         f"{gflops / peak_gflops:.1%}" if _num(peak_gflops) and peak_gflops > 0 else DASH])
    if len(rows) < 2:
        return None
    return Table(["bucket", "GFLOP per call", f"candidate {statistic} ms", "GFLOP/s", "of peak"], rows)


def quality(record: dict) -> Section | None:
    results = record.get("quality") or []
    if not results:
        return None
    header = ["shape", "metric", "dataset", "examples", "candidate", "worst example", "baseline", "goal", "result"]
    rows, bullets = [], []
    for q in results:
        shape = ", ".join(f"{k}={v}" for k, v in (q.get("shape_env") or {}).items()) or "static"
        base = q.get("baseline") or {}
        goal = q.get("goal") or {}
        rows.append([shape, str(q.get("metric")), str(q.get("dataset")), num(q.get("examples"), "d"),
                     num(q.get("value"), ".8g"), num(q.get("worst"), ".8g"), num(base.get("value"), ".8g"),
                     f"{goal.get('type')} {num(goal.get('value'), '.10g')}", "pass" if q.get("passed") else "FAIL"])
        if not q.get("passed"):   # a pass reads in its row; a failure's reason says what broke
            bullets.append(f"{shape}: {q.get('reason')}")
        ref = q.get("reference") or {}
        if ref:
            bullets.append(f"reference: {ref.get('model')} run by {ref.get('runtime')} ("
                           + ("declared in envelope.quality.reference" if ref.get("declared")
                              else "the plan's own model: no envelope.quality.reference") + ")")
        if base.get("source"):
            bullets.append(f"baseline: {base['source']}")
        check = base.get("baseline_build")
        if check:
            bullets.append(f"{shape}: baseline build on its first {check.get('examples')} example(s), the check that "
                           f"the stand-in holds: {q.get('metric')} {num(check.get('value'), '.8g')} against the reference")
    # every bucket has the same reference and baseline source: say each once
    return Section("Quality", tables=[Table(header, rows)], bullets=list(dict.fromkeys(bullets)))


def quantization(record: dict) -> Section | None:
    from planctl.report.quantization import section

    return section(record)


def bisect(record: dict) -> Section | None:
    b = record.get("bisect")
    if not b:
        return None
    what = b.get("violated") or []
    culprits = b.get("culprits") or []
    if what == ["build"]:
        head = "The candidate did not build"
    else:
        head = (f"{' and '.join(what)} {'were' if len(what) > 1 else 'was'}" if what else "the envelope was")
        head = head.capitalize() + " violated"
    paragraphs = [f"{head}; rebuilding with subsets of the enabled techniques "
                  + (f"names {', '.join(culprits)} as the smallest set that breaks it." if culprits
                     else "named no culprit.")]
    if b.get("note"):
        paragraphs.append(str(b["note"]))
    paragraphs.append("Techniques that pass: " + (", ".join(b.get("passing_plan") or []) or "none") + ".")
    rows = [[", ".join(p.get("techniques") or []) or "(none)", "violates" if p.get("violates") else "passes"]
            for p in b.get("probes") or []]
    tables = [Table(["techniques built", "envelope"], rows)] if rows else []
    return Section("Bisection", paragraphs=paragraphs, tables=tables)


def stages(record: dict) -> Section | None:
    items = record.get("stages") or []
    if not items:
        return None
    rows = [[str(s.get("name", "?")), num(s.get("seconds"), ".2f")] for s in items]
    return Section("Stages", tables=[Table(["stage", "seconds"], rows)])


def environment(record: dict) -> Section | None:
    env = record.get("environment")
    if not env:
        return None
    # Nested dicts (``env``, or ``packages`` when versions are grouped) become one row per entry.
    rows = [[k, _text(v)] for k, v in env.items() if not isinstance(v, dict)]
    rows += [[k, _text(v)] for group in env.values() if isinstance(group, dict) for k, v in group.items()]
    return Section("Environment", tables=[Table(["key", "value"], rows)])


def _text(v: Any) -> str:
    return "unset" if v is None else str(v)


def notes(record: dict) -> Section | None:
    items = record.get("notes") or []
    return Section("Notes", bullets=[str(n) for n in items]) if items else None


def digests(record: dict) -> Section | None:
    rows = [[what, str(ref.get("path") or ref.get("name") or DASH), str(ref.get("sha256") or DASH)]
            for what in ("plan", "target", "model") if (ref := record.get(what))]
    sums = record.get("library_sha256") or {}
    artifacts = {k: v for k, v in (record.get("artifacts") or {}).items() if v}
    if sums:   # every bucket's library and the baseline, not only the first bucket's (artifacts.library)
        artifacts.pop("library", None)
        rows += [["library", name, digest] for name, digest in sorted(sums.items())]
    rows += [[f"artifact {k}", str(v), sums.get(v, DASH)] for k, v in artifacts.items()]
    if (record.get("inputs") or {}).get("digest"):
        # what `planctl apply` compares to skip an unchanged run; the components are in report.json
        rows.append(["inputs", "report.json: inputs.components", record["inputs"]["digest"]])
    if not rows:
        return None
    return Section("Digests and artifacts", tables=[Table(["what", "path", "sha256"], rows)])
