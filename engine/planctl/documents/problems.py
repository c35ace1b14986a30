"""pydantic ``ValidationError`` -> document issues with rule ids, positions and help lines.

pydantic reports union branches in its ``loc`` (``('domain', 'integer-range', 'max')``,
``('shape', 1, 'constrained-int')``); :func:`_pointer` drops the labels by walking ``loc`` against
the data. Errors of several branches at one place are merged into the single most useful one, and
discriminated unions report the branch the tag selects (pydantic already does) or, for an unknown tag,
the valid values; never "not valid under any of the given schemas".
"""
from __future__ import annotations

import difflib
import math
import re
from typing import Any

from planctl.documents import schema
from planctl.documents.positions import SourceIndex, join, split
from planctl.documents.source import Issue, describe, key_token

_TYPE_ERRORS = {
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "string_type": "a string", "int_type": "an integer",
    "int_parsing": "an integer", "int_from_float": "a whole number", "float_type": "a number",
    "float_parsing": "a number", "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)", "date_type": "a date (YYYY-MM-DD)",
    "datetime_type": "a timestamp (YYYY-MM-DDTHH:MM:SSZ)", "none_required": "null",
}

# Patterns of common.py/plan.py explained in words (the regex is no help to a plan author).
_PATTERNS = {
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "a lowercase DNS label: a-z, 0-9 and '-', not starting or "
                                         "ending with '-'",
    r"^[0-9a-f]{64}$": "a sha256 digest: 64 lowercase hex digits (sha256sum FILE)",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an identifier: letters, digits and '_', not starting with a digit",
}
# what YAML 1.1 read as booleans: YAML 1.2 reads them as strings
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def issues_from(exc, data: Any, index: SourceIndex, kind: str) -> list[Issue]:
    """One issue per place: ``exc`` is a pydantic ``ValidationError`` raised on ``data``."""
    groups: dict[str, list[tuple[dict, str]]] = {}
    for err in exc.errors(include_url=False):
        if _non_finite(err.get("input")):
            continue  # semantics reports every non-finite number once, as PLN121
        pointer, field = _pointer(data, err["loc"], err["type"])
        groups.setdefault(pointer, []).append((err, field))
    issues = []
    for pointer, errs in groups.items():
        if _outranked(pointer, errs, groups):
            continue
        err, field = _pick(errs)
        issues.append(_issue(err, pointer, field, data, index, kind, others=errs))
    return _drop_typo_twins(issues)


def _outranked(pointer: str, errs: list, groups: dict) -> bool:
    """Only type errors here, and errors inside this value: a union branch matched its shape and
    failed within it (``{value: 0}`` for ``int | {value, share}`` is "value must be > 0", not "must
    be an integer, found a mapping")."""
    return all(e["type"] in _TYPE_ERRORS for e, _ in errs) and any(
        other.startswith(pointer + "/") for other in groups if other != pointer)


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _drop_typo_twins(issues: list[Issue]) -> list[Issue]:
    """A misspelt key is both unknown (PLN101) and, when required, missing (PLN102); keep only the
    PLN101 whose "did you mean" names the missing field."""
    meant = set()
    for issue in issues:
        match = re.match(r"did you mean `([^`]*)`", issue.help or "") if issue.rule == "PLN101" else None
        if match:
            meant.add(join(issue.pointer.rsplit("/", 1)[0], match.group(1)))
    return [i for i in issues if not (i.rule == "PLN102" and i.pointer in meant)]


def _pointer(data: Any, loc: tuple, etype: str) -> tuple[str, str | None]:
    """JSON pointer of the place ``loc`` names, and the missing field's name for ``missing``."""
    pointer, node = "", data
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and step in node:
            pointer, node = join(pointer, key_token(step)), node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            pointer, node = join(pointer, step), node[step]
        elif last and etype == "missing":
            return pointer, str(step)
        # anything else is a union-branch label ('integer-range', 'constrained-int'): skip it
    return pointer, None


def _pick(errs: list[tuple[dict, str | None]]) -> tuple[dict, str | None]:
    """From errors at one place (several union branches), the one that says most: a value error
    beats a type error (``-5`` for ``PositiveInt | DimName`` is "must be > 0", not "not a string")."""
    values = [e for e in errs if e[0]["type"] not in _TYPE_ERRORS]
    return (values or errs)[0]


