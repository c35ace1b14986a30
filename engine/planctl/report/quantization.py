"""The evidence of a quantized build: which kernels took the int8 path, proven from the scheduled
TIR (the intrinsic's LLVM call) and the library's machine code (instruction counts per kernel),
and the build's size and memory against the float build."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from planctl.report.record import ArtifactSize, KernelPath, QuantizedOperator

INT8_KERNEL = "q8_dense"          # name part of every fused kernel holding an int8 matmul
_LABEL = re.compile(r"^([A-Za-z_][\w.$]*):")
_LLVM_NAMES = {"vpdpbusd": "vpdpbusd", "vpmaddubsw": "pmadd", "vpmaddwd": "pmadd"}


def machine_code(executable, instructions) -> dict[str, dict[str, int]]:
    """``{kernel: {instruction: count}}`` of the int8 kernels in the candidate's assembly
    (``instructions``: mnemonics to count, e.g. ``vpdpbusd``). Empty when the executable has no
    LLVM module to inspect."""
    counts: dict[str, dict[str, int]] = {}
    if executable is None:
        return counts
    for module in getattr(executable.mod, "imports", []):
        if module.kind != "llvm":
            continue
        current = None
        for line in module.inspect_source("asm").splitlines():
            label = _LABEL.match(line)
            if label and not label.group(1).startswith(".L"):
                current = label.group(1) if INT8_KERNEL in label.group(1) else None
                continue
            if current is None:
                continue
            word = line.split(None, 1)[0] if line.strip() else ""
            if word in instructions:
                counts.setdefault(current, {}).setdefault(word, 0)
                counts[current][word] += 1
    return counts


def tensorized(scheduled_mod, path) -> tuple[int, int]:
    """``(int8 kernels, of which tensorized)`` in the scheduled module: a kernel is tensorized when
    its TIR calls the path's LLVM intrinsic (a kernel without a tuning record keeps TVM's default
    schedule, scalar loops)."""
    from tvm import tirx

    total = done = 0
    marker = {"avx512-vnni": "vpdpbusd", "avx512bw": "pmaddubs", "avx2": "pmadd.ub.sw"}.get(path.name if path else "")
    for gv, func in scheduled_mod.functions.items():
        if isinstance(func, tirx.PrimFunc) and INT8_KERNEL in gv.name_hint:
            total += 1
            done += bool(marker) and marker in func.script()
    return total, done


def kernel_evidence(path, scheduled_mod, executable) -> KernelPath:
    """The kernel path (None for weight-only) with its proof in TIR and machine code."""
    if path is None:
        return KernelPath(path=None, intrinsic=None, instructions=[], activation_levels=None, int8_kernels=0,
                          tensorized_kernels=0, machine_code={})
    total, done = tensorized(scheduled_mod, path)
    return KernelPath(path=path.name, intrinsic=path.intrinsic, instructions=list(path.instructions),
                      activation_levels=path.activation_levels, int8_kernels=total, tensorized_kernels=done,
                      machine_code=machine_code(executable, set(path.instructions)))


def float_planned_bytes(imported_mod, target) -> int:
    """Planned activation bytes of the float32 graph, legalized and fused as TVM's default build
    does (planctl.lowering.memory.planned_memory)."""
    import tvm
    from tvm import relax

    from planctl.lowering.memory import planned_memory

    passes = [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(),
              relax.transform.FuseOps(), relax.transform.FuseTIR()]
    with target, tvm.transform.PassContext(opt_level=3):
        mod = tvm.transform.Sequential(passes)(imported_mod)
    return int(planned_memory(mod, target)["planned_bytes"])


def size_evidence(operators: list[QuantizedOperator], candidate: Optional[Path], baseline: Path,
                  planned_bytes: Optional[int], float_planned: Optional[int],
                  peak_rss_mb: dict[str, float]) -> ArtifactSize:
    quantized = [op for op in operators if op.quantized]
    return ArtifactSize(candidate_library_bytes=candidate.stat().st_size if candidate is not None else None,
                        float_library_bytes=baseline.stat().st_size,
                        weight_bytes_float32=sum(op.weight_bytes.get("float32", 0) for op in quantized),
                        weight_bytes_quantized=sum(op.weight_bytes.get("int8", 0) for op in quantized),
                        planned_bytes=planned_bytes, float_planned_bytes=float_planned,
                        peak_rss_mb={k: v for k, v in peak_rss_mb.items() if k in ("candidate", "baseline")})


# ------------------------------------------------------------------------------- rendering
def section(record: dict):
    """The report's Quantization section (planctl.report.sections), or None."""
    from planctl.report.blocks import Section, Table, num

    q = record.get("quantization")
    if not q:
        return None
    kernel, size, settings = q.get("kernel") or {}, q.get("size") or {}, q.get("settings") or {}
    ops = q.get("operators") or []
    done = [op for op in ops if op.get("quantized")]
    kept = [op for op in ops if not op.get("quantized")]
    precision = settings.get("precision") or {}
    paragraphs = [f"{len(done)} of {len(ops)} matmuls with constant weights quantized: weights "
                  f"{precision.get('weights')}, activations {precision.get('activations')} "
                  f"({settings.get('activation_scales')}), KV cache {precision.get('kv_cache')}."]
    if kernel.get("path"):
        counted = {}
        for counts in (kernel.get("machine_code") or {}).values():
            for ins, n in counts.items():
                counted[ins] = counted.get(ins, 0) + n
        found = ", ".join(f"{n} {ins}" for ins, n in sorted(counted.items())) or "none of them"
        paragraphs.append(f"Kernel path {kernel['path']} ({kernel.get('intrinsic')}): "
                          f"{kernel.get('tensorized_kernels')} of {kernel.get('int8_kernels')} int8 kernels tensorized; "
                          f"the library's machine code holds {found} in its int8 kernels.")
    if size:
        paragraphs.append(
            f"Library {num((size.get('candidate_library_bytes') or 0) / 2**20, '.1f')} MiB against "
            f"{num(size.get('float_library_bytes', 0) / 2**20, '.1f')} MiB for the float build; quantized weights "
            f"{num(size.get('weight_bytes_quantized', 0) / 2**20, '.1f')} MiB from "
            f"{num(size.get('weight_bytes_float32', 0) / 2**20, '.1f')} MiB; planned activation memory "
            f"{num((size.get('planned_bytes') or 0) / 2**20, '.2f')} MiB (float build "
            f"{num((size.get('float_planned_bytes') or 0) / 2**20, '.2f')} MiB); peak RSS "
            + ", ".join(f"{k} {num(v, '.0f')} MiB" for k, v in sorted((size.get('peak_rss_mb') or {}).items())) + ".")
    header = ["operator", "weight [K, N]", "weights", "weight scales", "activations", "activation scales",
              "accumulate", "outliers", "kernel"]
    rows = [[op["name"], "x".join(str(d) for d in op.get("weight_shape", [])), op.get("weight_format", ""),
             op.get("weight_granularity", ""), op.get("activation_format", ""), op.get("activation_granularity", ""),
             op.get("accumulation", ""), op.get("outliers", ""), (op.get("kernel") or {}).get("path", "")]
            for op in done]
    tables = [Table(header, rows)] if rows else []
    calibrated = [op for op in done if op.get("calibration")]
    bullets = [f"kept float32: {op['name']} ({op.get('reason')})" for op in kept]
    if calibrated:
        c = calibrated[0]["calibration"]
        bullets.append(f"calibration: {c.get('dataset')}, {c.get('samples')} samples, method {c.get('method')}")
    found = q.get("sensitivity")
    if found:
        tables.append(Table(["keep float", "simulated " + str(found.get("metric")), "goal"],
                            [[", ".join(p.get("keep_float") or []) or "(none)", num(p.get("value"), ".8g"),
                              "pass" if p.get("passed") else "fail"] for p in found.get("probes") or []]))
        bullets.append(f"sensitivity ({found.get('method')}): all quantized simulated "
                       f"{num(found.get('simulated_all'), '.8g')}, measured {num(found.get('measured'), '.8g')}, "
                       f"margin {num(found.get('margin'), '.3g')}; most sensitive: "
                       + ", ".join(f"{r['name']} (+{num(r.get('gain'), '.3g')})" for r in (found.get("per_op") or [])[:5]))
        bullets.append("smallest set to keep float: " + (", ".join(found.get("keep_float") or []) or "none found")
                       + (f" ({found['note']})" if found.get("note") else "")
                       + "; `planctl apply --write-keep-float` adds it to the plan for review")
    return Section("Quantization", paragraphs=paragraphs, bullets=bullets, tables=tables)
