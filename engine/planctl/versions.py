"""Installed package versions, read from distribution metadata (no package is imported).

The one reader of installed versions: cache keys (planctl.tuning.keys), the report's environment,
saved plans and the inputs digest all ask here, so they cannot disagree about a version.
"""
from __future__ import annotations

from importlib import metadata
from typing import Iterable

TVM = ("apache-tvm", "apache-tvm-ffi")  # the versions a tuning record is valid for
BUILD = (*TVM, "onnx", "onnxruntime", "numpy", "torch")  # what a build, its parity and its timing depend on


def version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (a PyPI name such as ``apache-tvm``), None when absent."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed(distributions: Iterable[str] = BUILD) -> dict[str, str | None]:
    """``{distribution: version or None}`` for each name, in the order given."""
    return {name: version(name) for name in distributions}


def tvm_versions() -> dict[str, str | None]:
    """apache-tvm and apache-tvm-ffi versions (None when absent): part of every tuning record's key."""
    return installed(TVM)
