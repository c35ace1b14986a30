"""Parity counterexample files: the shrunk failing example of one production shape, as ``.npz``.

Layout: arrays ``input_<i>``, ``reference_<i>``, ``candidate_<i>`` by position, and ``meta``, a JSON
string (input and output names, shape env, per-output ``[rtol, atol]``, reason, seed, number of
candidate outputs), so names with any characters survive and no pickle is needed to read it back.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from planctl.documents.shapes import shape_tag  # noqa: F401 (re-exported)
from planctl.errors import VerificationError


def replay_command(npz_path: Path | str) -> str:
    return f"planctl verify replay {npz_path}"


def save_counterexample(path: Path, failure: Mapping[str, Any], shape_env: Mapping[str, int],
                        tolerances: Mapping[str, tuple[float, float]], seed: int) -> Path:
    """Write ``failure`` (``inputs`` dict, ``reference`` and ``candidate`` output lists, output
    ``names``, ``reason``) to ``path`` in the layout above; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = list(failure["inputs"].items())
    arrays = {f"input_{i}": a for i, (_, a) in enumerate(inputs)}
    arrays |= {f"reference_{i}": a for i, a in enumerate(failure["reference"])}
    arrays |= {f"candidate_{i}": a for i, a in enumerate(failure["candidate"])}
    meta = {"inputs": [k for k, _ in inputs], "outputs": list(failure["names"]), "shape_env": dict(shape_env),
            "tolerances": {k: list(v) for k, v in tolerances.items()}, "reason": failure["reason"],
            "seed": seed, "candidate_outputs": len(failure["candidate"])}
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


@dataclass(frozen=True)
class Counterexample:
    """A saved failing example: inputs by name, reference and candidate outputs in order (the candidate
    list is shorter, or empty, when the candidate raised), and the metadata written beside them."""

    inputs: dict[str, np.ndarray]
    reference: list[np.ndarray]
    candidate: list[np.ndarray]
    meta: dict[str, Any]


def load_counterexample(npz_path: Path | str) -> Counterexample:
    """Load a counterexample ``.npz``; ``VerificationError`` when it is missing or not one."""
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            inputs = {name: data[f"input_{i}"] for i, name in enumerate(meta["inputs"])}
            reference = [data[f"reference_{i}"] for i in range(len(meta["outputs"]))]
            candidate = [data[f"candidate_{i}"] for i in range(meta["candidate_outputs"])]
    except (OSError, KeyError, ValueError) as exc:
        raise VerificationError(f"{npz_path}: not a readable parity counterexample ({_why_unreadable(exc)})",
                                hint="replay the counterexample-<shape>.npz that a failed parity check wrote "
                                     "(report.md names it, with its replay command)") from exc
    return Counterexample(inputs, reference, candidate, meta)


def _why_unreadable(exc: Exception) -> str:
    """numpy's own reason, except where it is advice planctl must not follow: a file that is not a
    .npz archive reads to numpy as a pickle, and numpy suggests ``allow_pickle``; planctl never
    unpickles (its files are data)."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, ValueError) and "pickle" in str(exc):
        return "not a .npz archive, and planctl never loads pickled data"
    if isinstance(exc, KeyError):   # numpy's NpzFile: "meta is not a file in the archive"
        return f"{exc.args[0]}: apply did not write it"
    return str(exc)
