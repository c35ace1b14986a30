"""Rule ids of document findings (PLN1xx): what ``validate`` reports before any legality rule runs.

``planctl rule PLN101`` prints the one-line doc and the longer text; the rule registry in
``planctl.rules`` imports :data:`CODES`. ``unparsable`` codes mean the file could not be read as one
YAML mapping at all: ``validate`` exits 2 for them, 1 for every other finding.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    """One document rule: ``id`` (``PLN1xx``), a short ``name``, a one-line ``summary`` and a longer
    ``doc``; ``unparsable`` is True when the finding means exit code 2 rather than 1."""

    id: str
    name: str
    summary: str
    doc: str
    unparsable: bool = False


_TABLE = [
    Code("PLN100", "unparsable-yaml", "The file is not valid YAML text.",
         "Syntax errors, tab indentation, binary or non-UTF-8 content and unsupported tags "
         "(`!!python/object`, ...) stop the load; fix the line shown.", unparsable=True),
    Code("PLN101", "unknown-key", "A key that the document schema does not define.",
         "Models forbid extra keys so that a typo never silently drops a setting; the help line "
         "suggests the closest valid key."),
    Code("PLN102", "missing-field", "A required field is absent.",
         "The message names the field and the mapping it belongs under."),
    Code("PLN103", "wrong-type", "A value has the wrong type (string for a number, list for a mapping...).",
         "The message says what was expected and what was found."),
    Code("PLN104", "bad-value", "A value is out of range, not one of the allowed values or malformed.",
         "Enumerations list their valid values; negative tolerances, bad names and digests land here."),
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
    Code("PLN110", "shape-range-order", "A production shape range is not ordered min <= opt <= max.",
         "Each symbolic dim in `workload.production_shapes` declares min, opt and max."),
    Code("PLN111", "duplicate-input", "Two workload inputs share a name.",
         "Input names key the parity and shape checks; each must be unique."),
    Code("PLN112", "undeclared-dim", "An input shape uses a symbolic dim that production_shapes does not declare.",
         "Parity and tuning iterate over the production values of each dim; declare it with "
         "{min, opt, max, values}."),
    Code("PLN113", "value-outside-range", "A representative dim value lies outside its [min, max].",
         "`values` are production values of the dim and must lie inside the declared range."),
    Code("PLN114", "empty-domain", "A value domain has min > max.",
         "Integer and float ranges of input domains are inclusive and need min <= max."),
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
         "`target_kinds` table of planctl/rules/capabilities.yaml: llvm, cuda, rocm, metal, "
         "vulkan, opencl, webgpu); `num-cores`, when present, a positive integer. Without this "
         "check a typo reaches `tvm.target.Target` at apply time, after the plan passed check."),
    Code("PLN119", "target-device-mismatch", "A target's `capabilities.device` does not match its TVM kind.",
         "The legality rules reason about `capabilities.device` (CUDA graphs only on cuda...) while "
         "TVM compiles for `tvm.kind`; they must agree: llvm -> cpu, cuda -> cuda, rocm -> rocm, "
         "metal -> metal, vulkan -> vulkan."),
    Code("PLN120", "target-name-mismatch", "A target's `metadata.name` differs from its file name.",
         "Plans name targets and apply finds them as `targets/<name>.yaml`; a document in a "
         "`targets/` folder whose name "
         "differs from its file's stem would be reported, keyed and cached under two names."),
]

CODES: dict[str, Code] = {code.id: code for code in _TABLE}
UNPARSABLE: frozenset[str] = frozenset(code.id for code in _TABLE if code.unparsable)


def exit_code_for(rules: list[str] | set[str]) -> int:
    """0 with no findings, 2 when any is unparsable input, else 1."""
    if not rules:
        return 0
    return 2 if any(rule in UNPARSABLE for rule in rules) else 1
