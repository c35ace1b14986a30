"""Semantic checks of one document that the schema cannot express (PLN110-PLN121).

They read the plain data defensively (a value of the wrong type is skipped: the schema check already
reports it), so they run even when the model did not validate and one run shows every problem.
Each check yields ``(rule, pointer, message, help)``; :func:`check` places them in the source.
"""
from __future__ import annotations

import math
import posixpath
from pathlib import Path
from typing import Any, Iterator

from planctl.documents import layout
from planctl.documents.positions import SourceIndex, join
from planctl.documents.problems import dotted
from planctl.documents.source import Issue, key_token
from planctl.documents.tvm_kinds import TARGET_KINDS

Found = tuple[str, str, str, "str | None"]

_WORKLOAD = "/spec/workload"


def check(kind: str, data: Any, index: SourceIndex, path: Path | None = None) -> list[Issue]:
    """Every semantic issue of a document of ``kind`` read from ``path`` (a target in a
    ``targets/`` folder must be named as its file; without a path that check is skipped)."""
    checks = {"OptimizationPlan": (_shape_ranges, _inputs, _domains, _plan_paths,
                                   _parity_outputs, _telemetry, _repeated),
              "Target": (_target_tvm, _target_device, _target_caches, lambda d: _target_name(d, path),
                         lambda d: _target_twin(path)),
              "Lock": (_lock_paths,)}.get(kind, ())
    issues = []
    for fn in (_finite, *checks):
        for rule, pointer, message, hint in fn(data):
            line, col, end_line, end_col = index.locate(pointer)
            issues.append(Issue(rule, message, line, col, pointer, hint, end_line, end_col))
    return issues


def _get(data: Any, *path) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dims(data: Any) -> dict:
    dims = _get(data, "spec", "workload", "production_shapes")
    return dims if isinstance(dims, dict) else {}


def _shape_ranges(data: Any) -> Iterator[Found]:
    """PLN110 min <= opt <= max; PLN113 each representative value inside [min, max]."""
    for dim, rng in _dims(data).items():
        if not isinstance(rng, dict):
            continue
        at = join(f"{_WORKLOAD}/production_shapes", dim)
        lo, opt, hi = rng.get("min"), rng.get("opt"), rng.get("max")
        if all(_is_int(v) for v in (lo, opt, hi)) and not lo <= opt <= hi:
            yield ("PLN110", at, f"production shape `{dim}` has min {lo}, opt {opt}, max {hi}; "
                   "it needs min <= opt <= max", "swap the values or fix the typo")
        values = rng.get("values")
        if isinstance(values, list):
            yield from _shares(dim, at, values)
        if not (_is_int(lo) and _is_int(hi) and isinstance(values, list)) or lo > hi:
            continue   # min > max is PLN110's: every value would be "outside" it again
        for i, entry in enumerate(values):
            value = entry.get("value") if isinstance(entry, dict) else entry
            if _is_int(value) and not lo <= value <= hi:
                pointer = join(f"{at}/values", i) + ("/value" if isinstance(entry, dict) else "")
                yield ("PLN113", pointer, f"representative value {value} of `{dim}` "
                       f"is outside its range [{lo}, {hi}]", "widen the range or drop the value")


SHARE_SUM_TOLERANCE = 0.01   # shares read off a dashboard are rounded: 0.33 + 0.33 + 0.33 is fine


def _shares(dim: str, at: str, values: list) -> Iterator[Found]:
    """PLN122: traffic shares on every value of a dim or on none, adding up to 1 (within
    :data:`SHARE_SUM_TOLERANCE`), each value listed once."""
    shares = [v.get("share") for v in values if isinstance(v, dict)]
    numbers = [v.get("value") if isinstance(v, dict) else v for v in values]
    seen: set = set()
    for i, value in enumerate(numbers):
        if not _is_int(value):   # a malformed value (a list, a mapping) is the schema's finding
            continue
        if value in seen:
            yield ("PLN122", join(f"{at}/values", i), f"value {value} of `{dim}` is listed twice",
                   "list each value once, with the sum of its shares")
        seen.add(value)
    if not shares:
        return
    if len(shares) != len(values):
        plain = next(i for i, v in enumerate(values) if not isinstance(v, dict))
        yield ("PLN122", join(f"{at}/values", plain), f"`{dim}` gives traffic shares for some values but not "
               f"for value {values[plain]}", f"write it as {{value: {values[plain]}, share: ...}}, or drop the shares")
        return
    if all(_is_num(s) for s in shares) and abs(sum(shares) - 1.0) > SHARE_SUM_TOLERANCE + 1e-9:   # 0.99 is within
        yield ("PLN122", f"{at}/values", f"the traffic shares of `{dim}` add up to {sum(shares):.4g}, not 1",
               "give each value its fraction of calls; the fractions of one dim add up to 1")


