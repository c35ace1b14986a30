"""The one catalogue of every ``PLNxxx`` id planctl reports, whatever stage reports it.

- document findings (PLN1xx, stage ``validate``): declared here, in :data:`_DOCUMENT_CODES`;
- legality rules (PLN2xx, stage ``check``): each rule module declares its id, name and severity
  on the rule (``@rule`` in ``planctl.rules.registry``), which calls :func:`register`;
- errors a command stops with (PLN0xx, PLN3xx and up): the classes of ``planctl.errors``, each with
  its ``code`` and docstring, registered here at import.

``planctl rule``, SARIF's ``tool.driver.rules``, ``--select`` and ``docs/rules.md`` read
:func:`entries`; an id or a name is registered once (a second registration raises). Nothing here
imports a stage: the legality rules are in the catalogue once ``planctl.rules.registry.load_rules()``
has run.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from planctl import errors

ID_PATTERN = re.compile(r"^PLN[0-9]{3}$")


@dataclass(frozen=True)
class Code:
    """One id: ``name`` (kebab-case), ``severity`` (error, warning, note), the ``stage`` that reports
    it (validate, check, apply), a one-line ``summary`` and the longer ``doc`` (``planctl rule``).
    ``unparsable`` marks the document findings that mean "not one YAML mapping" (exit code 2)."""

    id: str
    name: str
    summary: str
    doc: str
    severity: str = "error"
    stage: str = "validate"
    aliases: tuple[str, ...] = ()
    unparsable: bool = False


_CATALOGUE: dict[str, Code] = {}


def register(code: Code) -> Code:
    """Add ``code``; raises ValueError for a malformed id, or an id, name or alias already taken."""
    if not ID_PATTERN.match(code.id):
        raise ValueError(f"bad code id {code.id!r}")
    if code.id in _CATALOGUE:
        raise ValueError(f"code {code.id} is already registered")
    taken = {n for c in _CATALOGUE.values() for n in (c.name, *c.aliases)}
    clash = taken & {code.name, *code.aliases}
    if clash:
        raise ValueError(f"code {code.id}: name {sorted(clash)[0]!r} is already taken")
    _CATALOGUE[code.id] = code
    return code


def get(code_id: str) -> Code | None:
    """The entry of ``code_id`` (exact id), or None."""
    return _CATALOGUE.get(code_id)


def find(key: str) -> Code | None:
    """An entry by id (any case), name or alias; None when nothing matches."""
    wanted = key.strip()
    if wanted.upper() in _CATALOGUE:
        return _CATALOGUE[wanted.upper()]
    for code in _CATALOGUE.values():
        if wanted.lower() in (code.name, *code.aliases):
            return code
    return None


def entries() -> list[Code]:
    """Every registered entry, sorted by id."""
    return [_CATALOGUE[k] for k in sorted(_CATALOGUE)]


# ------------------------------------------------------------------ document findings (PLN1xx)
_DOCUMENT_CODES = [
    Code("PLN100", "unparsable-yaml", "The file is not valid YAML text.",
         "Syntax errors, tab indentation, binary or non-UTF-8 content and unsupported tags "
         "(`!!python/object`, ...) stop the load; fix the line shown.", unparsable=True),
    Code("PLN101", "unknown-key", "A key that the document schema does not define.",
         "Models forbid extra keys so that a typo never silently drops a setting; the help line "
         "suggests the closest valid key."),
    Code("PLN102", "missing-field", "A required field is absent.",
         "The message names the field and the mapping it belongs under."),
    Code("PLN103", "wrong-type", "A value has the wrong type (string for a number, list for a mapping...).",
         "The message says what was expected and what was found. Nothing is converted: `\"1500\"` "
         "is a string, not a number, and `yes` is a string, not a boolean (plans are YAML 1.2), "
         "exactly as the published JSON Schema says. A whole number written `1500.0` is an "
         "integer, as in JSON Schema."),
    Code("PLN104", "bad-value", "A value is out of range, not one of the allowed values or malformed.",
         "Enumerations list their valid values; negative tolerances, bad names, digests and an "
         "`apiVersion` other than exactly `planctl.dev/v1alpha1` land here."),
    Code("PLN105", "duplicate-key", "A mapping defines the same key twice.",
         "YAML forbids duplicate keys; most loaders silently keep the last one. planctl reports it."),
    Code("PLN106", "multiple-documents", "The file holds more than one YAML document.",
         "One file is one document; split the others into their own files."),
    Code("PLN107", "not-a-document", "The file is empty, unreadable or its top level is not a mapping.",
         "A plan, target or lock is a YAML mapping with apiVersion, kind, metadata and spec.",
         unparsable=True),
    Code("PLN108", "resource-limit", "The file exceeds a size, nesting or alias-expansion limit.",
         "Limits keep validation fast and memory bounded (pre-commit runs it on every commit): "
         "1 MiB per file, 64 levels of nesting, 100 000 nodes after alias expansion.",
         unparsable=True),
    Code("PLN109", "yaml-version", "The file declares a YAML version other than 1.2.",
         "Plans are YAML 1.2. Under a `%YAML 1.1` directive `yes`, `no`, `on` and `off` are "
         "booleans and `010` is octal, so a technique its author enabled could silently read as "
         "disabled. planctl reads the file as YAML 1.2 and reports the directive; remove it."),
    Code("PLN110", "shape-range-order", "A production shape range is not ordered min <= opt <= max.",
         "Each symbolic dim in `workload.production_shapes` declares min, opt and max."),
    Code("PLN111", "duplicate-input", "Two workload inputs share a name.",
         "Input names key the parity and shape checks; each must be unique."),
    Code("PLN112", "undeclared-dim", "An input shape uses a symbolic dim that production_shapes does not declare.",
         "Parity and tuning iterate over the production values of each dim; declare it with "
         "{min, opt, max, values}."),
    Code("PLN113", "value-outside-range", "A representative dim value lies outside its [min, max].",
         "`values` are production values of the dim and must lie inside the declared range."),
    Code("PLN122", "traffic-shares", "A dim's traffic shares are incomplete, do not add up to 1, or a value repeats.",
         "Each entry of a dim's `values` is a number or `{value, share}`; when the traffic share of "
         "the values is known it is given on every value of the dim, and the shares add up to 1 "
         "(within 0.01, for rounded dashboard figures). apply chooses its shape buckets and weighs "
         "its traffic figures with them (planctl.documents.shapes)."),
    Code("PLN114", "empty-domain", "A value domain has min > max, or a mask's min_length is longer than its sequence.",
         "Integer and float ranges of input domains are inclusive and need min <= max; an attention mask "
         "keeps at least `min_length` positions of a row, so the row's shortest production length must "
         "be at least that."),
    Code("PLN125", "pad-outside-domain", "An input's `pad` value lies outside its domain, or is not 0 on a mask.",
         "The runtime writes `pad` into the positions it adds when it pads a call up to its shape "
         "bucket, and apply's padding check runs the reference model on such calls. A pad outside an "
         "integer or float range is a value the model is never called with: a token id past the "
         "embedding table makes onnxruntime (and TVM's unchecked gather) fail, found only after every "
         "bucket was lowered. Use the tokenizer's pad token id (0 for BERT's [PAD]). An attention mask "
         "pads with 0 (the positions added are padding): any other `pad` on a mask is refused, not "
         "dropped."),
    Code("PLN126", "repeated-entry", "A technique, a target or an output is listed twice.",
         "apply reads one entry per technique (a second `autotuning` entry's budget was ignored, "
         "silently), builds each target once and verifies and serves each output once: merge the "
         "entries."),
    Code("PLN127", "domain-dtype", "An input's value domain is of the wrong kind of number for its dtype.",
         "Parity draws its examples from the domain and the runtime enforces it: an `integer-range` on "
         "a float input crashed parity's corner generator after every bucket was built, and a "
         "`float-range` on an integer input was refused only by apply. Use `float-range` for float "
         "inputs and `integer-range` for integer ones."),
    Code("PLN115", "path-escapes-repo", "A path is absolute or leaves the repository through `..`.",
         "Model, records and dataset paths are repository-relative so that a plan means the same "
         "thing on every checkout and in CI."),
    Code("PLN116", "unknown-parity-output", "A parity tolerance names an output the workload does not declare.",
         "When `spec.workload.outputs` lists the outputs, every key of `envelope.parity.outputs` "
         "must be one of them: a misspelt name would leave the real output at the default "
         "tolerance without a word."),
    Code("PLN117", "telemetry-order", "Baseline telemetry has p99 below p50.",
         "A 99th percentile is never below the median; one of the figures is a typo or swapped, "
         "and the plan's speedup is argued from them."),
    Code("PLN118", "bad-target-tvm", "A target's `spec.tvm` is not a TVM target planctl supports.",
         "`kind` (and `host.kind`) must be a TVM 0.27 target kind planctl supports (the "
         "`TARGET_KINDS` table of planctl/documents/tvm_kinds.py: llvm, cuda, rocm, metal, "
         "vulkan, opencl, webgpu); `num-cores`, when present, a positive integer; `mattr` a list "
         "of `+feature`/`-feature` strings, `mcpu` and `mtriple` strings. Where TVM is loaded "
         "(apply, `planctl targets`) an `mcpu` or an `mattr` feature LLVM does not know is this "
         "error too: LLVM would build for generic x86-64 or ignore the feature, saying so only on "
         "stderr. Without this check a typo reaches `tvm.target.Target` at apply time, after the "
         "plan passed check."),
    Code("PLN119", "target-device-mismatch", "A target's `capabilities` contradict its TVM target: the "
         "device its kind runs on, a feature its `mattr` turns off.",
         "The legality rules reason about `capabilities.device` (CUDA graphs only on cuda...) and "
         "`capabilities.features` while TVM compiles for `tvm.kind` and `tvm.mattr`; they must agree: "
         "llvm -> cpu, cuda -> cuda, rocm -> rocm, metal -> metal, vulkan -> vulkan, and no feature "
         "listed that `mattr` turns off (`-avx2` beside `features: [avx2]`)."),
    Code("PLN120", "target-name-mismatch", "A target's `metadata.name` differs from its file name.",
         "Plans name targets and apply finds them as `targets/<name>.yaml`; a document in a "
         "`targets/` folder whose name "
         "differs from its file's stem would be reported, keyed and cached under two names."),
    Code("PLN123", "duplicate-target-file", "A target is defined by two files, `x.yaml` and `x.yml`.",
         "Plans name targets and apply finds them as `targets/<name>.yaml` or `.yml`; with both "
         "present, which file a build used would depend on the lookup order. apply refuses to "
         "choose (PLN100) and validate reports each file of the pair."),
    Code("PLN124", "cold-caches-off-cpu", "A target that is not a CPU asks for `caches: cold` measurement.",
         "`caches: cold` runs TVM's `cache_flush_cpu_non_first_arg` before each timed run, which "
         "evicts host memory from the CPU caches. A GPU kernel's operands are in device memory: its "
         "timings would not change, while its records would be kept apart from the warm ones as "
         "another device's."),
    Code("PLN121", "non-finite-number", "A number is infinite or not a number.",
         "Every number in a plan, target or lock is finite. YAML reads `.inf`, `-.inf` and `.nan` "
         "as such, and a literal beyond the float range (`1e999`) as infinity: a tolerance of "
         "`.inf` would let any output pass parity. The published schemas bound every number "
         "field to the float range, which rejects the infinities; NaN is not a JSON value at all."),
]
for _code in _DOCUMENT_CODES:
    register(_code)

UNPARSABLE: frozenset[str] = frozenset(c.id for c in _DOCUMENT_CODES if c.unparsable)


def exit_code_for(rules: list[str] | set[str]) -> int:
    """``validate``'s exit code for findings of ``rules``: 0 with none, 2 when any is unparsable
    input (:data:`UNPARSABLE`), else 1."""
    if not rules:
        return 0
    return 2 if any(rule in UNPARSABLE for rule in rules) else 1


# ------------------------------------------------------------------ errors (PLN0xx, PLN3xx+)
def _register_errors() -> None:
    """One entry per error class of ``planctl.errors`` (its ``code``, ``stage`` and docstring). A
    code that a document finding already documents (PLN100) keeps that page."""
    for cls in vars(errors).values():
        if not (inspect.isclass(cls) and issubclass(cls, errors.PlanctlError)
                and cls.__module__ == errors.__name__) or cls.code in _CATALOGUE:
            continue
        doc = inspect.cleandoc(cls.__doc__ or "")
        name = re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()
        page = (f"{doc}\n\nRaised by planctl as `{cls.__name__}`; the command stops with exit code "
                f"{cls.exit_code}. The message's `help:` line says what to do.")
        register(Code(cls.code, name, doc.split("\n", 1)[0], page, stage=cls.stage))


_register_errors()
