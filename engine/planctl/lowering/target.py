"""The target document's TVM target and its device (whether this host can run it is
planctl.lowering.compat's check).

"Target" names two things in apply; here they are kept apart: the *target document*
(``targets/<name>.yaml``, a ``Loaded[Target]``) and the ``tvm.target.Target`` built from its
``spec.tvm`` dict (docs/tvm-0.27.md §3: JSON-dict targets, passed through unchanged).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from planctl.errors import BadTargetError

if TYPE_CHECKING:
    import tvm

    from planctl.documents.load import Loaded
    from planctl.documents.models import Target


def tvm_target(target_document: "Loaded[Target]") -> "tvm.target.Target":
    """``tvm.target.Target`` of the document's ``spec.tvm``. A dict TVM rejects, or an LLVM
    ``mcpu`` LLVM does not know (it would silently build for generic x86-64), is a BadTargetError (PLN118)
    naming the target file, at the key at fault (planctl.lowering.target.checked_target)."""
    doc = target_document.model.spec.tvm
    target, problem = checked_target(doc)
    if problem is None:
        return target
    key, refused = problem
    if key.startswith("mattr/"):
        raise BadTargetError(refused, hint="LLVM's x86 feature names are such as avx2, fma, avx512f, avx512vnni, "
                                           "avx512bf16, amx-tile (`llc -march=x86-64 -mattr=help` lists them)",
                             **_at(target_document, f"/spec/tvm/{key}"))
    if refused is None:
        raise BadTargetError(f"LLVM does not know mcpu '{doc['mcpu']}' (it would build for generic x86-64)",
                            hint="use an LLVM CPU name such as haswell, znver3, skylake-avx512",
                            **_at(target_document, "/spec/tvm/mcpu"))
    raise BadTargetError(f"TVM rejects the target dict: {refused}",
                        hint="spec.tvm must be a TVM 0.27 target dict, e.g. {kind: llvm, mcpu: haswell}",
                        **_at(target_document, f"/spec/tvm/{key}" if key else "/spec/tvm"))
    return target


def checked_target(doc: dict):
    """(``tvm.target.Target`` of a target document's ``spec.tvm``, None), or (None, (the spec.tvm key
    at fault or "", TVM's message)) for a dict TVM rejects, (None, ("mcpu", None)) for an ``mcpu``
    LLVM does not know (it would silently build for its generic CPU and say so only on stderr).
    Shared by apply (here) and the host check (planctl.lowering.compat): both refuse the same targets."""
    from planctl.lowering.build import make_target

    try:
        target = make_target(doc)
    except Exception as exc:  # noqa: BLE001 - TVM raises ValueError or TVMError with its own text
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        unknown = re.findall(r"Unknown config option '([^']+)'", message)
        return None, (unknown[0] if unknown else "", message.split(" Target creation from config")[0][:300])
    mcpu = doc.get("mcpu")
    if target.kind.name == "llvm" and mcpu and mcpu not in _cpus(target):
        return None, ("mcpu", None)
    if target.kind.name == "llvm" and (unknown := unknown_features(target)):
        return None, (f"mattr/{unknown[0][0]}", f"LLVM knows no feature '{unknown[0][1]}' (it would ignore it and "
                                                 "build without it)")
    return target, None


UNRECOGNIZED = re.compile(r"'([+-][^']+)' is not a recognized feature")


def unknown_features(target) -> list[tuple[int, str]]:
    """``(index, entry)`` of each ``mattr`` entry LLVM does not know for ``target``'s triple. LLVM
    says so only on stderr ("is not a recognized feature for this target (ignoring feature)") and
    builds without it, so a typo (``+avx512vnn``) silently loses the instructions; its line is read
    here from descriptor 2 and kept off the terminal."""
    import os
    import tempfile

    from tvm.target import codegen

    mattr = [str(a) for a in (target.export().get("mattr") or [])]
    if not mattr:
        return []
    with tempfile.TemporaryFile("w+") as caught:
        saved = os.dup(2)
        try:
            os.dup2(caught.fileno(), 2)
            codegen.llvm_get_cpu_features(target)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        refused = set(UNRECOGNIZED.findall(caught.read()))
    return [(i, entry) for i, entry in enumerate(mattr) if entry in refused]


def _cpus(target) -> list[str]:
    """The CPUs LLVM knows for ``target``'s triple, asked of a target without its ``mcpu``: LLVM's
    instance for an unknown mcpu logs its own "is not valid ... using generic" line on stderr, which
    reached the console beside planctl's located error."""
    from tvm.target import Target, codegen

    exported = target.export()
    return list(codegen.llvm_get_cpu_archlist(Target({k: exported[k] for k in ("kind", "mtriple") if k in exported})))


def _at(target_document, pointer: str) -> dict:
    """The error location of ``pointer`` in the target file (its file alone where it cannot be found)."""
    try:   # the whole value underlined, as check underlines a finding
        line, col, end_line, end_col = target_document.index.locate(pointer)
    except Exception:  # noqa: BLE001 - a location is a courtesy; the error stands without it
        line = col = end_line = end_col = None
    return {"file": str(target_document.path), "line": line, "col": col, "end_line": end_line, "end_col": end_col,
            "pointer": pointer}


def device_kind(target_document: "Loaded[Target]") -> str:
    """``cuda`` for a CUDA target document, else ``cpu``: where its builds run."""
    return "cuda" if target_document.model.spec.capabilities.device == "cuda" else "cpu"

