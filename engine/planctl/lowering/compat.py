"""Whether this host can run a target's code, checked before apply builds anything.

- LLVM (CPU) targets: every instruction-set feature that TVM's LLVM enables for the target's
  ``mcpu`` and ``mattr`` (``tvm.target.codegen.llvm_cpu_has_features``) must be among this CPU's
  flags (planctl.host, ``/proc/cpuinfo``). :data:`FEATURE_FLAGS` maps LLVM's feature names to the
  kernel's flag names. On x86 an instruction-set feature outside it (by name: AVX, AMX, SSE, SHA,
  SM3/SM4 and APX's register and encoding extensions) is looked up by its own name with ``-`` and
  ``.`` as ``_``, and counts as missing when the kernel does not list it: an ``mcpu`` of a newer CPU
  (``diamondrapids``: APX's egpr and ndd, AVX10) died on an illegal instruction where it passed.
  Other features (LLVM's tuning flags such as ``false-deps-perm``) are not checked.
- CUDA targets: a GPU must be visible whose compute capability runs the target's ``arch``: the same
  major version and at least its minor one; an arch-specific ``sm_XYa`` runs only on exactly X.Y.

A target that fails is a located error (:class:`planctl.errors.HostMismatchError`) rather than a
build that dies on an illegal instruction. Host flags that cannot be read are not held against
the target (the check says so). Imports TVM.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from planctl.errors import HostMismatchError
from planctl.host import cpu, describe, gpus

# LLVM feature -> /proc/cpuinfo flag (x86 from the kernel's cpufeatures.h names; aarch64 "Features")
FEATURE_FLAGS = {
    "sse4.1": "sse4_1", "sse4.2": "sse4_2", "ssse3": "ssse3", "avx": "avx", "avx2": "avx2", "fma": "fma",
    "f16c": "f16c", "bmi": "bmi1", "bmi2": "bmi2", "popcnt": "popcnt", "movbe": "movbe", "aes": "aes",
    "pclmul": "pclmulqdq", "adx": "adx", "sha": "sha_ni", "gfni": "gfni", "vaes": "vaes",
    "vpclmulqdq": "vpclmulqdq", "avx512f": "avx512f", "avx512cd": "avx512cd", "avx512bw": "avx512bw",
    "avx512dq": "avx512dq", "avx512vl": "avx512vl", "avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16", "avx512vbmi": "avx512vbmi", "avx512vbmi2": "avx512_vbmi2",
    "avx512ifma": "avx512ifma", "avx512bitalg": "avx512_bitalg", "avx512vpopcntdq": "avx512_vpopcntdq",
    "avxvnni": "avx_vnni", "amx-tile": "amx_tile", "amx-int8": "amx_int8", "amx-bf16": "amx_bf16",
    "xop": "xop", "fma4": "fma4", "sse4a": "sse4a",
    "sse3": "pni", "avxifma": "avx_ifma", "avxneconvert": "avx_ne_convert", "avxvnniint8": "avx_vnni_int8",
    "avxvnniint16": "avx_vnni_int16", "avx512vp2intersect": "avx512_vp2intersect",
    # APX (Intel's advanced performance extensions): one CPUID bit, which Linux names "apx"
    **{apx: "apx" for apx in ("egpr", "ndd", "ppx", "push2pop2", "ccmp", "nf", "zu", "cf")},
    "neon": "asimd", "sve": "sve", "sve2": "sve2", "dotprod": "asimddp", "i8mm": "i8mm", "bf16": "bf16",
}


@dataclass(frozen=True)
class Support:
    """``runs``: this host can run the target's code; ``missing``: what it lacks (LLVM feature
    names, or the GPU architecture); ``host``: this host in a few words; ``checked``: False when the
    host's features could not be read (then ``runs`` is True and nothing was held against it)."""

    runs: bool
    host: str
    missing: tuple[str, ...] = ()
    needs: str = ""
    checked: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)
    key: str = ""   # the spec.tvm key at fault when the target itself is refused (notes[0] says why)

    def reason(self) -> str:
        if not self.checked:
            return f"not checked: {self.notes[0] if self.notes else 'host features unknown'}"
        if not self.runs and not self.missing:
            return f"no: {self.notes[0]}"
        return "yes" if self.runs else f"no: {self.host} lacks {', '.join(self.missing)}"


def support(tvm_dict: dict) -> Support:
    """Whether this host runs code built for ``tvm_dict`` (a Target document's ``spec.tvm``).
    Raises MissingExtraError when TVM is not installed."""
    kind = tvm_dict.get("kind")
    if kind in ("llvm", "c"):
        return _cpu_support(tvm_dict)
    if kind == "cuda":
        return _cuda_support(tvm_dict)
    return Support(True, "this host", checked=False, notes=(f"no host check for TVM kind '{kind}'",))


