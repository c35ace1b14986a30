"""Shared pieces of the three documents (kubectl-style: apiVersion, kind, metadata, spec)."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from planctl import API_VERSION

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
RepoPath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


class Frozen(BaseModel):
    """Base of every document model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False,
                              use_enum_values=True, validate_default=True)


class Metadata(Frozen):
    """``metadata``: a DNS-label name, free labels, and annotations (waivers live here:
    ``planctl.dev/waive.PLN201: "reason; expires=YYYY-MM-DD"``)."""

    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


def api_version_field():
    return Field(API_VERSION, pattern=re.escape(API_VERSION) + "$",
                 description=f"Always `{API_VERSION}`.")
