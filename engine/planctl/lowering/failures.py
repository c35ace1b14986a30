"""TVM failures as located findings (PLN500), at the boundary of ``lowering/``.

Every exception TVM raises while planctl imports, transforms or builds a model is turned into a
:class:`TVMFailure`: the stage (``import``, ``baseline-build``, ``passes``, ``tuning``,
``candidate-build``, ``export``), the pass that was running (a :func:`pass_tracker` instrument in
the stage's ``PassContext`` knows it: a pass that raises never reaches ``run_after_pass``), the
ONNX node where it is known (the importer names the node it was converting), TVM's message as the
detail, and a crash log holding the traceback. The one place this happens is :func:`tvm_stage`.

What apply does with it: an import or baseline-build failure leaves nothing to fall back to and
stops with a LoweringError naming it (exit 2); a failure of the plan's candidate (its passes, the
tuned schedules, its build) is recorded in the report, the technique responsible is named as the
cause, and the run rolls back to the verified baseline.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from planctl.errors import LoweringError, PlanctlError

CODE = "PLN500"
STAGES = ("import", "baseline-build", "passes", "tuning", "candidate-build", "export", "verify")
WRAPPERS = {"sequential"}   # TVM's Sequential container: the pass that failed is inside it


@dataclass(frozen=True)
class TVMFailure:
    """One exception raised inside TVM, located.

    ``passes``: the passes that were running, outermost first (empty outside a pass); ``node``: the
    ONNX node (``'name' (OpType)``) where known; ``error``: the exception's type; ``detail``: TVM's
    message (its last lines, without the C++ backtrace); ``log``: the crash log (traceback,
    versions); ``technique``: the plan technique named as the cause, once known.
    """

    stage: str
    error: str
    detail: str
    shape: Optional[str] = None
    passes: list[str] = field(default_factory=list)
    node: Optional[str] = None
    log: Optional[str] = None
    technique: Optional[str] = None
    code: str = CODE

    @property
    def pass_name(self) -> Optional[str]:
        """The innermost pass that was running (TVM's Sequential wrappers left out)."""
        named = [p for p in self.passes if p not in WRAPPERS]
        return named[-1] if named else None

    @property
    def top_pass(self) -> Optional[str]:
        """The outermost named pass (the one planctl ran; an inner one may be FoldConstant's TIR)."""
        named = [p for p in self.passes if p not in WRAPPERS]
        return named[0] if named else None

    def summary(self, model: Optional[str] = None) -> str:
        """One line: where (of ``model``, the file as the plan names it, when given), what, and TVM's message."""
        where = [f"stage {self.stage}" + (f" [{self.shape}]" if self.shape else "") + (f" of {model}" if model else "")]
        if self.pass_name:
            inner = f" (inside {self.top_pass})" if self.top_pass != self.pass_name else ""
            where.append(f"pass {self.pass_name}{inner}")
        if self.node:
            where.append(f"ONNX node {self.node}")
        cause = f"; cause: technique {self.technique}" if self.technique else ""
        return f"TVM failed in {', '.join(where)}: {self.error}: {self.detail}{cause}"

    def to_dict(self) -> dict:
        return {**asdict(self), "pass_name": self.pass_name}

    def with_technique(self, technique: Optional[str]) -> "TVMFailure":
        return replace(self, technique=technique)


def pass_tracker():
    """A PassInstrument (``tvm.ir.instrument.pass_instrument``) keeping in ``running`` the stack of
    passes that are running: a pass that raises is never popped, so after an exception it names
    that pass, after the passes that called it (e.g. FoldConstant around its nested TIR passes)."""
    from tvm.ir.instrument import pass_instrument

    @pass_instrument
    class PassTracker:
        def __init__(self):
            self.running: list[str] = []

        def enter_pass_ctx(self):
            self.running = []

        def run_before_pass(self, _mod, info):
            self.running.append(info.name)

        def run_after_pass(self, _mod, _info):
            if self.running:
                self.running.pop()

    return PassTracker()


@dataclass
class Capture:
    """What :func:`tvm_stage` yields: pass ``instruments`` to the stage's PassContext; after the
    block, ``failure`` is set when TVM raised (only with ``record=True``: else it was raised)."""

    stage: str
    shape: Optional[str]
    tracker: object = None
    node: Optional[str] = None   # set by the importer while it converts a node
    failure: Optional[TVMFailure] = None

    @property
    def instruments(self) -> list:
        return [self.tracker] if self.tracker is not None else []


@contextlib.contextmanager
def tvm_stage(stage: str, *, shape: Optional[str] = None, log_dir: Optional[Path] = None,
              record: bool = False, hint: Optional[str] = None, file: Optional[str] = None) -> Iterator[Capture]:
    """Run a block that calls TVM; turn any exception but a PlanctlError into a TVMFailure.

    ``record=False``: raise it as a LoweringError (exit 2, located at ``file``, the model, which apply
    moves to the plan's model line: planctl.apply.stages.lowering.model_errors_at_plan) naming the
    stage, pass, node and log;
    ``record=True``: swallow it and leave it in ``capture.failure`` for the report. The crash log
    goes to ``log_dir`` (the run's staging folder) or, without one, the system's temp folder.
    A PlanctlError from inside the block (a located error planctl raised itself) passes through.
    """
    capture = Capture(stage, shape, tracker=_tracker())
    try:
        yield capture
    except PlanctlError:
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary: every TVM exception becomes a finding
        failure = failure_of(exc, stage, shape=shape, node=capture.node,
                             passes=list(getattr(capture.tracker, "running", []) or []), log_dir=log_dir)
        _release(exc)
        if not record:
            raise LoweringError(failure.summary(), failure=failure, file=file,
                                hint=(hint + "; " if hint else "") + f"crash log: {failure.log}") from exc
        capture.failure = failure


def _release(exc: BaseException) -> None:
    """Free what the failed block's frames hold (the crash log has the traceback) while the run's
    log still captures library output: a half-built Relax BlockBuilder warned "destroyed with remaining
    blocks" on the terminal, after the error, once the exception was dropped."""
    import gc
    import traceback

    traceback.clear_frames(exc.__traceback__)
    gc.collect()


def _tracker():
    try:
        return pass_tracker()
    except ImportError:   # no TVM: nothing to track (the block will fail on its own import)
        return None


def failure_of(exc: BaseException, stage: str, *, shape: Optional[str] = None, node: Optional[str] = None,
               passes: Optional[list[str]] = None, log_dir: Optional[Path] = None) -> TVMFailure:
    """The TVMFailure of ``exc`` with its crash log written."""
    failure = TVMFailure(stage=stage, error=type(exc).__name__, detail=tvm_message(exc), shape=shape,
                         passes=list(passes or []), node=node)
    return replace(failure, log=write_crash_log(exc, failure, log_dir))


def tvm_message(exc: BaseException, limit: int = 600) -> str:
    """TVM's message without its C++ backtrace: the last non-empty lines that are not stack frames,
    on one line, at most ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("File ", "Stack trace", "0:", "at ")) and
            not line[:4].rstrip(":").isdigit()]
    text = " ".join(kept[-3:] if kept else lines[-1:]) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_crash_log(exc: BaseException, failure: TVMFailure, log_dir: Optional[Path]) -> str:
    """Write the failure, the versions and the full traceback to a new file; return its path."""
    from planctl import __version__
    from planctl.lowering.tvm_env import versions

    name = f"tvm-failure-{failure.stage}" + (f"-{failure.shape}" if failure.shape else "")
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        path = Path(log_dir) / f"{name}.log"
    else:
        fd, raw = tempfile.mkstemp(prefix=f"planctl-{name}-", suffix=".log")
        os.close(fd)
        path = Path(raw)
    head = [f"planctl {__version__}", f"python {sys.version.split()[0]}", f"platform {platform.platform()}",
            f"time {datetime.now(timezone.utc).isoformat()}",
            *(f"{k} {v}" for k, v in versions().items()), "",
            f"stage: {failure.stage}", f"shape: {failure.shape}", f"passes running: {failure.passes}",
            f"ONNX node: {failure.node}", f"error: {failure.error}: {failure.detail}", "", ""]
    path.write_text("\n".join(head) + "".join(traceback.format_exception(exc)), encoding="utf-8")
    return str(path)


def technique_of_pass(pass_name: Optional[str], techniques, target) -> Optional[str]:
    """The enabled technique whose own passes include ``pass_name`` (None when none does: the
    pass is TVM's legalization or build pipeline, and bisection has to find the technique)."""
    from planctl.lowering.techniques import REGISTRY

    if not pass_name:
        return None
    for t in techniques:
        try:
            names = [p.info.name for p in REGISTRY[t.technique].passes(t, target)]
        except Exception:  # noqa: BLE001 - a technique whose passes cannot be made names none here
            continue
        if pass_name in names:
            return t.technique
    return None