def _inputs(data: Any) -> Iterator[Found]:
    """PLN111 duplicate input names; PLN112 symbolic dims missing from production_shapes."""
    inputs = _get(data, "spec", "workload", "inputs")
    if not isinstance(inputs, list):
        return
    dims, seen = _dims(data), {}
    for i, spec in enumerate(inputs):
        if not isinstance(spec, dict):
            continue
        name = spec.get("name")
        if isinstance(name, str):
            if name in seen:
                yield ("PLN111", f"{_WORKLOAD}/inputs/{i}/name", f"input `{name}` is declared twice "
                       f"(first as input {seen[name]})", "give each input a unique name")
            seen.setdefault(name, i)
        shape = spec.get("shape")
        for j, dim in enumerate(shape if isinstance(shape, list) else []):
            if isinstance(dim, str) and dim not in dims:
                yield ("PLN112", f"{_WORKLOAD}/inputs/{i}/shape/{j}",
                       f"symbolic dim `{dim}` is not declared in `spec.workload.production_shapes`",
                       f"add `{dim}: {{min: ..., opt: ..., max: ..., values: [...]}}` under "
                       "production_shapes")


def _domains(data: Any) -> Iterator[Found]:
    """PLN114 integer-range / float-range with min > max, or an attention mask's ``min_length``
    longer than its shortest sequence; PLN125 a ``pad`` outside that range, or other than 0 on an
    attention mask (the runtime pads masks with 0, which marks the added positions as padding)."""
    inputs = _get(data, "spec", "workload", "inputs")
    for i, spec in enumerate(inputs if isinstance(inputs, list) else []):
        domain = _get(spec, "domain")
        yield from _mask_length(data, i, spec, domain)
        yield from _domain_dtype(i, spec, domain)
        if _get(domain, "kind") == "attention-mask" and _is_num(_get(spec, "pad")) and spec["pad"] != 0:
            yield ("PLN125", f"{_WORKLOAD}/inputs/{i}/pad",
                   f"input {_get(spec, 'name') or i} is an attention mask, padded with {spec['pad']}: a mask pads "
                   "with 0, which marks the positions added as padding (a 1 would attend to them)", "drop `pad`: masks need none")
        if not isinstance(domain, dict) or domain.get("kind") not in ("integer-range", "float-range"):
            continue
        lo, hi = domain.get("min"), domain.get("max")
        if _is_num(lo) and _is_num(hi) and lo > hi:
            yield ("PLN114", f"{_WORKLOAD}/inputs/{i}/domain/min",
                   f"{domain['kind']} of input {i} has min {lo} > max {hi}: no value fits",
                   "swap min and max")
        pad = _get(spec, "pad")
        if _is_num(pad) and _is_num(lo) and _is_num(hi) and lo <= hi and not lo <= pad <= hi:
            yield ("PLN125", f"{_WORKLOAD}/inputs/{i}/pad",
                   f"input {i} pads calls with {pad}, outside its {domain['kind']} [{lo}, {hi}]",
                   "pad with a value of the domain: the tokenizer's pad token id (0 for BERT's [PAD])")


def _domain_dtype(i: int, spec: Any, domain: Any) -> Iterator[Found]:
    """PLN127 a domain of the wrong kind of number for its input's dtype: an ``integer-range`` on a
    float input (parity's corner generator crashed on it), a ``float-range`` on an integer one (apply
    refused it only after building); PLN125 a fractional ``pad`` on an integer input (the runtime
    would write it truncated)."""
    dtype, kind, name = _get(spec, "dtype"), _get(domain, "kind"), _get(spec, "name") or i
    if not isinstance(dtype, str) or not isinstance(kind, str):
        return
    floating = dtype.startswith(("float", "bfloat"))   # every float of the schema's DType
    if kind == "integer-range" and floating:
        yield ("PLN127", f"{_WORKLOAD}/inputs/{i}/domain/kind", f"input {name} is {dtype}, but its domain is an "
               "integer-range", "use kind: float-range for a float input (its min and max as floats)")
    elif kind == "float-range" and not floating:
        yield ("PLN127", f"{_WORKLOAD}/inputs/{i}/domain/kind", f"input {name} is {dtype}, but its domain is a "
               "float-range", "use kind: integer-range for an integer input (token ids: min 0, max vocabulary - 1)")
    pad = _get(spec, "pad")
    if not floating and _is_num(pad) and not float(pad).is_integer():
        yield ("PLN125", f"{_WORKLOAD}/inputs/{i}/pad", f"input {name} is {dtype}, and pads calls with {pad}, "
               "which is not a whole number", "pad an integer input with a whole number: the tokenizer's pad "
               "token id (0 for BERT's [PAD])")