def _cpu_support(tvm_dict: dict) -> Support:
    from planctl.lowering.target import checked_target
    from planctl.lowering.tvm_env import import_tvm

    import_tvm()
    from tvm.target import codegen

    host = cpu()
    label = describe({"kind": "cpu", **host})
    if not host["flags"]:
        return Support(True, label, checked=False, notes=("this host's CPU flags cannot be read",))
    triple = str(tvm_dict.get("mtriple", ""))
    if triple and not triple.startswith(host["machine"]) and not (
            host["machine"] == "arm64" and triple.startswith("aarch64")):
        return Support(False, label, (f"mtriple {triple}",), needs=f"a {triple.split('-')[0]} CPU")
    if (system := triple_system(triple)) and not sys.platform.startswith(system):
        return Support(False, label, needs=f"mtriple {triple}", key="mtriple",
                       notes=(f"mtriple {triple} builds a library for {system}, which this {sys.platform} host "
                              "cannot load",))
    target, problem = checked_target({k: v for k, v in tvm_dict.items() if k != "host"})
    if problem is not None:   # an option TVM refuses, an mcpu LLVM does not know: it runs nowhere
        key, refused = problem
        why = (f"TVM refuses spec.tvm: {refused}" if refused is not None else
               f"LLVM knows no CPU '{tvm_dict['mcpu']}' (its x86 names include cascadelake, znver4, haswell; "
               "`llc -mcpu=help` lists them)")
        if key.startswith("mattr/"):
            why = refused
        return Support(False, label, needs=f"LLVM mcpu {tvm_dict['mcpu']}" if refused is None else
                       "a target TVM accepts", notes=(why,), key=key)
    x86 = (triple or host["machine"]).startswith(("x86_64", "i686", "amd64"))
    flags = {f: _host_flag(f, x86) for f in codegen.llvm_get_cpu_features(target)}
    enabled = sorted(f for f, flag in flags.items() if flag)
    missing = tuple(f for f in enabled if flags[f] not in host["flags"])
    needs = f"LLVM mcpu {tvm_dict.get('mcpu', 'generic')}" + (f" + mattr {list(tvm_dict['mattr'])}"
                                                             if tvm_dict.get("mattr") else "")
    return Support(not missing, label, missing, needs=f"{needs}: {', '.join(enabled) or 'baseline ISA'}")


# an LLVM triple's OS part (arch-vendor-os[-env]) -> the sys.platform prefix of a host that loads its code
TRIPLE_SYSTEMS = {"linux": "linux", "darwin": "darwin", "macos": "darwin", "ios": "darwin",
                  "windows": "win32", "win32": "win32", "mingw": "win32", "freebsd": "freebsd"}


def triple_system(triple: str) -> str | None:
    """The host system that loads code built for an LLVM ``triple`` (``x86_64-apple-darwin`` ->
    ``darwin``: a Mach-O library a Linux host cannot dlopen); None when the triple names none."""
    for part in triple.lower().split("-")[1:]:
        for prefix, system in TRIPLE_SYSTEMS.items():
            if part.startswith(prefix):
                return system
    return None


X86_ISA = re.compile(r"^(avx|amx|sse|sha|sm3$|sm4$)")


def _host_flag(feature: str, x86: bool) -> str | None:
    """The /proc/cpuinfo flag that says this CPU has LLVM's ``feature``; None for a feature not
    checked (a tuning flag, or one of another architecture without a mapping)."""
    if feature in FEATURE_FLAGS:
        return FEATURE_FLAGS[feature]
    return feature.replace("-", "_").replace(".", "_") if x86 and X86_ISA.match(feature) else None


def _cuda_support(tvm_dict: dict) -> Support:
    arch = str(tvm_dict.get("arch", ""))
    found = gpus("cuda")
    if not found:
        return Support(False, "this host", (f"a visible CUDA GPU ({arch})",), needs=f"CUDA {arch}")
    match = re.match(r"^sm_(\d+)(\d)([a-z]?)$", arch)
    if not match:
        return Support(True, describe(found[0]), checked=False, notes=(f"CUDA arch '{arch}' not understood",))
    major, minor, specific = int(match[1]), int(match[2]), bool(match[3])
    for gpu in found:
        have = tuple(int(x) for x in str(gpu.get("compute", "0.0")).split(".")[:2])
        if have[0] == major and (have[1] == minor if specific else have[1] >= minor):
            return Support(True, describe(gpu), needs=f"CUDA {arch}")
    return Support(False, describe(found[0]), (arch,), needs=f"CUDA {arch} (compute capability {major}.{minor}"
                   + (" exactly" if specific else " or a later minor") + ")")


def require(target_loaded, target_name: str) -> Support:
    """Raise :class:`HostMismatchError` at the target document's ``mcpu``/``mattr``/``arch`` line
    when this host cannot run its code; return the Support otherwise."""
    spec = target_loaded.model.spec
    found = support(dict(spec.tvm))
    if found.runs:
        return found
    keys = ("mattr", "mcpu", "arch", "mtriple") if found.missing else (found.key,)
    pointer = next((f"/spec/tvm/{k}" for k in keys if k.split("/")[0] in spec.tvm), "/spec/tvm")
    line, col, end_line, end_col = _locate(target_loaded, pointer)
    # what the target asks for, without the full list of features it enables (20 for an AVX-512
    # mcpu); the missing ones are the news
    asks = found.needs.split(":", 1)[0] if found.needs else "its ISA"
    why = f"{found.host} lacks {', '.join(found.missing)}" if found.missing else found.notes[0]
    raise HostMismatchError(
        f"this host cannot run target {target_name}: {why} (the target asks for {asks})",
        file=str(target_loaded.path), line=line, col=col, pointer=pointer, end_line=end_line, end_col=end_col,
        hint="`planctl targets` lists the targets this host can run; apply one of them, or run on a host of "
             "this target")


def _locate(loaded, pointer: str) -> tuple[int | None, int | None, int | None, int | None]:
    """(line, col, end_line, end_col) of ``pointer``: the whole value is underlined, not its first character."""
    try:
        return tuple(loaded.index.locate(pointer))
    except Exception:  # noqa: BLE001 - a location is a courtesy; the error stands without it
        return None, None, None, None