def _issue(err: dict, pointer: str, field: str | None, data, index: SourceIndex, kind: str,
           others: list) -> Issue:
    etype = err["type"]
    where = dotted(pointer)
    if etype == "missing":
        return _missing(pointer, field, data, index, kind)
    if etype == "extra_forbidden":
        return _unknown_key(pointer, data, index, kind)
    if etype == "union_tag_not_found":
        disc = err["ctx"]["discriminator"].strip("'")
        issue = _missing(pointer, disc, data, index, kind)
        tags = schema.tags(kind, data, split(pointer))
        if tags:
            issue.help = f"add `{disc}:` under `{where}` (one of: {', '.join(tags)})"
        return issue
    if etype == "union_tag_invalid":
        return _bad_tag(err, pointer, index)
    found = _found(err.get("input"))
    if err["loc"] and err["loc"][-1] == "[key]":
        return _bad_key(err, pointer, index)
    if etype in _TYPE_ERRORS:
        expected = " or ".join(dict.fromkeys(_TYPE_ERRORS.get(e["type"], "another type")
                                             for e, _ in others))
        null = err.get("input") is None   # `key:` with nothing after it: YAML's null, located at the key
        issue = _at(index, pointer, "PLN103", f"`{where}` must be {expected}, found {found}", at_key=null)
        if null:
            issue.help = ("a key with no value is null in YAML: write `{}` for an empty mapping, `[]` for an "
                          "empty list, or delete the key")
        elif etype == "string_type" and isinstance(err.get("input"), (int, float, bool)):
            issue.help = "YAML read this as a number or boolean; put the value in quotes"
        elif isinstance(err.get("input"), str) and etype != "string_type":
            issue.help = _string_hint(err["input"], etype)
        if issue.help is None:
            issue.help = _type_hint(err.get("input"), etype, expected) + _described_at(kind, data, pointer)
        return issue
    if etype == "literal_error":
        return _bad_literal(err, pointer, index)
    if etype == "string_pattern_mismatch" and err["ctx"]["pattern"] in _PATTERNS:
        return _at(index, pointer, "PLN104",
                   f"`{where}` must be {_PATTERNS[err['ctx']['pattern']]}, found {found}")
    message = f"`{where}` {_reword(err['msg'])}"
    if not isinstance(err.get("input"), (dict, list)):
        message += f", found {found}"
    issue = _at(index, pointer, "PLN104", message)
    if etype in _BOUNDS:
        issue.help = _bound_hint(etype, err.get("ctx", {}), pointer, data, kind)
    elif etype == "too_short" and isinstance(err.get("input"), list):
        issue.help = f"list at least {err['ctx']['min_length']}" + _described_at(kind, data, pointer)
    return issue


def _type_hint(value: Any, etype: str, expected: str) -> str:
    """``trials: 600.5`` -> "a whole number, e.g. 600"; otherwise what to write."""
    if etype.startswith("int") and isinstance(value, float) and math.isfinite(value):
        return f"write a whole number, e.g. {math.floor(value)}"
    return f"write {expected}"


def _described_at(kind: str, data, pointer: str) -> str:
    parts = split(pointer)
    return _described(kind, data, parts[:-1], parts[-1]) if parts else ""


_BOUNDS = {"greater_than": "above {gt}", "greater_than_equal": "at least {ge}", "less_than": "below {lt}",
           "less_than_equal": "at most {le}"}


def _bound_hint(etype: str, bound: dict, pointer: str, data, kind: str) -> str:
    """``use a value above 0`` and, when the schema describes the field, what it means."""
    hint = "use a value " + _BOUNDS[etype].format(**{k: _found_number(v) for k, v in bound.items()})
    parts = split(pointer)
    return hint + (_described(kind, data, parts[:-1], parts[-1]) if parts else "")


def _described(kind: str, data, parent: list, field: str) -> str:
    """`` (what the field is)``: the first line of its schema description, or nothing."""
    node = schema.at(kind, data, parent)
    prop = (node or {}).get("properties", {}).get(field, {})
    return f" ({_first_line(prop['description'])})" if prop.get("description") else ""