def _mask_length(data: Any, i: int, spec: Any, domain: Any) -> Iterator[Found]:
    """PLN114 when no row of the shortest production sequence can keep ``min_length`` positions
    (parity's masks have min_length .. seq ones: it stops at that bucket, after every build)."""
    shape = _get(spec, "shape")
    if not isinstance(domain, dict) or domain.get("kind") != "attention-mask" or not isinstance(shape, list) \
            or not shape or not _is_int(domain.get("min_length")):
        return
    seq = shape[-1]
    shortest = seq if _is_int(seq) else _get(_dims(data).get(seq), "min") if isinstance(seq, str) else None
    if _is_int(shortest) and shortest >= 1 and domain["min_length"] > shortest:   # a 0 is PLN104's
        yield ("PLN114", f"{_WORKLOAD}/inputs/{i}/domain/min_length",
               f"attention-mask min_length {domain['min_length']} of input {i} is longer than its shortest "
               f"sequence ({seq if _is_int(seq) else f'{seq} min'} {shortest}): no mask of that length fits",
               f"lower min_length to at most {shortest}")


def _repeated(data: Any) -> Iterator[Found]:
    """PLN126 a technique, a target or an output listed twice: apply reads one entry per technique
    (a second ``autotuning`` and its budget were ignored), builds each target once and verifies and
    serves each output once."""
    techniques = _get(data, "spec", "optimizations")
    seen: dict = {}
    for i, tech in enumerate(techniques if isinstance(techniques, list) else []):
        name = _get(tech, "technique")
        if isinstance(name, str) and name in seen:
            yield ("PLN126", f"/spec/optimizations/{i}/technique", f"technique `{name}` is listed twice "
                   f"(first as optimization {seen[name]}): apply uses one entry per technique",
                   "merge the two entries into one")
        if isinstance(name, str):
            seen.setdefault(name, i)
    targets = _get(data, "spec", "targets")
    for i, name in enumerate(targets if isinstance(targets, list) else []):
        if isinstance(name, str) and name in targets[:i]:
            yield ("PLN126", f"/spec/targets/{i}", f"target `{name}` is listed twice", "list each target once")
    outputs = _get(data, "spec", "workload", "outputs")
    for i, name in enumerate(outputs if isinstance(outputs, list) else []):
        if isinstance(name, str) and name in outputs[:i]:
            yield ("PLN126", f"{_WORKLOAD}/outputs/{i}", f"output `{name}` is listed twice", "list each output once")


def _plan_paths(data: Any) -> Iterator[Found]:
    yield from _path("/spec/workload/model/onnx", _get(data, "spec", "workload", "model", "onnx"))
    yield from _path("/spec/envelope/quality/dataset", _get(data, "spec", "envelope", "quality", "dataset"))
    techniques = _get(data, "spec", "optimizations")
    for i, tech in enumerate(techniques if isinstance(techniques, list) else []):
        yield from _path(f"/spec/optimizations/{i}/records", _get(tech, "records"))
        yield from _path(f"/spec/optimizations/{i}/calibration/dataset",
                         _get(tech, "calibration", "dataset"))


def _lock_paths(data: Any) -> Iterator[Found]:
    yield from _path("/spec/plan", _get(data, "spec", "plan"))


