"""Shared pieces of the three documents (kubectl-style: apiVersion, kind, metadata, spec), and the
scalar types every model uses.

Models are strict: a value is accepted only when its YAML type is the field's JSON Schema type, so
``trials: "1500"`` or ``enabled: "yes"`` is an error, as it is for any JSON Schema validator reading
``schemas/``. The types below add what strict pydantic would otherwise get wrong against JSON
Schema: a whole number written ``1500.0`` is an integer (JSON Schema's ``integer``), dates and
timestamps are strings in the formats JSON Schema's ``date``/``date-time`` name, and every number
is finite, with the float range as its bounds in the schema (so schema validators reject ``.inf``).
"""
from __future__ import annotations

import datetime as dt
import re
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from planctl import API_VERSION

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FLOAT_MAX = sys.float_info.max  # 1.7976931348623157e308: the bound of every number field

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
RepoPath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


def _whole_number(value: Any) -> Any:
    """``1500.0`` -> ``1500``: JSON Schema counts a float with no fractional part as an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 date-time, as check-jsonschema's `date-time` format checker reads it
_DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                        r"(?:[.,]([0-9]+))?([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")


def _date(value: Any) -> Any:
    """A ``YYYY-MM-DD`` string -> ``datetime.date`` (other types are left to the strict check)."""
    if not isinstance(value, str):
        return value
    if not _DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return dt.date.fromisoformat(value)


def _date_time(value: Any) -> Any:
    """An RFC 3339 timestamp string (``2026-11-20T10:00:00Z``) -> an aware ``datetime``."""
    if not isinstance(value, str):
        return value
    match = _DATE_TIME.fullmatch(value)
    if not match:
        raise ValueError("must be an RFC 3339 timestamp such as 2026-11-20T10:00:00Z")
    day, hour, fraction, zone = match.group(1), value[11:19], match.group(3) or "0", match.group(4)
    zone = "+00:00" if zone in "Zz" else zone
    return dt.datetime.fromisoformat(f"{day}T{hour}.{fraction[:6].ljust(6, '0')}{zone}")


Int = Annotated[int, BeforeValidator(_whole_number)]
PositiveInt = Annotated[int, Field(gt=0), BeforeValidator(_whole_number)]  # constraints first, else
# pydantic writes them into the JSON Schema as raw `gt` keys that validators ignore
Seed = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_whole_number)]
Float = Annotated[float, Field(allow_inf_nan=False, ge=-FLOAT_MAX, le=FLOAT_MAX)]
PositiveFloat = Annotated[float, Field(allow_inf_nan=False, gt=0, le=FLOAT_MAX)]
NonNegativeFloat = Annotated[float, Field(allow_inf_nan=False, ge=0, le=FLOAT_MAX)]
Date = Annotated[dt.date, BeforeValidator(_date)]
DateTime = Annotated[dt.datetime, BeforeValidator(_date_time)]


class Frozen(BaseModel):
    """Base of every document model: unknown keys are errors, nothing is coerced (``strict``),
    instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False,
                              use_enum_values=True, validate_default=True)


class Metadata(Frozen):
    """``metadata``: a DNS-label name, free labels, and annotations (waivers live here:
    ``planctl.dev/waive.PLN201: "reason; expires=YYYY-MM-DD"``)."""

    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# required and exact (a JSON Schema `const`): `https://planctl.dev/v1alpha1` or a missing
# apiVersion is a finding, so a document always says which version of the format it is
ApiVersion = Annotated[Literal[API_VERSION],  # type: ignore[valid-type]
                       Field(description=f"Exactly `{API_VERSION}`.")]
