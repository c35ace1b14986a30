"""Differential test: `planctl validate` is exactly as strict as the published JSON Schemas.

The oracle is jsonschema's Draft 2020-12 validator over the files in ``schemas/``, configured as
check-jsonschema configures it by default (ECMA-262 regexes through ``regress``, its format
checkers for ``date`` and ``date-time``). The inputs are

- documents generated from each schema with hypothesis-jsonschema (mostly valid ones), and
- mutations of the example plans and targets: a number written as a string (``"1500"``), a whole
  or fractional float for an integer, ``.inf`` and ``.nan``, a missing, unknown or renamed key,
  another type, another enumeration value, a list emptied or grown.

For each input, planctl reads the very data the oracle sees (a test checks the round trip) and

- when the schema rejects it, planctl rejects it too;
- when the schema accepts it, planctl may still reject it, but only with findings of checks beyond
  the schema (:data:`BEYOND_SCHEMA`: duplicate keys, the YAML version, non-finite numbers, which
  JSON cannot hold, and the semantic checks PLN110 and up), never with a schema-level one.

The seed is fixed and there is no example database, so every run draws the same inputs.
"""
from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from planctl.documents.load import validate_file
from planctl.documents.schema import FILES
from planctl.documents.source import read_source

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SEED = 20261113
# findings that check more than the schema says: planctl may reject a schema-valid document
# with these (and only these)
SCHEMA_LEVEL = {"PLN100", "PLN101", "PLN102", "PLN103", "PLN104", "PLN107", "PLN108"}
BEYOND_SCHEMA = {"PLN105", "PLN106", "PLN109", "PLN121", "PLN122", "PLN124", "PLN125", "PLN126", "PLN127"} | {f"PLN{n}" for n in range(110, 121)}
SETTINGS = dict(database=None, deadline=None, suppress_health_check=list(HealthCheck))


# ----------------------------------------------------------------------------------- the oracle
def _validators() -> dict[str, jsonschema.protocols.Validator]:
    """kind -> validator of the published schema, as check-jsonschema builds it by default."""
    from check_jsonschema.formats import FormatOptions, make_format_checker
    from check_jsonschema.regex_variants import RegexImplementation, RegexVariantName

    regex = RegexImplementation(RegexVariantName.default)
    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {
        "pattern": regex.pattern_keyword, "patternProperties": regex.patternProperties_keyword})
    checker = make_format_checker(FormatOptions(regex_impl=regex))
    return {kind: cls(json.loads((REPO / "schemas" / name).read_text()), format_checker=checker)
            for kind, name in FILES.items()}


VALIDATORS = _validators()