def _path(pointer: str, value: Any) -> Iterator[Found]:
    """PLN115 when ``value`` is absolute (``/x``, ``~/x``, ``C:\\x``) or climbs out through ``..``."""
    if not isinstance(value, str) or not value:
        return
    text = value.replace("\\", "/")
    absolute = text.startswith(("/", "~")) or (len(text) > 1 and text[1] == ":")
    if absolute:
        yield ("PLN115", pointer, f"path `{value}` is absolute", "use a path relative to the "
               "repository root so the plan means the same on every checkout")
    elif posixpath.normpath(text).split("/")[0] == "..":
        yield ("PLN115", pointer, f"path `{value}` leaves the repository through `..`",
               "keep models, records and datasets inside the repository")


def _parity_outputs(data: Any) -> Iterator[Found]:
    """PLN116 a parity tolerance for an output the workload does not declare (when it declares
    any): a typo there would silently leave the real output at the default tolerance."""
    outputs = _get(data, "spec", "workload", "outputs")
    tolerances = _get(data, "spec", "envelope", "parity", "outputs")
    if not (isinstance(outputs, list) and outputs and isinstance(tolerances, dict)):
        return
    declared = [o for o in outputs if isinstance(o, str)]
    for name in tolerances:
        if isinstance(name, str) and name not in declared:
            yield ("PLN116", join("/spec/envelope/parity/outputs", name),
                   f"parity tolerance for `{name}`, which is not in `spec.workload.outputs`",
                   f"declared outputs: {', '.join(declared)}; fix the name or declare the output")


def _telemetry(data: Any) -> Iterator[Found]:
    """PLN117 baseline telemetry whose p99 is below its p50 (a percentile cannot decrease)."""
    at = f"{_WORKLOAD}/baseline_telemetry"
    p50, p99 = _get(data, "spec", "workload", "baseline_telemetry", "p50_ms"), \
        _get(data, "spec", "workload", "baseline_telemetry", "p99_ms")
    if _is_num(p50) and _is_num(p99) and p99 < p50:
        yield ("PLN117", f"{at}/p99_ms", f"baseline p99 {p99} ms is below p50 {p50} ms",
               "a 99th percentile is never below the median: swap the figures or fix the typo")


