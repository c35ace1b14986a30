"""The target document's TVM target and its device (whether this host can run it is
planctl.lowering.compat's check).

"Target" names two things in apply; here they are kept apart: the *target document*
(``targets/<name>.yaml``, a ``Loaded[Target]``) and the ``tvm.target.Target`` built from its
``spec.tvm`` dict (docs/tvm-0.27.md §3: JSON-dict targets, passed through unchanged).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from planctl.errors import DocumentError

if TYPE_CHECKING:
    import tvm

    from planctl.documents.load import Loaded
    from planctl.documents.models import Target


def tvm_target(target_document: "Loaded[Target]") -> "tvm.target.Target":
    """``tvm.target.Target`` of the document's ``spec.tvm``. A dict TVM rejects, or an LLVM
    ``mcpu`` LLVM does not know (it would silently build for generic x86-64), is a DocumentError
    naming the target file."""
    from tvm.target import codegen

    from planctl.lowering.build import make_target

    doc, path = target_document.model.spec.tvm, str(target_document.path)
    try:
        target = make_target(doc)
    except Exception as exc:  # TVM raises ValueError or TVMError with its own text
        raise DocumentError(f"TVM rejects the target dict: {str(exc).splitlines()[0][:300]}", file=path,
                            hint="spec.tvm must be a TVM 0.27 target dict, e.g. {kind: llvm, mcpu: haswell}") from exc
    mcpu = doc.get("mcpu")
    if target.kind.name == "llvm" and mcpu and mcpu not in codegen.llvm_get_cpu_archlist(target):
        raise DocumentError(f"LLVM does not know mcpu '{mcpu}' (it would build for generic x86-64)",
                            file=path, hint="use an LLVM CPU name such as haswell, znver3, skylake-avx512")
    return target


def device_kind(target_document: "Loaded[Target]") -> str:
    """``cuda`` for a CUDA target document, else ``cpu``: where its builds run."""
    return "cuda" if target_document.model.spec.capabilities.device == "cuda" else "cpu"

