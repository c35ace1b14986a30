"""The ``Target`` document (``targets/*.yaml``).

``spec.tvm`` is a TVM 0.27 target dict passed to ``tvm.target.Target`` unchanged (string targets
with options are gone in 0.27, see docs/tvm-0.27.md §3). Beside it, the capabilities the
legality rules reason about, the roofline peaks the report uses, and what tuning records measured
on another device are good for here (``other_device_records``).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from planctl.documents.models.common import ApiVersion, Frozen, Metadata, PositiveFloat, PositiveInt

DType = Literal["float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2",
                "int64", "int32", "int16", "int8", "uint8", "int4", "uint4", "bool"]


class Capabilities(Frozen):
    """What the hardware can do, for the legality rules (no TVM import needed).

    ``dtypes``: dtypes with native compute; ``features``: ISA or device features such as ``avx2``,
    ``fma``, ``avx512f``, ``vnni`` (int8 dot products), ``tensor-cores``, ``cuda-graphs``.
    """

    device: Literal["cpu", "cuda", "rocm", "metal", "vulkan"]
    dtypes: list[DType] = Field(min_length=1)
    features: list[str] = Field(default_factory=list)
    tensor_cores: bool = False
    vector_width_bits: PositiveInt | None = None


class Roofline(Frozen):
    """Peak throughput for the roofline plot: FLOP/s per dtype and memory bandwidth in bytes/s.
    ``source`` says whether the figures are datasheet values or measured (and how)."""

    peak_flops: dict[DType, PositiveFloat] = Field(min_length=1)
    memory_bandwidth: PositiveFloat = Field(description="bytes per second")
    source: str = "datasheet"


Caches = Literal["warm", "cold"]
CACHES = Field("warm", description=(
    "How a candidate schedule is timed. `warm`: each timed run finds the caches as the previous run "
    "left them (MetaSchedule's default). `cold`: before each timed run, every argument but the first "
    "is flushed from the CPU caches (TVM's EvaluatorConfig.enable_cpu_cache_flush), so weights come "
    "from memory and the activation stays cached, as in a model whose weights exceed the last-level "
    "cache. CPU targets only (PLN124). Part of the measuring device's identity, as the CPU is: "
    "records measured warm serve a cold target as another device's, ranked after its own."))


class LocalMeasurement(Frozen):
    kind: Literal["local"]  # required: a discriminated union's tag is (JSON Schema agrees)
    caches: Caches = CACHES


class RpcMeasurement(Frozen):
    """Measure on a device farm through TVM's RPC tracker."""

    kind: Literal["rpc"]
    tracker: str = Field(pattern=r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$", description="host:port")
    device_key: str = Field(min_length=1)
    session_timeout_s: PositiveInt = 60
    caches: Caches = CACHES


Measurement = Annotated[Union[LocalMeasurement, RpcMeasurement], Field(discriminator="kind")]


class TargetSpec(Frozen):
    tvm: dict[str, Any] = Field(description="A TVM 0.27 target dict, passed to tvm.target.Target unchanged.")
    capabilities: Capabilities
    roofline: Roofline | None = None
    measurement: Measurement = Field(default_factory=lambda: LocalMeasurement(kind="local"))
    compatible_with: list[str] = Field(default_factory=list,
                                       description="Targets whose tuning records may be reused here.")
    other_device_records: Literal["serve", "re-measure", "search"] = Field(
        "serve", description=(
            "What apply does with valid tuning records (same target dict and TVM versions) that another "
            "device measured: `serve` them (the report says where they were measured), `re-measure` the "
            "best few per task on this host within the plan's budget before one is chosen, or `search` "
            "the task anew. Records of another target or TVM version are never served."))


class Target(Frozen):
    apiVersion: ApiVersion
    kind: Literal["Target"]
    metadata: Metadata
    spec: TargetSpec
