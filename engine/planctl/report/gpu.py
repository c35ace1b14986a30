"""Report sections for CUDA builds: the kernel routes the dispatch techniques chose, and the
per-kernel GPU profile of the candidate (``planctl.measure.gpu_profile``)."""
from __future__ import annotations

from planctl.report.blocks import DASH, Section, Table, ms, num


def kernel_routes(record: dict) -> Section | None:
    """Which route each kind of matmul and attention took, with the times that decided it."""
    rows = []
    for build in record.get("builds") or []:
        for r in build.get("kernel_routes") or []:
            rows.append([r.get("kind", "?"), str(r.get("signature", "?")), num(r.get("sites"), "d"),
                         str(r.get("route", "?")), ms(r.get("library_ms")), ms(r.get("tvm_ms")),
                         str(r.get("reason", ""))])
    if not rows:
        return None
    header = ["kind", "signature", "sites", "route", "library ms", "TVM ms", "why"]
    return Section("Kernel routes", paragraphs=[
        "Routes of the dispatch techniques (library-dispatch, fused-attention, fused-layer-norm). A `tvm (fallback)` row is "
        "work that kept TVM's own kernels, with the reason; times are medians on the device."],
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