def _finite(data: Any) -> Iterator[Found]:
    """PLN121 every infinite or NaN number, wherever it is (free-form mappings such as
    ``spec.tvm`` included): YAML reads ``.inf``, ``.nan`` and ``1e999`` as such."""
    stack = [("", data)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            what = "not a number" if math.isnan(node) else "infinite"
            yield ("PLN121", pointer, f"`{dotted(pointer)}` is {what}; numbers must be finite",
                   "YAML reads `.inf`, `-.inf`, `.nan` and literals beyond ±1.8e308 (such as "
                   "`1e999`) as non-finite: write the finite value meant")
        elif isinstance(node, dict):
            stack += [(join(pointer, key_token(k)), v) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(join(pointer, i), v) for i, v in reversed(list(enumerate(node)))]


def _target_tvm(data: Any) -> Iterator[Found]:
    """PLN118 ``spec.tvm.kind`` (and ``host.kind``) not a supported TVM 0.27 kind; ``mattr`` not a
    list of ``+feature``/``-feature`` strings (TVM refuses a string only at apply); ``mcpu`` or
    ``mtriple`` not a string; ``num-cores`` not a positive integer."""
    tvm = _get(data, "spec", "tvm")
    if not isinstance(tvm, dict):
        return
    kinds = TARGET_KINDS
    for at, kind in (("/spec/tvm/kind", tvm.get("kind")),
                     ("/spec/tvm/host/kind", _get(tvm, "host", "kind"))):
        if kind is None and at == "/spec/tvm/kind":
            yield ("PLN118", "/spec/tvm", "`spec.tvm` has no `kind`",
                   f"add `kind:` ({', '.join(kinds)})")
        elif kind is not None and not (isinstance(kind, str) and kind in kinds):
            yield ("PLN118", at, f"TVM target kind `{str(kind)[:60]}` is not one planctl supports",
                   f"supported kinds: {', '.join(kinds)}")
    mattr = tvm.get("mattr")
    if mattr is not None and not (isinstance(mattr, list) and all(isinstance(a, str) and a[:1] in "+-" and a[1:]
                                                                   for a in mattr)):
        entries = [mattr] if isinstance(mattr, str) else mattr if isinstance(mattr, list) else []
        signed = [a if a[:1] in "+-" else f"+{a}" for a in entries if isinstance(a, str) and a.strip("+-")]
        example = "[" + ", ".join(f'"{a}"' for a in signed or ["+avx2", "+fma"]) + "]"
        yield ("PLN118", "/spec/tvm/mattr", f"`mattr` must be a list of LLVM features, each `+name` (enable) or "
               f"`-name` (disable), found `{str(mattr)[:60]}`", f"write it as a YAML list: mattr: {example}")
    for key in ("mcpu", "mtriple"):
        if key in tvm and not isinstance(tvm[key], str):
            yield ("PLN118", f"/spec/tvm/{key}", f"`{key}` must be a string, found `{str(tvm[key])[:60]}`",
                   "e.g. mcpu: haswell, mtriple: x86_64-linux-gnu")
    if "num-cores" in tvm:
        cores = tvm["num-cores"]
        if not (_is_int(cores) and cores > 0):
            yield ("PLN118", "/spec/tvm/num-cores", f"`num-cores` must be a positive integer, "
                   f"found `{str(cores)[:60]}`", "the number of cores TVM's thread pool uses, e.g. 4")


def _target_device(data: Any) -> Iterator[Found]:
    """PLN119 ``capabilities.device`` inconsistent with ``tvm.kind`` (llvm -> cpu, cuda -> cuda...),
    or a ``capabilities.features`` entry that ``tvm.mattr`` turns off (``-avx2``): legality would
    pass techniques on a feature the build does not use."""
    kind, device = _get(data, "spec", "tvm", "kind"), _get(data, "spec", "capabilities", "device")
    devices = TARGET_KINDS.get(kind) if isinstance(kind, str) else None
    if devices and isinstance(device, str) and device not in devices:
        yield ("PLN119", "/spec/capabilities/device", f"device `{device}` does not match TVM "
               f"target kind `{kind}`", f"a `{kind}` target runs on: {', '.join(devices)}")
    mattr, features = _get(data, "spec", "tvm", "mattr"), _get(data, "spec", "capabilities", "features")
    off = {_feature_key(a[1:]): a for a in (mattr if isinstance(mattr, list) else [mattr])
           if isinstance(a, str) and a.startswith("-")}
    for i, feature in enumerate(features if isinstance(features, list) and off else []):
        if isinstance(feature, str) and _feature_key(feature) in off:
            yield ("PLN119", f"/spec/capabilities/features/{i}", f"capabilities list `{feature}`, which "
                   f"`tvm.mattr` turns off (`{off[_feature_key(feature)]}`): the build does not use it",
                   f"drop `{feature}` from the features, or `{off[_feature_key(feature)]}` from mattr")


def _feature_key(name: str) -> str:
    # capabilities write avx512-vnni where LLVM's mattr writes avx512vnni
    return name.lower().replace("-", "").replace("_", "").replace(".", "")


def _target_caches(data: Any) -> Iterator[Found]:
    """PLN124 ``measurement.caches: cold`` on a target whose device is not the CPU."""
    caches, device = _get(data, "spec", "measurement", "caches"), _get(data, "spec", "capabilities", "device")
    if caches == "cold" and isinstance(device, str) and device != "cpu":
        yield ("PLN124", "/spec/measurement/caches", f"`caches: cold` flushes CPU caches, and this "
               f"target's device is {device}", "remove it (warm, the default): a GPU kernel's "
               "operands are in device memory, which the flush does not touch")


def _target_name(data: Any, path: Path | None) -> Iterator[Found]:
    """PLN120 ``metadata.name`` differs from the file's stem, for a target in a ``targets/``
    folder (where plans and apply find targets by file name)."""
    name = _get(data, "metadata", "name")
    if path is None or Path(path).parent.name != "targets":
        return
    if isinstance(name, str) and name != Path(path).stem:
        yield ("PLN120", "/metadata/name", f"target `{name}` is in file {Path(path).name}; plans "
               f"find targets by file name", f"rename the file to {name}.yaml or set "
               f"`name: {Path(path).stem}`")


def _target_twin(path: Path | None) -> Iterator[Found]:
    """PLN123 the ``targets/`` folder holds this target under both suffixes (``x.yaml`` and
    ``x.yml``): a plan naming ``x`` would get whichever file a lookup tries first."""
    if path is None or Path(path).parent.name != "targets":
        return
    twins = [p.name for p in layout.twins(Path(path))]
    if twins:
        yield ("PLN123", "", f"target `{Path(path).stem}` is also defined by "
               f"{', '.join(twins)} in the same folder", "keep one file per target: delete or "
               "rename the other")
