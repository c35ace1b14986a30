"""``--select`` and ``--ignore``: rule ids (``PLN201``), id prefixes (``PLN2``), names
(``technique-bottleneck``) and aliases, as in ruff. Document codes (PLN1xx) select the same way."""
from __future__ import annotations

import re
from dataclasses import dataclass

from planctl import codes
from planctl.errors import SelectionError

PREFIX = re.compile(r"^PLN[0-9]{0,3}$")
FINDINGS = ("validate", "check")  # stages whose codes are findings (the others are errors)

__all__ = ["Selection", "SelectionError"]


def known_names() -> dict[str, tuple[str, ...]]:
    """finding id -> (name, aliases...): legality rules and document codes of the catalogue."""
    from planctl.rules.registry import load_rules

    load_rules()
    return {c.id: (c.name, *c.aliases) for c in codes.entries() if c.stage in FINDINGS}


def _matches(rule_id: str, names: tuple[str, ...], selector: str) -> bool:
    wanted = selector.strip()
    return rule_id.startswith(wanted.upper()) if PREFIX.match(wanted.upper()) else wanted in names


@dataclass(frozen=True)
class Selection:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def __post_init__(self):
        known = known_names()
        object.__setattr__(self, "_known", known)  # frozen: cache the name table once
        for selector in self.select + self.ignore:
            if not any(_matches(i, n, selector) for i, n in known.items()):
                raise SelectionError(f"no rule matches {selector!r}",
                                     hint="list the rules with `planctl rule --all`")

    def wants(self, rule_id: str) -> bool:
        names = self._known.get(rule_id, ())
        chosen = not self.select or any(_matches(rule_id, names, s) for s in self.select)
        return chosen and not any(_matches(rule_id, names, s) for s in self.ignore)
