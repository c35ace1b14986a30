"""PLN216 model-digest."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from planctl.rules.checks.missing_reference import inside
from planctl.rules.context import Violation
from planctl.rules.registry import rule


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    # keyed by size and mtime so 200 plans of one model hash it once per run
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@rule("PLN216", "model-digest", "error", unwaivable="apply would build another model than the one the plan reviewed")
def check(ctx):
    """The model file's sha256 is the one the plan declares.

    What it checks
        The sha256 of ``workload.model.onnx`` equals ``workload.model.sha256``. A missing file is
        ``PLN215``'s, and one outside the repository ``PLN220``'s, not this rule's.

    Why
        The envelope, the telemetry and the review were made for one model. A re-exported or
        retrained model behind the same path would be optimized and promoted on evidence about
        another one.

    Example
        The model was exported again with another opset; its digest changed, the plan's did not.

    Fix
        If the new model is intended, update ``sha256`` and re-validate the envelope; otherwise
        restore the file.
    """
    model = ctx.spec.workload.model
    path = ctx.root / model.onnx
    if not path.is_file() or not inside(path, ctx.root):  # PLN215's or PLN220's: never read it
        return
    actual = file_sha256(path)
    if actual != model.sha256:
        # whole digests: two that share a prefix would read alike cut short
        yield Violation("/spec/workload/model/sha256", f"{model.onnx} has sha256 {actual}, "
                        f"the plan declares {model.sha256}",
                        help="update sha256 if the new model is intended, else restore the file")
