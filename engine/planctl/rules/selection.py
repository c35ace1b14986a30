"""``--select`` and ``--ignore``: rule ids (``PLN201``), id prefixes (``PLN2``), names
(``technique-bottleneck``) and aliases, as in ruff. Document codes (PLN1xx) select the same way."""
from __future__ import annotations

import re
from dataclasses import dataclass

from planctl.errors import PlanctlError

PREFIX = re.compile(r"^PLN[0-9]{0,3}$")


class SelectionError(PlanctlError):
    """A ``--select``/``--ignore`` value names no rule (exit 2)."""

    code = "PLN001"


def known_names() -> dict[str, tuple[str, ...]]:
    """rule id -> (name, aliases...) for legality rules and document codes."""
    from planctl.rules.registry import load_rules

    names = {r.id: (r.name, *r.aliases) for r in load_rules().values()}
    try:
        from planctl.documents.codes import CODES
    except ImportError:
        return names
    return {**{c.id: (c.name,) for c in CODES.values()}, **names}


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
