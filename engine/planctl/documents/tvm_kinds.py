"""The TVM 0.27 target kinds planctl supports in a target's ``spec.tvm.kind`` (PLN118), each with
the ``capabilities.device`` values it is consistent with (PLN119; an empty tuple: any, as the
device enumeration has no opencl or webgpu value)."""
from __future__ import annotations

TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "llvm": ("cpu",),
    "cuda": ("cuda",),
    "rocm": ("rocm",),
    "metal": ("metal",),
    "vulkan": ("vulkan",),
    "opencl": (),
    "webgpu": (),
}
