"""Running a compiled Relax module: the one way planctl makes a VM callable.

Parity, quality, bisection probes, the measurement processes, ``planctl verify replay`` and the
runtime loader all call ``main`` of a build the same way: inputs by the plan's input names, placed
on the target's device (``cpu`` or ``cuda``), outputs back as numpy arrays in order (a single
tensor or a tuple of them).
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, Union

if TYPE_CHECKING:
    import numpy as np
    import tvm
    from tvm.relax import VMExecutable

Executable = Union["VMExecutable", "tvm.runtime.Module", str, os.PathLike]
DEVICE_KINDS = ("cpu", "cuda")


def device(kind: str) -> "tvm.runtime.Device":
    """TVM's device 0 of ``kind`` (``cuda``; anything else is the CPU)."""
    from planctl.lowering.tvm_env import import_tvm

    tvm = import_tvm()
    return tvm.cuda() if kind == "cuda" else tvm.cpu()


class VMCallable:
    """``{input name: np.ndarray} -> list[np.ndarray]`` running ``main`` of one build.

    ``executable``: a ``VMExecutable`` from ``tvm.compile``/``relax.build``, a loaded runtime
    module, or the path of an exported library (``.so``); ``input_names``: ``main``'s parameters in
    order; ``device_kind``: ``cpu`` or ``cuda``. On the CPU, the memory that loading the build
    maps (its weights) gets transparent huge pages (planctl.lowering.huge_pages). Raises TVM's
    errors (TVMError, RuntimeError for a wrong shape) unchanged: parity counts a raising candidate
    as a violation.
    """

    def __init__(self, executable: Executable, input_names: Sequence[str], device_kind: str = "cpu"):
        from planctl.lowering.huge_pages import loaded_with_huge_pages
        from planctl.lowering.tvm_env import import_tvm

        tvm = import_tvm()
        from tvm import relax

        self.device_kind = device_kind
        self.device = device(device_kind)
        self.input_names = list(input_names)
        if device_kind != "cuda":
            _point_blas_route_at_openblas()
        what = str(executable) if isinstance(executable, (str, os.PathLike)) else "a build in memory"
        with loaded_with_huge_pages(what) if device_kind != "cuda" else nullcontext():
            if isinstance(executable, (str, os.PathLike)):
                executable = tvm.runtime.load_module(str(executable))
            self.vm = relax.VirtualMachine(executable, self.device)
        self._main = self.vm["main"]

    def arguments(self, inputs: Mapping[str, "np.ndarray"]) -> list:
        """The inputs as TVM tensors on the device, in ``input_names`` order (KeyError when one is missing)."""
        import tvm

        return [tvm.runtime.tensor(inputs[name], device=self.device) for name in self.input_names]

    def __call__(self, inputs: Mapping[str, "np.ndarray"]) -> list["np.ndarray"]:
        out = self._main(*self.arguments(inputs))
        return [out.numpy()] if hasattr(out, "numpy") else [item.numpy() for item in out]

    def bound(self, inputs: Mapping[str, "np.ndarray"]) -> Callable[[], None]:
        """A zero-argument call of ``main`` on ``inputs`` already on the device, for timing; on a
        GPU it ends with a device synchronize, so the time covers the kernels, not their launch."""
        args, main = self.arguments(inputs), self._main
        if self.device_kind != "cuda":
            return lambda: main(*args)
        sync = self.device.sync

        def run() -> None:
            main(*args)
            sync()
        return run


def _point_blas_route_at_openblas() -> None:
    """Set ``PLANCTL_OPENBLAS`` (unless set) to this environment's scipy-openblas32 library, which a
    build with CPU library routes (planctl.lowering.cpu_library) opens at its first GEMM: the path
    it saw at build time need not exist where it is deployed."""
    if "PLANCTL_OPENBLAS" not in os.environ:
        from planctl.lowering.cpu_library import find_openblas

        found = find_openblas()
        if found:
            os.environ["PLANCTL_OPENBLAS"] = found


def vm_callable(executable: Executable, input_names: Sequence[str], device_kind: str = "cpu") -> VMCallable:
    """See :class:`VMCallable`."""
    return VMCallable(executable, input_names, device_kind)
