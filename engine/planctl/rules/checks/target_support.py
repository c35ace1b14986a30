"""PLN206 target-support."""
from __future__ import annotations

from typing import get_args

from planctl.documents.models.target import DType
from planctl.rules.capabilities import target_features
from planctl.rules.context import Violation
from planctl.rules.registry import rule

FLOAT = tuple(d for d in get_args(DType) if d.startswith(("float", "bfloat")))  # every float format


def dtype_uses(technique) -> list[tuple[str, str, bool]]:
    """``(field, dtype, computes)`` for the dtypes a technique needs; ``computes`` is False for
    storage the kernels read (KV cache). Integer weights of a weight-only scheme are dequantized
    in the kernel, so they need nothing from the target."""
    precision = getattr(technique, "precision", None)
    if precision is None:
        return []
    uses = [("precision/activations", precision.activations, True)]
    if not (precision.activations in FLOAT and precision.weights not in FLOAT):
        uses.append(("precision/weights", precision.weights, True))
    if precision.kv_cache != "none":
        uses.append(("precision/kv_cache", precision.kv_cache, False))
    if technique.technique == "mixed-precision":
        uses.append(("accumulate", technique.accumulate, True))
    return uses


def dtype_violations(pointer, technique, name, target, table):
    caps = target.spec.capabilities
    seen: set[str] = set()  # one finding per dtype: int8 weights x int8 activations is one dot
    for field, dtype, computes in dtype_uses(technique):
        if dtype in seen:
            continue
        seen.add(dtype)
        if dtype not in caps.dtypes:
            yield Violation(f"{pointer}/{field}", f"{technique.technique} needs {dtype}, which "
                            f"target {name} does not support", key=f"{name}:{field}",
                            help=f"supported dtypes on {name}: {', '.join(caps.dtypes)}")
            continue
        needs, why = table.dtype_features.get(dtype, ((), ""))
        if computes and needs and not set(needs) & target_features(target):
            yield Violation(f"{pointer}/{field}", f"{technique.technique} computes in {dtype} but "
                            f"target {name} lacks the feature ({why})", key=f"{name}:{field}",
                            help=f"needs one of: {', '.join(needs)}")


def requirement_violations(pointer, technique, info, name, target):
    caps = target.spec.capabilities
    for req in info.requires:
        if not req.applies(technique):
            continue
        if req.devices and caps.device not in req.devices:
            at, setting = _parameter_at(pointer, technique, req.when)
            yield Violation(at, f"{technique.technique} cannot run on target {name} "
                            f"(device {caps.device}): {req.why}", key=f"{name}:device",
                            help=(f"{setting} for {name}" if setting else
                                  f"leave {technique.technique} out, or apply the plan to a target of device "
                                  f"{' or '.join(req.devices)}"))
        elif req.features_any and not set(req.features_any) & target_features(target):
            yield Violation(pointer, f"{technique.technique} cannot run on target {name}: "
                            f"{req.why}", key=f"{name}:features",
                            help=f"needs one of: {', '.join(req.features_any)}")


def _parameter_at(pointer: str, technique, when: dict) -> tuple[str, str]:
    """The pointer of the parameter a ``when`` requirement is about (a list parameter's matching
    item: ``libraries/0``) and how to drop the setting; the technique's own pointer and "" for a
    requirement of the technique itself."""
    for key, wanted in when.items():
        actual = getattr(technique, key, None)
        if isinstance(actual, (list, tuple)) and wanted in actual:
            return f"{pointer}/{key}/{list(actual).index(wanted)}", f"remove {wanted} from {key}"
        return f"{pointer}/{key}", f"leave {key}: {wanted} out"
    return pointer, ""


def peer_gate_violations(ctx):
    """The onnxruntime gate needs onnxruntime timed where the build is: a target measured on an RPC
    farm times only TVM builds (planctl.measure.benchmark), so the gate could never be reached."""
    if ctx.spec.envelope.performance.versus_onnxruntime is None:
        return
    for name, target in ctx.known_targets():
        farm = target.spec.measurement
        if farm.kind == "rpc":
            yield Violation("/spec/envelope/performance/versus_onnxruntime",
                            f"the onnxruntime gate cannot be judged on target {name}: it is measured on the "
                            f"RPC farm '{farm.device_key}' at {farm.tracker}, where only TVM builds run, so "
                            "every bucket would roll back", key=f"{name}:versus_onnxruntime",
                            help="gate on onnxruntime in a plan whose targets are measured locally "
                                 "(measurement: {kind: local}), or drop versus_onnxruntime from this one")


@rule("PLN206", "target-support", "error")
def check(ctx):
    """Every target supports every technique's dtypes and features.

    What it checks
        For each target of the plan and each technique: the device and features the capability
        table requires (CUDA graphs only on ``cuda``; 2:4 sparsity on sparse tensor cores), the
        dtypes the technique computes in (activations, non-weight-only weights, mixed-precision
        accumulators) and stores (KV cache) are in the target's ``capabilities.dtypes``, and
        integer or fp8 compute has the instructions it needs (int8 dot products such as ``vnni``
        or ``dp4a``; fp8 and int4 on tensor cores). Weight-only quantization stores integer
        weights and computes in floating point, so its weight dtype needs no compute feature.
        Library routes name a library of the target's device (cuBLASLt on CUDA, OpenBLAS on
        CPUs). A gate on onnxruntime (``envelope.performance.versus_onnxruntime``) needs targets
        measured locally: on an RPC farm only TVM builds run.

    Why
        A technique the target cannot execute natively either fails to build or silently falls
        back to an emulated, slower path: the plan would promise a speedup it cannot deliver.

    Example
        ``precision: {weights: int8, activations: int8}`` on ``x86-64-avx2`` (AVX2 has no int8
        dot-product instruction; VNNI arrived with AVX-512 and AVX-VNNI).

    Fix
        Pick a precision the target computes in, drop the target from the plan, or declare the
        feature in the target's capabilities if the hardware really has it.
    """
    for pointer, technique, info in ctx.techniques():
        for name, target in ctx.known_targets():
            yield from requirement_violations(pointer, technique, info, name, target)
            yield from dtype_violations(pointer, technique, name, target, ctx.table)
    yield from peer_gate_violations(ctx)
