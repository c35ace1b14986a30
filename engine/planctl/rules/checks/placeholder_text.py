"""PLN221 placeholder-text."""
from __future__ import annotations

import re
from typing import Any, Iterator

from planctl.documents.positions import join
from planctl.rules.context import Violation
from planctl.rules.registry import rule

GUESSED = "planctl.dev/guessed"   # the annotation where planctl init lists the JSON pointers of what it guessed
GUESSED_POINTER = join("/metadata/annotations", GUESSED)
POINTER = re.compile(r"/spec/[^\s,()]+")
PLACEHOLDER = re.compile(r"^\s*(TODO|FIXME|TBD)\b", re.IGNORECASE)


def placeholders(data: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """``(pointer, text)`` of every string value of ``data`` that starts with TODO/FIXME/TBD."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from placeholders(value, join(pointer, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from placeholders(value, join(pointer, i))
    elif isinstance(data, str) and PLACEHOLDER.match(data):
        yield pointer, data


def is_placeholder(text: str | None) -> bool:
    return isinstance(text, str) and bool(PLACEHOLDER.match(text))


@rule("PLN221", "placeholder-text", "error")
def check(ctx):
    """No value of the plan is still a TODO placeholder.

    What it checks
        Every string value of the plan (evidence, telemetry source, notes, review records...)
        that starts with ``TODO``, ``FIXME`` or ``TBD``. ``planctl init`` writes such
        placeholders where only a person can fill the plan in, and lists the values it guessed
        (input domains, production shapes) as JSON pointers in the ``planctl.dev/guessed``
        annotation: each is reported at its own line until a person deletes the annotation.

    Why
        The evidence, the telemetry and the review are the argument for the optimization; a
        plan whose argument is a placeholder was never argued, whatever its other fields say.

    Example
        ``evidence: "TODO: what was measured, where, and what it showed"`` left as ``init``
        wrote it.

    Fix
        Replace the placeholder with the real text (what was measured, where it came from).
    """
    for pointer, text in placeholders(ctx.loaded.data):
        if pointer.startswith("/metadata/annotations") and pointer != GUESSED_POINTER:
            continue  # waiver reasons are PLN217's; init's list of guesses is this rule's
        fields = guessed_fields(text, ctx.loaded.index) if pointer == GUESSED_POINTER else []
        for field in fields:   # underline each guessed value, not the list of them
            yield Violation(field, "planctl init guessed this value", key=field,
                            help=f"set it to what production sends, then delete the {GUESSED} annotation "
                            "(`annotations: {}` where it was the only one)")
        if not fields:
            shown = text if len(text) <= 60 else text[:59] + "…"
            yield Violation(pointer, f"placeholder `{shown}` is still in the plan", key=pointer,
                            help="set the values init guessed to what production sends, then delete the annotation"
                            if pointer == GUESSED_POINTER else "replace it with the real value")


def guessed_fields(text: str, index) -> list[str]:
    """The JSON pointers that ``planctl init`` lists in its :data:`GUESSED` annotation and that
    still name a value of the plan (``index``: the document's SourceIndex; a person may have moved
    or deleted one)."""
    return [p for p in (m.rstrip(":") for m in POINTER.findall(text)) if p in index]
