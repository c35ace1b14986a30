"""Canonical JSON and the digests every key component and record carries (sha256, hex)."""
from __future__ import annotations

import hashlib
import json

SEPARATOR = "\x1f"  # ASCII unit separator: cannot occur in canonical JSON text


def canonical(value) -> str:
    """Compact JSON with sorted keys: the one text form that is hashed and stored."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest(value, length: int = 16) -> str:
    """First ``length`` hex digits of the sha256 of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:length]


def checksum(*fields: str) -> str:
    """Full sha256 of stored text fields joined by SEPARATOR (so no re-serialization to verify)."""
    return hashlib.sha256(SEPARATOR.join(fields).encode()).hexdigest()
