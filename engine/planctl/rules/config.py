"""Repository configuration for ``check``: ``planctl.toml`` at the root, else ``[tool.planctl]``
in ``pyproject.toml``. Keys this module does not know belong to other stages and are left alone."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from planctl.errors import ConfigError

__all__ = ["CheckConfig", "ConfigError", "load_config"]


@dataclass(frozen=True)
class CheckConfig:
    """Limits the legality rules enforce. Defaults: 20,000 tuning trials and 4 hours of tuning
    wall clock per plan; baseline telemetry at most 90 days old."""

    max_trials: int = 20_000
    max_wall_clock_s: float = 4 * 3600.0
    max_telemetry_age_days: int = 90


def _table(root: Path) -> tuple[dict, Path | None]:
    own = root / "planctl.toml"
    if own.is_file():
        return _read(own), own
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        return _read(pyproject).get("tool", {}).get("planctl", {}), pyproject
    return {}, None


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", file=str(path)) from exc


def load_config(root: Path) -> CheckConfig:
    table, source = _table(root)
    values = {}
    for f in fields(CheckConfig):
        if f.name not in table:
            continue
        value = table[f.name]
        # bool is an int in Python; a `true` limit is a typo, not a number
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"`{f.name}` must be a positive number, got {value!r}",
                              file=str(source))
        values[f.name] = value
    return CheckConfig(**values)
