"""PLN216 model-digest."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from planctl.documents.onnx_signature import leaves_folder
from planctl.documents.positions import escape
from planctl.files import lfs_pointer_problem
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


@functools.lru_cache(maxsize=64)
def _locations(path: str, size: int, mtime_ns: int) -> dict[str, int]:
    from planctl.documents.onnx_signature import external_locations

    return external_locations(Path(path))


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@rule("PLN216", "model-digest", "error", unwaivable="apply would build another model than the one the plan reviewed")
def check(ctx):
    """Each model file the plan names, and its external data, has the sha256 the plan declares.

    What it checks
        The sha256 of ``workload.model.onnx`` equals ``workload.model.sha256``. A model that
        stores tensors in other files (ONNX external data: ``torch.onnx.export`` writes
        ``model.onnx.data`` beside a large model) names each in ``workload.model.data_sha256``
        with its sha256, and each file holds the bytes the model reads from it (a truncated
        copy is named as such), exists, and lies in the model's folder inside the repository (where
        ONNX and apply read it). A missing model file is ``PLN215``'s, and one outside
        the repository ``PLN220``'s, not this rule's; apply also refuses a data file that is a Git LFS
        pointer. The same holds for
        ``envelope.quality.reference`` (``sha256``, ``data_sha256``): quality is judged against it.

    Why
        The envelope, the telemetry and the review were made for one model. A re-exported or
        retrained model behind the same path would be optimized and promoted on evidence about
        another one.

    Example
        The model was exported again with another opset; its digest changed, the plan's did not.

    Fix
        If the new model is intended, update ``sha256`` (and ``data_sha256``: ``sha256sum
        model.onnx model.onnx.data``) and re-validate the envelope; otherwise restore the file.
    """
    yield from _pinned(ctx.root, ctx.spec.workload.model, "/spec/workload/model", "")
    quality = ctx.spec.envelope.quality
    if quality is not None and quality.reference is not None:
        yield from _pinned(ctx.root, quality.reference, "/spec/envelope/quality/reference", "quality reference ")


def _pinned(root: Path, model, at: str, what: str):
    """``model`` (a ModelRef or QualityReference, at the pointer ``at``) has its declared sha256, and
    its external data files theirs; ``what`` prefixes its name in messages."""
    path = root / model.onnx
    if not path.is_file() or not inside(path, root):  # PLN215's or PLN220's: never read it
        return
    actual = file_sha256(path)
    if actual != model.sha256:
        # whole digests: two that share a prefix would read alike cut short
        yield Violation(f"{at}/sha256", f"{what}{model.onnx} has sha256 {actual}, the plan declares {model.sha256}",
                        help="update sha256 if the new model is intended, else restore the file")
    yield from _data_files(path, root, model.data_sha256 or {}, f"{what}{model.onnx}", at)


def _data_files(path: Path, root: Path, pinned: dict[str, str], shown: str, at: str):
    """Each external data file the model names is pinned, with its digest, and not truncated."""
    stat = path.stat()
    for location, needed in _locations(str(path), stat.st_size, stat.st_mtime_ns).items():
        if leaves_folder(location) or not (path.parent / location).resolve().is_relative_to(root.resolve()):
            where = "outside the model's folder" if leaves_folder(location) else "outside the repository (a symlink)"
            yield Violation(f"{at}/onnx", f"{shown} stores tensors in '{location}', {where}: apply refuses to read it "
                            "(ONNX resolves external data beside the model)",
                            help="store the data file beside the model inside the repository, and re-export or "
                                 "point the model's location at it")
            continue
        if not (path.parent / location).exists():
            yield Violation(f"{at}/onnx", f"{shown} stores tensors in '{location}', which does not "
                            f"exist (looked beside the model, as ONNX does)",
                            help="commit the data file beside the model (a .gitignore or Git LFS rule may leave "
                                 "it out), or re-export the model")
            continue
        data = _judged(path, location, root)
        if data is None:
            continue
        size = data.stat().st_size
        if size < needed:
            yield Violation(f"{at}/onnx", f"{shown} reads {needed} bytes from its external data "
                            f"'{location}', which holds {size}: the file is truncated",
                            help="restore the data file (a copy cut short, or a download that did not finish)")
        elif location not in pinned:
            yield Violation(at, f"{shown} stores tensors in '{location}', which the plan does "
                            f"not pin (sha256 covers the .onnx file only)",
                            help=f"add under {at[len('/spec/'):].replace('/', '.')}: data_sha256: "
                                 f"{{{location}: {file_sha256(data)}}}")
        elif file_sha256(data) != pinned[location]:
            yield Violation(f"{at}/data_sha256/{escape(location)}",
                            f"'{location}' has sha256 {file_sha256(data)}, the plan declares {pinned[location]}",
                            help="update data_sha256 if the new weights are intended, else restore the file")


def _judged(model: Path, location: str, root: Path) -> Path | None:
    """The data file at ``location``, or None where apply's external-data check reports it
    instead (planctl.lowering.external_data: a path that leaves the model's folder or the
    repository, not a regular file, a Git LFS pointer)."""
    if leaves_folder(location):
        return None
    data = (model.parent / location).resolve()
    if not data.is_file() or not data.is_relative_to(root.resolve()) or lfs_pointer_problem(data):
        return None
    return data
