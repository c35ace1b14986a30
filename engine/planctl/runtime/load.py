"""Load what ``planctl apply`` emitted and run it.

``load(out_dir)`` reads ``manifest.json`` and returns an :class:`Artifact` that runs the promoted
candidate, or the baseline when the plan's fallback switch (an environment variable) is set to a
true value, and says which one it runs (``Artifact.which``, and a log line), so a fast path that
falls back is never hidden. The switch only ever selects a build that passed parity (the
manifest's ``fallback``): when apply saw the baseline fail, or the output predates that check,
load refuses the switch instead of running an unverified build.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planctl.errors import PlanctlError

if TYPE_CHECKING:
    from planctl.lowering.vm import VMCallable

log = logging.getLogger("planctl.runtime")
TRUE = {"1", "true", "yes", "on"}


@dataclass
class Artifact:
    """A callable: ``artifact(**inputs)`` → list of numpy arrays (outputs in manifest order)."""

    which: str  # "candidate" or "baseline"
    library: Path
    manifest: dict
    _run: VMCallable

    def __call__(self, **inputs):
        """Run one inference. Raises ValueError when an input is missing or outside the plan's
        contract (dtype, static shape, value domain): the compiled kernels do not bounds-check
        (an out-of-vocabulary token id would read out of bounds), so the check happens here."""
        check_inputs(self.manifest.get("inputs", []), inputs)
        return self._run(inputs)


def check_inputs(contract: list[dict], inputs: dict) -> None:
    """Compare ``inputs`` with the manifest's input contract; raise ValueError naming the input."""
    import numpy as np

    for spec in contract:
        name = spec["name"]
        if name not in inputs:
            raise ValueError(f"missing input '{name}' (expected {spec['dtype']} {spec['shape']})")
        value = np.asarray(inputs[name])
        if str(value.dtype) != spec["dtype"] or list(value.shape) != spec["shape"]:
            raise ValueError(f"input '{name}' is {value.dtype} {list(value.shape)}, the artifact was "
                             f"built for {spec['dtype']} {spec['shape']}")
        _check_domain(name, value, spec["domain"])


def _check_domain(name: str, value, domain: dict) -> None:
    import numpy as np

    kind = domain.get("kind")
    if kind == "integer-range" and value.size and (value.min() < domain["min"] or value.max() > domain["max"]):
        raise ValueError(f"input '{name}' has values in [{value.min()}, {value.max()}], outside the plan's "
                         f"domain [{domain['min']}, {domain['max']}]")
    if kind in ("enum", "attention-mask"):
        allowed = domain.get("values", [0, 1])
        if not np.isin(value, allowed).all():
            raise ValueError(f"input '{name}' has values outside {allowed}")
    if kind == "float-range":
        finite = value[np.isfinite(value)]
        if not domain.get("allow_nan") and np.isnan(value).any():
            raise ValueError(f"input '{name}' contains NaN, which the plan's domain excludes")
        if finite.size and (finite.min() < domain["min"] or finite.max() > domain["max"]):
            raise ValueError(f"input '{name}' has values in [{finite.min()}, {finite.max()}], outside the "
                             f"plan's domain [{domain['min']}, {domain['max']}]")


def _fallback_library(out: Path, manifest: dict, switch: str) -> str:
    """The library the fallback switch runs: the manifest's verified ``fallback``; else PlanctlError."""
    library = manifest.get("fallback")
    if library:
        return library
    why = manifest.get("fallback_reason") or ("this output was written before planctl verified fallback builds"
                                              if "fallback" not in manifest else "no verified baseline")
    raise PlanctlError(f"{out}: the fallback switch {switch} is set, but this output has no verified fallback "
                       f"build ({why}); planctl never runs an unverified build",
                       hint=f"unset {switch} to run the verified artifact, or re-run planctl apply")


def load(out_dir: str | os.PathLike) -> Artifact:
    """Load the artifact in ``out_dir``. Raises PlanctlError when there is nothing to run."""
    out = Path(out_dir)
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanctlError(f"{out}: no readable manifest.json ({exc})",
                           hint="point at OUT/<plan>/<target>/ written by planctl apply") from exc
    switch = manifest.get("fallback_switch")
    fallback = bool(switch) and os.environ.get(switch, "").strip().lower() in TRUE
    library = _fallback_library(out, manifest, switch) if fallback else manifest.get("artifact")
    if not library:
        why = ("neither the candidate nor the baseline passed parity (verdict reject)"
               if manifest.get("verdict") == "reject" else "the plan failed its envelope")
        raise PlanctlError(f"{out}: {why} and emitted no artifact",
                           hint="read report.md beside it; keep serving the previous build")
    which = "baseline" if library == manifest["baseline"] else "candidate"
    reason = f"fallback switch {switch} is set" if fallback else f"verdict {manifest['verdict']}"
    log.warning("planctl.runtime: running the %s build of %s (%s)", which, manifest["plan"], reason)
    from planctl.lowering.vm import vm_callable

    run = vm_callable(out / library, manifest["input_names"], manifest.get("device", "cpu"))
    return Artifact(which=which, library=out / library, manifest=manifest, _run=run)