def _found_number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _string_hint(text: str, etype: str) -> str | None:
    """Why a string is not the number or boolean its author meant."""
    if etype.startswith("bool") and text.lower() in _YAML11_BOOLEANS:
        return f"plans are YAML 1.2, where `{_short(text)}` is a string: write true or false"
    if text.strip().lower() in ("true", "false") or _looks_numeric(text):
        return "a quoted value is a string, and nothing is converted: remove the quotes"
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bad_key(err: dict, pointer: str, index: SourceIndex) -> Issue:
    """A mapping key that its ``dict[K, V]`` type rejects (``float31`` in ``peak_flops``)."""
    parts = split(pointer)
    parent = ".".join(_dot(p) for p in parts[:-1]).replace(".[", "[")
    message = f"key `{_short(parts[-1])}` in `{parent}` {_reword(err['msg'])}"
    hint = None
    if err["type"] == "literal_error":
        valid = re.findall(r"'([^']*)'", err["ctx"]["expected"])
        message = f"key `{_short(parts[-1])}` in `{parent}` is not one of the allowed keys"
        hint = _suggest(parts[-1], valid, "valid keys")
    line, col, end_line, end_col = index.locate_key(pointer)
    return Issue("PLN104", message, line, col, pointer, hint, end_line, end_col)


def _missing(pointer: str, field: str, data, index: SourceIndex, kind: str) -> Issue:
    parent = dotted(pointer) or "the document"
    hint = f"add `{field}:` under `{parent}`" if pointer else f"add `{field}:` at the top level"
    hint += _described(kind, data, split(pointer), field)
    line, col, end_line, end_col = index.locate(pointer)
    return Issue("PLN102", f"missing required field `{field}` in `{parent}`", line, col,
                 join(pointer, field), hint, end_line, end_col)


def _unknown_key(pointer: str, data, index: SourceIndex, kind: str) -> Issue:
    parts = split(pointer)
    key = parts[-1]
    parent = ".".join(_dot(p) for p in parts[:-1]).replace(".[", "[") or "the document"
    valid = schema.properties(schema.at(kind, data, parts[:-1]))
    line, col, end_line, end_col = index.locate_key(pointer)
    return Issue("PLN101", f"unknown key `{_short(key)}` in `{parent}`", line, col, pointer,
                 _suggest(key, valid, "valid keys here"), end_line, end_col)


def _bad_tag(err: dict, pointer: str, index: SourceIndex) -> Issue:
    disc = err["ctx"]["discriminator"].strip("'")
    tag = str(err["ctx"]["tag"])
    valid = re.findall(r"'([^']*)'", err["ctx"]["expected_tags"])
    target = join(pointer, disc)
    line, col, end_line, end_col = index.locate(target)
    return Issue("PLN104", f"unknown {disc} `{_short(tag)}` in `{dotted(pointer)}`", line, col, target,
                 _suggest(tag, valid, f"valid {disc} values"), end_line, end_col)


def _bad_literal(err: dict, pointer: str, index: SourceIndex) -> Issue:
    valid = re.findall(r"'([^']*)'", err["ctx"]["expected"])
    value = err.get("input")
    message = f"`{dotted(pointer)}` is {_found(value)}, not one of the allowed values"
    if len(valid) == 1:
        message = f"`{dotted(pointer)}` must be exactly `{valid[0]}`, found {_found(value)}"
    issue = _at(index, pointer, "PLN104", message)
    issue.help = _suggest(str(value), valid, "valid values")
    return issue


def _at(index: SourceIndex, pointer: str, rule: str, message: str, at_key: bool = False) -> Issue:
    """An Issue at ``pointer``'s value, or at its key (``at_key``: a null value has no span of its own)."""
    line, col, end_line, end_col = (index.locate_key if at_key else index.locate)(pointer)
    return Issue(rule, message, line, col, pointer, None, end_line, end_col)


def _suggest(word: str, valid: list[str], label: str) -> str | None:
    """``did you mean `x`?`` when a valid word is close, else the list of valid words."""
    if not valid:
        return None
    close = difflib.get_close_matches(str(word), valid, n=1, cutoff=0.6)
    listing = ", ".join(valid)
    if close:
        return f"did you mean `{close[0]}`? ({label}: {listing})"
    return f"{label}: {listing}"


def dotted(pointer: str) -> str:
    """``/spec/optimizations/3/budget`` -> ``spec.optimizations[3].budget``."""
    return ".".join(_dot(p) for p in split(pointer)).replace(".[", "[")


def _dot(token: str) -> str:
    return f"[{token}]" if token.isdigit() else _short(token)


def _reword(msg: str) -> str:
    """pydantic's "Input should be greater than 0" -> "must be greater than 0"."""
    msg = re.sub(r"^Value error, ", "", msg)
    msg = re.sub(r" after validation, not \d+$", "", msg)
    msg = re.sub(r"^(Input|Value|String|List|Dictionary|Decimal|Tuple|Object) should", "must", msg)
    return msg[:1].lower() + msg[1:]


def _found(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return describe(value)
    return f"{describe(value)} {_short(repr(value))}"


def _short(text: str, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].rstrip(".")
