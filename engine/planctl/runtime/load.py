"""Load what ``planctl apply`` emitted and run it.

``load(out_dir)`` reads ``manifest.json`` and returns a callable that runs the verified builds and
says which ones it runs, so a fast path that falls back is never hidden:

- a :class:`Dispatcher` for an output with shape buckets (manifest version 2, what apply writes
  now): each call goes to the smallest bucket that fits it (planctl.documents.shapes.bucket_for),
  is padded up to that bucket's shape within the bucket only (planctl.runtime.padding: pad token
  id, attention mask 0, the last row repeated for the batch) and its outputs are sliced back; a
  call larger than every bucket is refused, never split or padded across buckets. Each bucket
  runs its own promoted candidate, or, where that bucket rolled back alone, its verified
  baseline; a bucket with no verified build refuses its calls.
- an :class:`Artifact` for a single-shape output written before buckets existed.

The plan's fallback switch (an environment variable set to a true value) makes every bucket run
its baseline, and only ever a baseline that passed parity there (the manifest's ``fallback``):
when apply saw the baseline fail, or the output predates that check, load refuses the switch
instead of running an unverified build.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from planctl.errors import PlanctlError

if TYPE_CHECKING:
    from planctl.lowering.vm import VMCallable

log = logging.getLogger("planctl.runtime")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


@dataclass
class Artifact:
    """A callable: ``artifact(**inputs)`` → list of numpy arrays (outputs in manifest order)."""

    which: str  # "candidate" or "baseline"
    library: Path
    manifest: dict
    _run: VMCallable
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, **inputs):
        """Run one inference. Raises ValueError when an input is missing or outside the plan's
        contract (dtype, static shape, value domain): the compiled kernels do not bounds-check
        (an out-of-vocabulary token id would read out of bounds), so the check happens here."""
        check_inputs(self.manifest.get("inputs", []), inputs)
        with self._lock:   # one TVM VM per build: see Bucket.lock
            return self._run(inputs)


@dataclass
class Bucket:
    """One shape bucket of a :class:`Dispatcher`: its shape, the build it runs (None: no verified
    build, its calls are refused, ``why`` says why) and the input contract at its shape."""

    shape_env: dict[str, int]
    tag: str
    which: Optional[str]          # "candidate", "baseline" or None
    library: Optional[Path]
    contract: list[dict]
    why: str = ""
    run: Optional["VMCallable"] = field(default=None, repr=False)
    # a TVM VM is not thread-safe: two threads in one bucket's VM crashed the process in its storage
    # allocator (the new user, 2026-12-03); calls of one build run one at a time (buckets that share a
    # build share its lock: Dispatcher.__post_init__), other builds' in parallel. For parallel calls
    # of one shape, load one runtime per thread (bench/minilm_concurrency.py).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass
class Dispatcher:
    """``dispatcher(**inputs)`` → outputs (numpy arrays, in manifest order) of a call of any shape up
    to the largest bucket. ``buckets`` in ascending work; ``which``: ``candidate`` or ``baseline``
    when every bucket with a build runs that one, else ``mixed`` (``which_by_bucket`` says which
    runs where). Raises ValueError for a call larger than every bucket, inputs that disagree on a dim or
    fall outside the plan's contract (dtype, value domain), and PlanctlError for a call that lands
    in a bucket without a verified build. Thread-safe: calls that run one build run one at a
    time (a TVM VM is not re-entrant); load one per thread to run calls of one shape in parallel."""

    manifest: dict
    buckets: list[Bucket]

    def __post_init__(self):
        # one lock per VM, not per bucket: under the fallback switch every bucket runs the one
        # dynamic-shape baseline, and two buckets' calls in parallel entered that VM together
        locks: dict[int, threading.Lock] = {}
        for bucket in self.buckets:
            if bucket.run is not None:
                bucket.lock = locks.setdefault(id(bucket.run), bucket.lock)

    @property
    def which(self) -> str:
        kinds = {b.which for b in self.buckets if b.which}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def which_by_bucket(self) -> dict[str, Optional[str]]:
        return {b.tag: b.which for b in self.buckets}

    def bucket_of(self, **inputs) -> Bucket:
        """The bucket a call of these inputs goes to (ValueError when none fits)."""
        from planctl.documents.shapes import bucket_for, shape_text
        from planctl.runtime.padding import call_shape

        shape = call_shape(inputs, self.manifest["dims"])
        found = bucket_for(shape, [b.shape_env for b in self.buckets])
        if found is None:
            largest = "; ".join(shape_text(b.shape_env) for b in self.buckets)   # "batch=1, seq=64; batch=8, ..."
            raise ValueError(f"a call of {shape_text(shape)} is larger than every bucket of this artifact "
                             f"({largest}): it is refused, not split or padded across buckets")
        if not self.manifest.get("padding") and found != shape:
            built = "; ".join(f"{c['dtype']} {c['shape']} ('{c['name']}')" for b in self.buckets for c in b.contract)
            raise ValueError(f"a call of {shape_text(shape)} does not match a bucket exactly, and this artifact "
                             f"may not pad (its model has fixed shapes): the artifact was built for {built}")
        return next(b for b in self.buckets if b.shape_env == found)

    def __repr__(self) -> str:   # the manifest is pages long; a person wants the buckets and what runs
        runs = ", ".join(f"{b.tag}: {b.which or 'refused'}" for b in self.buckets)
        return f"Dispatcher(which={self.which!r}, buckets={{{runs}}})"

    def __call__(self, **inputs):
        from planctl.runtime.padding import call_shape, pad_inputs, slice_outputs

        # names, dtypes, ranks and domains agree across buckets: checked on the caller's own arrays
        # first, so a 1-D call is told its rank rather than which axis the bucket chooser missed
        check_call(self.buckets[0].contract, inputs)
        bucket = self.bucket_of(**inputs)
        if bucket.run is None:
            raise PlanctlError(f"the {bucket.tag} bucket has no verified build ({bucket.why}): calls it would "
                               "serve are refused", hint="read report.md of this output")
        manifest = self.manifest
        shape = call_shape(inputs, manifest["dims"])
        padded = pad_inputs(inputs, bucket.shape_env, manifest["dims"], manifest.get("pad", {}),
                            manifest.get("batch_dim")) if shape != bucket.shape_env else dict(inputs)
        # the values were checked on the caller's arrays above and the pad values are in the domain
        # (apply checks the padding at every bucket): only shapes and dtypes are left to check
        check_inputs(bucket.contract, padded, domains=False)
        with bucket.lock:
            outputs = bucket.run(padded)
        return slice_outputs(outputs, manifest["output_names"], manifest.get("output_dims", {}), shape)


def check_call(contract: list[dict], inputs: dict) -> None:
    """The input names, dtypes, ranks and value domains of an unpadded call (its shape is the
    bucket's business); raise ValueError naming the input. An input the artifact does not take is
    refused rather than dropped: a caller passing ``token_type_ids`` to a model without it would
    otherwise believe it was used."""
    import numpy as np

    names = [spec["name"] for spec in contract]
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise ValueError(f"unexpected input(s) {', '.join(unknown)}: this artifact takes {', '.join(names)}")
    for spec in contract:
        name = spec["name"]
        if name not in inputs:
            raise ValueError(f"missing input '{name}' (expected {spec['dtype']} with {len(spec['shape'])} axes)")
        if inputs[name] is None:
            raise ValueError(f"input '{name}' is None (expected {spec['dtype']} with {len(spec['shape'])} axes)")
        value = np.asarray(inputs[name])
        if str(value.dtype) != spec["dtype"] or value.ndim != len(spec["shape"]):
            batch = " (one sample? add the batch axis: x[None])" if value.ndim == len(spec["shape"]) - 1 else ""
            if value.dtype.newbyteorder("=") == np.dtype(spec["dtype"]) and value.ndim == len(spec["shape"]):
                batch = " in the other byte order (convert it: x.astype(x.dtype.newbyteorder('=')))"
            raise ValueError(f"input '{name}' is {value.dtype} {list(value.shape)}, the artifact takes "
                             f"{spec['dtype']} with {len(spec['shape'])} axes{batch}")
        check_domain(name, value, spec["domain"])


def check_inputs(contract: list[dict], inputs: dict, domains: bool = True) -> None:
    """Compare ``inputs`` with the manifest's input contract (dtype, shape and, with ``domains``,
    the value domain); raise ValueError naming the input."""
    import numpy as np

    for spec in contract:
        name = spec["name"]
        if name not in inputs:
            raise ValueError(f"missing input '{name}' (expected {spec['dtype']} {spec['shape']})")
        value = np.asarray(inputs[name])
        if str(value.dtype) != spec["dtype"] or list(value.shape) != spec["shape"]:
            raise ValueError(f"input '{name}' is {value.dtype} {list(value.shape)}, the artifact was "
                             f"built for {spec['dtype']} {spec['shape']}")
        if domains:
            check_domain(name, value, spec["domain"])


def _all_in(value, allowed: list) -> bool:
    """Whether every element of ``value`` is in ``allowed``: min and max for a run of consecutive
    integers such as an attention mask's {0, 1} (two reductions, a tenth of ``np.isin``'s time on
    every call), else ``np.isin``."""
    import numpy as np

    if not value.size:
        return True
    if value.dtype.kind in "iu" and all(isinstance(a, int) for a in allowed) and \
            sorted(allowed) == list(range(min(allowed), max(allowed) + 1)):
        return bool(value.min() >= min(allowed) and value.max() <= max(allowed))
    return bool(np.isin(value, allowed).all())


def check_domain(name: str, value, domain: dict) -> None:
    """Raise ValueError naming ``name`` when ``value`` (an array) lies outside ``domain`` (a plan
    input's domain as a dict): the runtime's check of a call, which the quality set meets too
    (planctl.verify.quality)."""
    import numpy as np

    kind = domain.get("kind")
    if kind == "integer-range" and value.size and (value.min() < domain["min"] or value.max() > domain["max"]):
        raise ValueError(f"input '{name}' has values in [{value.min()}, {value.max()}], outside the plan's "
                         f"domain [{domain['min']}, {domain['max']}]")
    if kind in ("enum", "attention-mask"):
        allowed = domain.get("values", [0, 1])
        if not _all_in(value, allowed):
            raise ValueError(f"input '{name}' has values outside {allowed}")
    if kind == "attention-mask" and value.ndim and value.size:
        _check_mask_lengths(name, value, int(domain.get("min_length", 1)))
    if kind == "float-range":
        finite = value[np.isfinite(value)]
        if not domain.get("allow_nan") and np.isnan(value).any():
            raise ValueError(f"input '{name}' contains NaN, which the plan's domain excludes")
        if finite.size and (finite.min() < domain["min"] or finite.max() > domain["max"]):
            raise ValueError(f"input '{name}' has values in [{finite.min()}, {finite.max()}], outside the "
                             f"plan's domain [{domain['min']}, {domain['max']}]")


def _check_mask_lengths(name: str, mask, min_length: int) -> None:
    """Every row of ``mask`` (its last axis) is right-padded (ones, then zeros) and keeps at least
    ``min_length`` positions: parity verified the build on such rows of ``min_length`` .. seq ones
    (planctl.verify.strategies), not on a left-padded or gapped row, nor on one that masks
    everything (a mean pooling over no token)."""
    import numpy as np

    kept = mask != 0
    rising = np.argwhere(np.diff(kept.astype(np.int8), axis=-1) > 0)   # a 0 followed by a 1
    if len(rising):
        row = [int(i) for i in rising[0][:-1]]
        raise ValueError(f"input '{name}' row {row[0] if len(row) == 1 else row} is not right-padded (a 0 before a "
                         f"1 at position {int(rising[0][-1])}): the plan's attention-mask domain is ones then "
                         "zeros, the only masks parity verified")
    lengths = kept.sum(axis=-1)
    if lengths.min() < min_length:
        row = [int(i) for i in np.unravel_index(int(lengths.argmin()), lengths.shape)]
        raise ValueError(f"input '{name}' row {row[0] if len(row) == 1 else row} keeps {int(lengths.min())} "
                         f"position(s), fewer than the plan's attention-mask min_length {min_length}: parity "
                         "verified no such row")


def _fallback_library(out: Path, entry: dict, switch: str, where: str = "this output") -> str:
    """The library the fallback switch runs: the entry's verified ``fallback``; else PlanctlError."""
    library = entry.get("fallback")
    if library:
        return library
    why = entry.get("fallback_reason") or ("this output was written before planctl verified fallback builds"
                                           if "fallback" not in entry else "no verified baseline")
    raise PlanctlError(f"{out}: the fallback switch {switch} is set, but {where} has no verified fallback "
                       f"build ({why}); planctl never runs an unverified build",
                       hint=f"unset {switch} to run the verified artifact, or re-run planctl apply")


def _manifest(out: Path) -> dict:
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        if not isinstance(manifest, dict):
            raise ValueError(f"its top level is a JSON {type(manifest).__name__}, not the object apply writes")
        return manifest
    except (OSError, ValueError) as exc:   # json.JSONDecodeError is a ValueError
        beside = sorted(d.name for d in out.parent.glob("*") if (d / "manifest.json").is_file()) \
            if out.parent.is_dir() else []
        inside = sorted(d.name for d in out.glob("*") if (d / "manifest.json").is_file()) if out.is_dir() else []
        found = (f"; outputs inside it, one per target: {', '.join(inside)} (load {out / inside[0]})" if inside
                 else f"; outputs beside it: {', '.join(beside)}" if beside else "")
        raise PlanctlError(f"{out}: no readable manifest.json ({exc}){found}",
                           hint="point at OUT/<plan>/<target>/ written by planctl apply, or run "
                                "planctl apply for this target first") from exc


def _switch_set(manifest: dict) -> bool:
    """Whether the plan's fallback switch is set: any value but empty, 0, false, no and off. A value
    of neither list (``2``, ``enabled``) counts as set, with a warning: during an incident it was
    meant to switch, and the baseline it selects passed parity (the new user's ``=2`` had left the
    candidate running)."""
    switch = manifest.get("fallback_switch")
    value = os.environ.get(switch, "").strip().lower() if switch else ""
    if value and value not in TRUE | FALSE:
        log.warning("planctl.runtime: %s=%r is read as set (use 1 or 0)", switch, os.environ[switch])
    return value not in FALSE


WARMUP_MS = 50.0   # see load(): the first-call costs measured on MiniLM took 1-4 calls of 4 ms


def load(out_dir: str | os.PathLike, warmup_ms: float = WARMUP_MS, verify: bool = True) -> Artifact | Dispatcher:
    """Load the artifact in ``out_dir``: a :class:`Dispatcher` over its buckets, or an
    :class:`Artifact` for a single-shape output of an earlier planctl. Raises PlanctlError when
    there is nothing to run, when the fallback switch is set and a build it would select is
    not verified, or when a library it would run is not the file apply verified.

    ``verify``: compare the sha256 of each library it loads with the one apply recorded in the
    manifest (``sha256``) before loading it, so a copy cut short or another build copied over the
    output is refused, not run (about 0.2 s per 90 MB library; a manifest without sums is loaded
    as is, with a warning). False skips it, for a service that verified the folder itself.

    ``warmup_ms``: before returning, run the smallest build that will serve calls for about this
    long (milliseconds; at least one call, at most 20) on inputs inside the plan's domains, so that
    the first real calls do not pay the process's first-call costs (TVM's thread pool starting, the
    VM's first allocations). Measured on MiniLM's 1 x 64 bucket (x86-64-avx512, 2-core AMD EPYC):
    without it the first 1-4 calls of a fresh process took 6.6-9.5 ms against 3.8 ms after them;
    any 40 ms of calls, of any bucket, removed that. 0 turns it off; a negative, non-finite or
    non-numeric value raises ValueError."""
    import math

    if isinstance(warmup_ms, bool) or not isinstance(warmup_ms, (int, float)) or not math.isfinite(warmup_ms) \
            or warmup_ms < 0:
        raise ValueError(f"warmup_ms must be a finite number of milliseconds >= 0 (0 skips the warm-up), "
                         f"not {warmup_ms!r}")
    out = Path(out_dir)
    manifest = _manifest(out)
    sums = (manifest.get("sha256") or {}) if verify else {}
    if verify and not sums:
        log.warning("planctl.runtime: %s records no library sha256 (written before planctl recorded them): "
                    "loaded without verifying its files", out / "manifest.json")
    loaded = _dispatcher(out, manifest, sums) if manifest.get("buckets") and manifest.get("dims") \
        else _artifact(out, manifest, sums)
    if warmup_ms > 0:
        _warm_up(loaded, warmup_ms / 1e3)
    return loaded


def _warm_up(loaded: Artifact | Dispatcher, seconds: float) -> None:
    import time

    if isinstance(loaded, Dispatcher):
        bucket = next(b for b in loaded.buckets if b.run is not None)   # ascending work: the cheapest
        run, contract = bucket.run, bucket.contract
    else:
        run, contract = loaded._run, loaded.manifest.get("inputs", [])
    inputs = warmup_inputs(contract)
    if inputs is None:
        return
    deadline = time.perf_counter() + seconds
    try:
        for _ in range(20):
            run(inputs)
            if time.perf_counter() >= deadline:
                break
    except Exception as exc:  # noqa: BLE001 - best effort: a real call raises it again, with its context
        log.warning("planctl.runtime: the warm-up call failed (%s): the first calls pay the first-call costs",
                    str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)


def warmup_inputs(contract: list[dict]) -> dict | None:
    """Arrays of each input's contract shape and dtype holding one value inside its domain (the
    integer or float range's low end, 0 where the range holds it; an attention mask of ones; an
    enumeration's first value); None when a shape is not concrete."""
    import numpy as np

    arrays = {}
    for spec in contract:
        if not all(isinstance(d, int) for d in spec.get("shape", [])):
            return None
        domain = spec.get("domain") or {}
        kind = domain.get("kind")
        if kind == "attention-mask":
            value = 1
        elif kind == "enum":
            value = domain["values"][0]
        elif kind in ("integer-range", "float-range"):
            value = min(max(0, domain["min"]), domain["max"])
        else:
            value = 0
        arrays[spec["name"]] = np.full(spec["shape"], value, dtype=spec["dtype"])
    return arrays


def _open(out: Path, library: str, manifest: dict, sums: dict[str, str]) -> "VMCallable":
    """The VM of ``out/library``, once its sha256 matches ``sums`` (the manifest's, where it is
    to be verified; empty: not verified)."""
    from planctl.files import sha256_file
    from planctl.lowering.vm import vm_callable

    recorded = sums.get(library)
    if sums and not recorded:   # apply records every library it names: this one came from elsewhere
        raise PlanctlError(f"{out / library}: manifest.json names this library but records no sha256 for it, as "
                           "it does for the others; planctl never runs an unverified build",
                           hint="copy the whole output folder again, or re-run planctl apply; "
                                "load(..., verify=False) skips the check")
    if recorded:
        try:
            found = sha256_file(out / library)
        except OSError as exc:
            raise PlanctlError(f"{out / library}: cannot read the library the manifest names ({exc})",
                               hint="restore the whole output folder apply wrote, or re-run planctl apply") from exc
        if found != recorded:
            raise PlanctlError(f"{out / library}: sha256 {found[:12]}... is not the {recorded[:12]}... apply verified "
                               "and recorded in manifest.json: the file changed after apply wrote it (a copy cut "
                               "short, or another build copied over it); planctl never runs an unverified build",
                               hint="copy the whole output folder again, or re-run planctl apply; "
                                    "load(..., verify=False) skips the check")
    return vm_callable(out / library, manifest["input_names"], manifest.get("device", "cpu"))


def _dispatcher(out: Path, manifest: dict, sums: dict[str, str]) -> Dispatcher:
    from planctl.documents.shapes import shape_text

    switch, fallback = manifest.get("fallback_switch"), _switch_set(manifest)
    loaded: dict[str, "VMCallable"] = {}
    buckets = []
    for entry in manifest["buckets"]:
        where = f"the {shape_text(entry['shape_env'])} bucket"
        library = _fallback_library(out, entry, switch, where) if fallback else entry.get("artifact")
        which = None if not library else ("baseline" if library == entry.get("baseline") else "candidate")
        why = "" if library else (entry.get("reason") or f"verdict {entry.get('verdict')}")
        run = None
        if library:
            run = loaded.get(library) or _open(out, library, manifest, sums)
            loaded[library] = run
        buckets.append(Bucket(dict(entry["shape_env"]), entry["tag"], which, out / library if library else None,
                              entry.get("inputs", []), why, run))
    if not any(b.run for b in buckets):
        raise PlanctlError(f"{out}: no bucket has a verified build (verdict {manifest.get('verdict')}): nothing to run",
                           hint="read report.md beside it; keep serving the previous build")
    reason = f"fallback switch {switch} is set" if fallback else f"verdict {manifest['verdict']}"
    # a warning only when a bucket does not run the candidate: a plain load is news for the logs, not the console
    degraded = fallback or any(b.which != "candidate" for b in buckets)
    log.log(logging.WARNING if degraded else logging.INFO, "planctl.runtime: %s (%s): %s", manifest["plan"], reason,
                "; ".join(f"{b.tag} runs the {b.which} build" if b.which else f"{b.tag} refuses calls ({b.why})"
                          for b in buckets))
    return Dispatcher(manifest=manifest, buckets=buckets)


def _artifact(out: Path, manifest: dict, sums: dict[str, str]) -> Artifact:
    switch, fallback = manifest.get("fallback_switch"), _switch_set(manifest)
    library = _fallback_library(out, manifest, switch) if fallback else manifest.get("artifact")
    if not library:
        why = ("neither the candidate nor the baseline passed parity (verdict reject)"
               if manifest.get("verdict") == "reject" else "the plan failed its envelope")
        raise PlanctlError(f"{out}: {why} and emitted no artifact",
                           hint="read report.md beside it; keep serving the previous build")
    which = "baseline" if library == manifest["baseline"] else "candidate"
    reason = f"fallback switch {switch} is set" if fallback else f"verdict {manifest['verdict']}"
    log.log(logging.WARNING if which == "baseline" else logging.INFO,
            "planctl.runtime: running the %s build of %s (%s)", which, manifest["plan"], reason)
    run = _open(out, library, manifest, sums)
    return Artifact(which=which, library=out / library, manifest=manifest, _run=run)
