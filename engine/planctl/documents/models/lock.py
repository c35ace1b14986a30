"""The saved plan (``planctl plan -o FILE``): digests ``apply`` checks before it runs."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from planctl.documents.models.common import ApiVersion, DateTime, Frozen, Metadata, RepoPath, Sha256


class LockDigests(Frozen):
    plan: Sha256
    model: Sha256
    target: Sha256
    schema_: Sha256 = Field(alias="schema")
    records: Sha256 | None = None
    # the files the ONNX model stores its tensors in (ONNX external data), when it has any: the
    # model file's own digest does not move when only its weights are replaced
    model_external_data: Sha256 | None = None


class LockSpec(Frozen):
    plan: RepoPath
    target: str
    digests: LockDigests
    tvm_version: str
    created: DateTime


class Lock(Frozen):
    apiVersion: ApiVersion
    kind: Literal["Lock"]
    metadata: Metadata
    spec: LockSpec
