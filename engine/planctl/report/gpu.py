"""Report sections for CUDA builds: the kernel routes the dispatch techniques chose, and the
per-kernel GPU profile of the candidate (``planctl.measure.gpu_profile``)."""
from __future__ import annotations

from planctl.report.blocks import DASH, Section, Table, ms, num


DISPATCH_TECHNIQUES = ("library-dispatch", "fused-attention", "fused-layer-norm")


def kernel_routes(record: dict) -> Section | None:
    """Which route each kind of matmul and attention took, with the times that decided it (the time
    columns only where some route was timed: on CUDA, library against TVM)."""
    routes = [r for build in record.get("builds") or [] for r in build.get("kernel_routes") or []]
    if not routes:
        return None
    timed = any(r.get("library_ms") is not None or r.get("tvm_ms") is not None for r in routes)
    rows = [[r.get("kind", "?"), str(r.get("signature", "?")), num(r.get("sites"), "d"), str(r.get("route", "?"))]
            + ([ms(r.get("library_ms")), ms(r.get("tvm_ms"))] if timed else []) + [str(r.get("reason", ""))]
            for r in routes]
    used = [t for t in DISPATCH_TECHNIQUES if t in (record.get("techniques") or DISPATCH_TECHNIQUES)]
    header = ["kind", "signature", "sites", "route"] + (["library ms", "TVM ms"] if timed else []) + ["why"]
    return Section("Kernel routes", paragraphs=[
        f"Routes of the plan's dispatch techniques ({', '.join(used)}). A `tvm (fallback)` row is work that kept "
        "TVM's own kernels, with the reason; "
        + ("times are medians on the device." if timed else
           "no route was chosen by timing here (CPU Kernels times each kernel in the model).")],
        tables=[Table(header, rows)])


def gpu_kernels(record: dict) -> Section | None:
    """Time, share, achieved rate and tensor-core use of each kernel of the candidate, per call."""
    sections = []
    for build in record.get("builds") or []:
        prof = build.get("gpu_profile")
        if not prof:
            continue
        if not prof.get("available"):
            sections.append(f"GPU profile not available: {prof.get('reason', 'unknown reason')}")
            continue
        rows = [[r["name"][:70], num(r.get("launches_per_call"), ".0f"), ms(r.get("ms_per_call")),
                 f"{100 * r.get('share', 0):.1f}%", num(r.get("tflops"), ".3g") if r.get("tflops") else DASH,
                 num(r.get("gbps"), ",.0f") if r.get("gbps") else DASH, r.get("tensor_cores", "unknown")]
                for r in prof.get("rows", [])]
        graphs = prof.get("graph_launches_per_call", 0)
        lines = [f"{num(prof.get('launches_per_call'), '.0f')} kernel launches per call, "
                 f"{prof.get('kernel_us_per_call', 0) / 1e3:.3f} ms of kernel time per call; CUDA graphs "
                 + (f"active ({graphs:g} graph launches per call)." if graphs else "not active."),
                 prof.get("method", "")]
        header = ["kernel (PrimFunc or library call)", "launches", "ms / call", "share", "TFLOP/s", "GB/s",
                  "tensor cores"]
        return Section("GPU kernels", paragraphs=lines, tables=[Table(header, rows)])
    return Section("GPU kernels", paragraphs=sections) if sections else None
