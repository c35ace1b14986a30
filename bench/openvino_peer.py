"""OpenVINO as a peer in the CPU benchmarks: the same ONNX model, configured as its users do.

OpenVINO (the ``openvino`` package, planctl's optional ``bench`` extra) is the strongest CPU
runtime on Intel hosts and runs on AMD x86-64 too. Configuration, from OpenVINO's performance
hints guide (docs.openvino.ai, "High-level Performance Hints"):

- one caller (latency): ``PERFORMANCE_HINT=LATENCY``, ``INFERENCE_NUM_THREADS`` = the cores given,
  ``INFERENCE_PRECISION_HINT=f32`` (on hosts with AVX-512 BF16 or AMX, OpenVINO's CPU plugin
  otherwise runs bf16 by default, a quality trade the other contenders do not make);
- several callers (throughput): ``PERFORMANCE_HINT=THROUGHPUT`` with
  ``PERFORMANCE_HINT_NUM_REQUESTS`` = the callers, one infer request per caller, f32 as above.

``python bench/openvino_peer.py`` prints what this host's OpenVINO sees (version, device name,
capabilities), or why it is unavailable.
"""
from __future__ import annotations

from typing import Callable


def unavailable() -> str | None:
    """None when OpenVINO can run here, else why not (not installed, no CPU device)."""
    try:
        import openvino as ov
    except ImportError:
        return "openvino is not installed (pip install 'planctl[bench]')"
    try:
        if "CPU" not in ov.Core().available_devices:
            return "OpenVINO sees no CPU device on this host"
    except Exception as exc:  # noqa: BLE001 - any plugin failure means: no contender here
        return f"OpenVINO's CPU plugin failed to load: {exc}"
    return None


def compiled_model(model: str, threads: int, callers: int = 1, shapes: dict | None = None):
    """``model`` (an ONNX path) compiled for the CPU: the latency hint for one caller, the
    throughput hint for ``callers`` > 1; ``threads`` = ``INFERENCE_NUM_THREADS``; f32 precision.
    ``shapes`` ({input name: shape}) reshapes the model to those static shapes first: a model
    compiled for one shape is OpenVINO at its best on that shape (no dynamic-shape kernels)."""
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": int(threads)}
    if callers > 1:
        config.update({"PERFORMANCE_HINT": "THROUGHPUT", "PERFORMANCE_HINT_NUM_REQUESTS": int(callers)})
    else:
        config["PERFORMANCE_HINT"] = "LATENCY"
    core = ov.Core()
    if shapes:
        model = core.read_model(model)
        model.reshape({name: list(shape) for name, shape in shapes.items()})
    return core.compile_model(model, "CPU", config)


def runner(compiled, inputs: dict) -> Callable[[], None]:
    """One synchronous inference on ``inputs`` (name -> numpy array) with its own infer request:
    one per caller thread (an infer request is not shared between threads; ``infer`` releases the GIL)."""
    request = compiled.create_infer_request()
    return lambda: request.infer(inputs, share_inputs=True)


def latency_runner(model: str, inputs: dict, threads: int, shapes: dict | None = None) -> Callable[[], None]:
    """A one-caller contender: ``runner(compiled_model(model, threads, shapes=shapes), inputs)``."""
    return runner(compiled_model(model, threads, shapes=shapes), inputs)


def describe() -> dict:
    """``{"version", "device", "capabilities"}`` of this host's OpenVINO CPU plugin, or ``{"unavailable"}``."""
    why = unavailable()
    if why:
        return {"unavailable": why}
    import openvino as ov

    core = ov.Core()
    return {"version": ov.__version__, "device": core.get_property("CPU", "FULL_DEVICE_NAME"),
            "capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}


if __name__ == "__main__":
    import json

    print(json.dumps(describe(), indent=2))