def schema_accepts(doc) -> bool:
    """The published schema of the document's ``kind`` accepts ``doc`` (a file of no known kind
    matches no schema)."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    validator = VALIDATORS.get(kind) if isinstance(kind, str) else None
    return validator is not None and validator.is_valid(doc)


# ----------------------------------------------------------------------------------- the input
def to_yaml(value) -> str:
    """``value`` as YAML 1.2 flow text that reads back exactly: strings double-quoted with every
    character outside printable ASCII escaped (YAML's ``\\uXXXX``/``\\UXXXXXXXX``), non-finite
    floats as ``.inf``/``-.inf``/``.nan``, long keys explicit (``? key : value``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(_member(to_yaml(k), to_yaml(v)) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + "".join(_char(c) for c in value) + '"'
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    return repr(value)


def _member(key: str, value: str) -> str:
    """``key: value``; a key over YAML's 1024-character limit for implicit keys is explicit."""
    return f"{key}: {value}" if len(key) <= 1000 else f"? {key} : {value}"


def _char(c: str) -> str:
    if c in '"\\':
        return "\\" + c
    if " " <= c <= "~":
        return c
    return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"


def agree(doc) -> None:
    """planctl validate and the schema agree on ``doc`` (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "document.yaml"    # not in plans/ or targets/: dispatched on kind
        path.write_text(to_yaml(doc) + "\n", encoding="utf-8")
        # compared as text: NaN is not equal to itself, and 1 and 1.0 must stay apart
        assert to_yaml(read_source(path).data) == to_yaml(doc), "planctl must read the oracle's data"
        rules = {f.rule for f in validate_file(path)}
    accepted = schema_accepts(doc)
    event(f"schema {'accepts' if accepted else 'rejects'}, planctl "
          f"{'rejects' if rules else 'accepts'}{' ' + ','.join(sorted(rules)) if accepted and rules else ''}")
    if not accepted:
        assert rules, f"planctl accepts what the schema rejects: {to_yaml(doc)[:2000]}"
    else:
        assert not rules & SCHEMA_LEVEL, (sorted(rules), to_yaml(doc)[:2000])
        assert rules <= BEYOND_SCHEMA | SCHEMA_LEVEL, sorted(rules)


# ---------------------------------------------------------------------- generated from the schema
def _restore_many_more() -> None:
    """hypothesis-jsonschema 0.23.1, its latest release, drives hypothesis's internal ``many``
    with ``while elements.more(): ...``; hypothesis 6.16x replaced ``more()`` by ``with many(...)
    as elements: for _ in elements: ...``. Give ``many`` a ``more()`` built on the new protocol
    (enter on the first call, step the iterator, exit when it is spent)."""
    from hypothesis.internal.conjecture import utils as cu

    if hasattr(cu.many, "more"):
        return

    def more(self) -> bool:
        if not hasattr(self, "_compat_iter"):
            self.__enter__()
            self._compat_iter = iter(self)
        try:
            next(self._compat_iter)
        except StopIteration:
            self.__exit__(None, None, None)
            return False
        return True

    cu.many.more = more


def from_published_schema(kind: str):
    from hypothesis_jsonschema import from_schema

    _restore_many_more()
    return from_schema(json.loads((REPO / "schemas" / FILES[kind]).read_text()))


# examples per kind: plans cost ~0.3 s each to generate on the 2-core CI machine
GENERATED = {"OptimizationPlan": 60, "Target": 100, "Lock": 60}


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_documents_generated_from_the_schema(kind):
    @seed(SEED)
    @settings(max_examples=GENERATED[kind], **SETTINGS)
    @given(from_published_schema(kind))
    def run(doc):
        agree(doc)

    run()


# ---------------------------------------------------------------------- mutations of the examples
def _examples() -> list:
    paths = sorted((HERE / "valid").iterdir()) + sorted((REPO / "plans").glob("*.yaml")) + \
        sorted((REPO / "targets").glob("*.yaml")) + [REPO / "tests/rules/base/plan.yaml"] + \
        sorted((REPO / "tests/rules/base/targets").glob("*.yaml"))
    return [read_source(p).data for p in paths]


EXAMPLES = _examples()


def _strings(node, out: set) -> set:
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(k)
            _strings(v, out)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out)
    elif isinstance(node, str) and len(node) < 40:
        out.add(node)
    return out


# every short string of the examples: swapping one for another tries other enumeration values
STRINGS = sorted(set().union(*(_strings(d, set()) for d in EXAMPLES)))
ODD_STRINGS = ["", " ", "yes", "on", "1500", "1e-4", "true", "null", "2026-11-20T10:00:00Z",
               "2026-02-30", "20261120", "a\n", "A", "-x", "x" * 70, "planctl.dev/v1", "é"]
NUMBERS = [0, -1, 1, 2, 7.5, 0.0, -0.5, 1e-300, 1e300, 10**30, math.inf, -math.inf, math.nan]


def _slots(node, at=()) -> list[tuple]:
    """Paths of every value below ``node`` (mapping keys and list indices)."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append(at + (key,))
        out += _slots(value, at + (key,))
    return out


def _variants(value) -> list:
    """Values of other types or other values, for the one at a slot."""
    out = [None, True, False, [], {}, [value], {"x": value}]
    if isinstance(value, bool):
        out += ["true", "yes", 1, 0]
    elif isinstance(value, (int, float)):
        out += [str(value), float(value), value + 0.5, -value, value * 10**6, *NUMBERS]
    elif isinstance(value, str):
        out += [value + "\n", value.upper(), value + "x", *ODD_STRINGS]
        try:
            out.append(float(value))
        except ValueError:
            pass
    elif isinstance(value, list):
        out += [value[:-1], value + value[-1:]] if value else [[1], ["a"]]
    return out


@st.composite
def mutated(draw):
    doc = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(doc)
        path = draw(st.sampled_from(slots))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key, value = path[-1], parent[path[-1]]
        op = draw(st.sampled_from(["variant", "variant", "string", "delete", "add", "rename"]))
        if op == "variant":
            parent[key] = draw(st.sampled_from(_variants(value)))
        elif op == "string":
            parent[key] = draw(st.sampled_from(STRINGS))
        elif op == "delete" and isinstance(parent, dict):
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(STRINGS + ["x-extra", "enabeld"]))] = \
                draw(st.sampled_from(_variants(value)))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from([str(key) + "_", str(key)[:-1], str(key).upper(), "1" + str(key)]))] = \
                parent.pop(key)
    return doc


@seed(SEED)
@settings(max_examples=600, **SETTINGS)
@given(mutated())
def test_mutations_of_the_examples(doc):
    agree(doc)


# ------------------------------------------------------------------------- fixed files and inputs
def _corpus() -> list[Path]:
    files = sorted((HERE / "valid").iterdir()) + sorted((HERE / "invalid").glob("*.y*ml"))
    return [p for p in files if p.name != "expected.yaml"]


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_every_corpus_file_agrees(path):
    """The documents corpus, read as planctl reads it, under the same rule as the inputs above."""
    from planctl.documents.source import Unparsable

    try:
        data = read_source(path).data
    except Unparsable:
        pytest.skip("not one YAML mapping: nothing for the schema to judge")
    rules = {f.rule for f in validate_file(path)}
    if not schema_accepts(data):
        assert rules
    else:
        assert not rules & SCHEMA_LEVEL, sorted(rules)


ISSUE_INPUTS = ["string-trials.yaml", "string-rtol.yaml", "api-version-url.yaml",
                "missing-api-version.yaml", "atol-inf.yaml", "atol-1e999.yaml", "enabled-yes.yaml",
                "fractional-integer.yaml", "date-with-time.yaml"]


@pytest.mark.skipif(shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) is None,
                    reason="needs check-jsonschema (the test extra)")
def test_check_jsonschema_rejects_the_inputs_planctl_rejects():
    """issue 13: the files planctl used to accept are the ones check-jsonschema rejects against
    planctl's own schema; now both reject each of them."""
    tool = str(Path(sys.executable).parent / "check-jsonschema")
    schema = str(REPO / "schemas" / "plan.schema.json")
    paths = [str(HERE / "invalid" / name) for name in ISSUE_INPUTS]
    proc = subprocess.run([tool, "--schemafile", schema, "-o", "json", *paths], capture_output=True,
                          text=True)
    rejected = {Path(e["filename"]).name for e in json.loads(proc.stdout)["errors"]}
    assert rejected == set(ISSUE_INPUTS), proc.stdout[-2000:]
    for path in paths:
        assert validate_file(path), path
