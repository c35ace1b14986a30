"""planctl's exceptions: one base class, mapped to exit codes once, in ``planctl.cli.main``.

Exit codes (DESIGN.md "Interfaces"): 0 clean; 1 findings at or above ``--fail-level`` or a plan that
was rolled back; 2 usage, configuration or unparsable input; 3 internal error; 130 interrupted.
"""
from __future__ import annotations


class PlanctlError(Exception):
    """Base class of every error planctl reports to a user.

    ``file``/``line``/``col`` locate the cause when it is in a document (``end_line``/``end_col``: where
    its text ends, underlined as check underlines a finding); ``hint`` is the ``help:`` line.
    """

    exit_code = 2
    code = "PLN000"
    stage = "apply"  # the command that reports it, for the code catalogue (planctl.codes)

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 col: int | None = None, hint: str | None = None, pointer: str | None = None,
                 end_line: int | None = None, end_col: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.hint = hint
        self.pointer = pointer
        self.end_line = end_line
        self.end_col = end_col

    def location(self) -> str:
        if self.file is None:
            return ""
        parts = [self.file] + [str(p) for p in (self.line, self.col) if p is not None]
        return ":".join(parts)


class SelectionError(PlanctlError):
    """A ``--select``/``--ignore`` value names no rule (exit 2)."""

    code = "PLN001"
    stage = "check"


class ConfigError(PlanctlError):
    """The repository configuration cannot be read or has a value of the wrong type (exit 2)."""

    code = "PLN002"
    stage = "check"


class TargetChoiceError(PlanctlError):
    """``--target`` names a target the plan does not list in ``spec.targets`` (exit 2); the error
    points at that list and names the plan's targets."""

    code = "PLN003"


class NothingToRollBackError(PlanctlError):
    """``planctl rollback`` found no previous output to restore (exit 2): apply keeps the output it
    replaced as ``<target>.previous``, so there is one only after a second apply of the plan for the
    target into the same output root."""

    code = "PLN004"
    stage = "rollback"


class DocumentError(PlanctlError):
    """A plan, target or lock could not be read or is not valid (bad YAML, schema, semantics)."""

    code = "PLN100"


class BadTargetError(DocumentError):
    """A target document's ``spec.tvm`` that TVM refuses, or whose ``mcpu`` LLVM does not know."""

    code = "PLN118"


class LegalityError(PlanctlError):
    """apply, tune or plan refused a plan that ``planctl check`` rejects (unwaived legality errors).

    They run the legality rules first, with the same engine, configuration and waivers as
    check, and stop before any build when one reports an error (each is printed at its line);
    a plan that fails validate (schema, YAML) is refused the same way, with validate's exit code
    (2 for a file that cannot be parsed).
    Fix each finding, or waive it with a reason (``metadata.annotations``) where its rule accepts
    a waiver (the help says which do); ``planctl check`` on the plan shows the same findings.
    """

    exit_code = 1
    code = "PLN200"

    def __init__(self, message: str, findings: list | tuple = (), **kwargs):
        super().__init__(message, **kwargs)
        self.findings = list(findings)   # planctl.findings.Finding, printed before the error


class MissingReferenceError(PlanctlError):
    """A document names something that does not exist or does not match (model file, digest, target)."""

    code = "PLN300"


class HostMismatchError(PlanctlError):
    """This host cannot run the target's code: the target enables instructions (LLVM ``mcpu`` or
    ``mattr``) that this CPU lacks, or needs a CUDA architecture this GPU does not have.

    apply checks before it builds anything, so the run stops here instead of dying on an illegal
    instruction. `planctl targets` lists the repository's targets and whether this host can run
    each; pick one it can, or run apply on a host of the target."""

    code = "PLN310"


class LoweringError(PlanctlError):
    """The model could not be imported into Relax or built with TVM (unsupported operator, opset, shape).

    When TVM itself raised (during the import, in a pass or in the build), ``failure`` holds the
    finding (planctl.lowering.failures.TVMFailure): the stage, the pass that was running, the ONNX
    node where known, TVM's message and the path of the crash log with its traceback. A failure
    of the plan's candidate is recorded in the report and the run rolls back to the verified
    baseline; a failure of the import or of TVM's own baseline build stops apply with this error.
    """

    code = "PLN500"

    def __init__(self, message: str, *, failure=None, **kwargs):
        super().__init__(message, **kwargs)
        self.failure = failure


class TuningError(PlanctlError):
    """Tuning could not run or its records are unusable (budget, replay miss, corrupt database)."""

    code = "PLN600"


class VerificationError(PlanctlError):
    """Parity or quality could not be evaluated (reference runtime failed, dataset missing)."""

    code = "PLN700"


class StaleLockError(PlanctlError):
    """A saved plan's digests no longer match the plan, model, target or records on disk."""

    code = "PLN800"


class MissingExtraError(PlanctlError):
    """An optional dependency (``planctl[tvm]``) is not installed."""

    code = "PLN900"


class RolledBack(PlanctlError):
    """``apply`` finished and rolled back because the envelope or the performance gate was not met."""

    exit_code = 1
    code = "PLN010"


class Rejected(PlanctlError):
    """``apply`` finished without a verified build to deploy (verdict ``reject``).

    Neither the candidate nor TVM's baseline build may serve: both failed parity against the
    reference (for example a wrong import), or the padding check failed (the reference model's own
    outputs change when a call is padded up to its bucket, so no build can serve the smaller calls
    that bucket takes). Nothing new was deployed and the previously promoted output, if any, stays
    live. The report says which checks failed; the run's evidence is in ``<target>.rejected/``."""

    exit_code = 1
    code = "PLN011"


class Terminated(BaseException):
    """SIGTERM (``timeout``, CI runners, ``kill``) as an exception, so that cleanup runs as on
    Ctrl-C: the staging folder is removed and no half-written output is left behind."""


_interrupted: list[type[BaseException]] = []   # what a signal asked for (Terminated, KeyboardInterrupt)


def interrupt(kind: type[BaseException]) -> None:
    """From a signal handler: remember the interruption, then raise it."""
    _interrupted.append(kind)
    raise kind()


def raise_if_interrupted() -> None:
    """Raise again an interruption a signal asked for. An exception raised by a signal handler while
    a library runs can be lost on its way out (a new user's ``timeout`` SIGTERM during apply was
    ignored and the run promoted 7 minutes later), so every stage boundary checks
    (planctl.apply.context.StageClock)."""
    if _interrupted:
        raise _interrupted[0]()


def clear_interruption() -> None:
    """Forget a handled interruption (the CLI runs in-process in tests, one command after another)."""
    _interrupted.clear()
