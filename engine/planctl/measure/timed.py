"""A build run in a fresh measurement process, every call timed: what verifies an expensive build
and measures it with the same calls.

TVM's untuned baseline takes seconds per call on CPU (MiniLM at 32 x 128: ~50 s on one core), and
it must pass parity at every shape bucket before it may serve as a fallback (issue 12), while the
performance gate needs its latency there too. :class:`TimedBuild` loads the library in a process
forked from the measurement server (planctl.measure.benchmark: a clean process that never built
or loaded a model, exactly as the rotated measurement's contenders start) and serves calls over a
pipe: parity (planctl.verify.parity) sends it each example and compares what comes back, and the
time of each call (``main`` and, on a GPU, the device synchronize; not the transfer of inputs
and outputs) is a latency sample. The first call of a process is its warm-up when more than one
call was made.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from planctl.errors import PlanctlError

CALL_TIMEOUT_S = 1800   # one call of an untuned build on a loaded 2-core machine (MiniLM 32x128: 50-150 s)


def _serve(spec: dict, conn) -> None:
    """The child: load ``spec["path"]``, then answer each inputs dict with its outputs and time."""
    import numpy as np

    from planctl.lowering.vm import vm_callable
    from planctl.measure.memory import peak_rss_mb

    try:
        vm = vm_callable(spec["path"], spec["input_names"], spec.get("device", "cpu"))
    except BaseException as exc:  # the parent raises it; a child must not print a bare traceback
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        return
    conn.send({"ready": True})
    while True:
        inputs = conn.recv()
        if inputs is None:
            conn.send({"peak_rss_mb": peak_rss_mb()})
            return
        try:
            args = vm.arguments(inputs)
            start = time.perf_counter_ns()
            out = vm._main(*args)
            if vm.device_kind == "cuda":
                vm.device.sync()
            elapsed = (time.perf_counter_ns() - start) / 1e6
            outputs = [out.numpy()] if hasattr(out, "numpy") else [item.numpy() for item in out]
            conn.send({"outputs": [np.asarray(o) for o in outputs], "ms": elapsed})
        except Exception as exc:  # noqa: BLE001 - the build raising is parity's evidence, not a crash
            conn.send({"error": f"{type(exc).__name__}: {exc}"})


class TimedBuild:
    """``{input name: array} -> [arrays]`` running ``main`` of the library ``path`` in a fresh
    measurement process; ``samples_ms`` holds every call's time, ``last_call_ms`` the latest.
    Use as a context manager (the process stops on exit). A call that raises in the child raises
    RuntimeError here (parity counts it as a violation); a child that dies or hangs past
    :data:`CALL_TIMEOUT_S` raises PlanctlError."""

    def __init__(self, path: str, input_names: list[str], device: str = "cpu"):
        self.spec = {"path": str(path), "input_names": list(input_names), "device": device}
        self.samples_ms: list[float] = []
        self.last_call_ms: float | None = None
        self.peak_rss_mb: float | None = None
        self._proc = self._conn = None

    def __enter__(self) -> "TimedBuild":
        from planctl.measure.benchmark import _server

        ctx = _server()
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(self.spec, child), daemon=True)
        self._proc.start()
        child.close()
        ready = self._receive()
        if "error" in ready:
            raise PlanctlError(f"the measurement process could not load {self.spec['path']}: {ready['error']}")
        return self

    def __call__(self, inputs: Mapping[str, Any]) -> list:
        self.last_call_ms = None
        self._conn.send({k: inputs[k] for k in self.spec["input_names"]})
        answer = self._receive()
        if "error" in answer:
            raise RuntimeError(answer["error"])
        self.last_call_ms = answer["ms"]
        self.samples_ms.append(answer["ms"])
        return answer["outputs"]

    def __exit__(self, *exc) -> None:
        try:
            if self._proc is not None and self._proc.is_alive():
                self._conn.send(None)
                if self._conn.poll(30):
                    self.peak_rss_mb = self._conn.recv().get("peak_rss_mb")
        except (OSError, EOFError):
            pass
        finally:
            self._stop()

    def _receive(self) -> dict:
        if not self._conn.poll(CALL_TIMEOUT_S):
            self._stop()
            raise PlanctlError(f"the measurement process for {self.spec['path']} ran past {CALL_TIMEOUT_S} s",
                               hint="the build may hang on these inputs")
        try:
            return self._conn.recv()
        except EOFError:
            code = self._proc.exitcode if self._proc is not None else None
            self._stop()
            raise PlanctlError(f"the measurement process for {self.spec['path']} died (exit code {code})",
                               hint="a native crash in the build; run `planctl verify replay` on it") from None

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join()
            self._proc = None

    def latency_samples(self) -> tuple[list[float], int]:
        """(samples, warm-up calls dropped): the first call is a warm-up when there are more."""
        if len(self.samples_ms) > 1:
            return self.samples_ms[1:], 1
        return list(self.samples_ms), 0

