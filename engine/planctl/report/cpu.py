"""Report section for CPU builds: the per-kernel profile of the candidate
(``planctl.measure.cpu_profile``): where each call's time goes, kernel by kernel."""
from __future__ import annotations

from planctl.report.blocks import DASH, Section, Table, is_number, ms, num

TOP_ROWS = 25  # the rest is summed in one row: MiniLM has ~20 kernels and a dozen builtins


def cpu_kernels(record: dict) -> list[Section]:
    """Time, share, launches and GFLOP/s of each kernel and VM builtin of the candidate, per call:
    one section per build that was profiled (each shape bucket's)."""
    profiled = [b for b in record.get("builds") or [] if b.get("cpu_profile")]
    several = len(profiled) > 1
    return [_profile_section(b, several) for b in profiled]


def _sum_above_call(prof: dict) -> bool:
    """Whether the kernels' summed time exceeds a plain call or the instrumented one."""
    calls = [prof.get(k) for k in ("plain_ms", "instrumented_ms") if is_number(prof.get(k))]
    return is_number(prof.get("kernel_ms")) and any(prof["kernel_ms"] > c for c in calls)


def _profile_section(build: dict, several: bool) -> Section:
    prof = build["cpu_profile"]
    shape = ", ".join(f"{k}={v}" for k, v in (build.get("shape_env") or {}).items()) or "static"
    title = f"CPU kernels ({shape})" if several else "CPU kernels"
    if not prof.get("available"):
        return Section(title, paragraphs=[f"CPU profile not available: {prof.get('reason', 'unknown')}"])
    rows = [[r["name"][:70], r.get("kind", "?"), num(r.get("launches_per_call"), ".0f"), ms(r.get("ms_per_call")),
             f"{100 * r.get('share', 0):.1f}%", num(r.get("gflops"), ".1f") if r.get("gflops") else DASH]
            for r in prof.get("rows", [])[:TOP_ROWS]]
    rest = prof.get("rows", [])[TOP_ROWS:]
    if rest:
        rows.append([f"({len(rest)} more)", DASH, num(sum(r["launches_per_call"] for r in rest), ".0f"),
                     ms(sum(r["ms_per_call"] for r in rest)), f"{100 * sum(r['share'] for r in rest):.1f}%", DASH])
    allocations = prof.get("allocations_per_call") or {}
    lines = [f"Shape {shape}: {num(prof.get('launches_per_call'), '.0f')} kernel launches per call; "
             f"{ms(prof.get('kernel_ms'))} ms in kernels"
             + (f" ({num(prof.get('kernel_gflops'), '.1f')} GFLOP/s over all of them)"
                if prof.get("kernel_gflops") else "")
             + f" and {ms(prof.get('builtin_ms'))} ms in VM builtins per instrumented call "
             f"({ms(prof.get('instrumented_ms'))} ms; a plain call took {ms(prof.get('plain_ms'))} ms here, in the "
             "profile's own run: the Buckets table's p50 is the measure stage's, a different moment of the host"
             + ("; the instrument's own cost and the host's noise can put the kernels' sum above a whole call"
                if _sum_above_call(prof) else "") + ").",
             "Allocations per call: " + (", ".join(f"{k} {v:g}" for k, v in allocations.items()) or "none")
             + " (static memory planning leaves these; the VM's pooled allocator serves them after the first call).",
             prof.get("method", "")]
    header = ["kernel or builtin", "kind", "launches", "ms / call", "share", "GFLOP/s"]
    return Section(title, paragraphs=lines, tables=[Table(header, rows)])
