"""The run's log file: library chatter goes there, planctl's own progress and summary to the
terminal.

TVM's C++ logger, onnxruntime, the ONNX exporter and subprocesses write straight to file
descriptor 2, and Python libraries raise ``warnings``; none of it is planctl's to show. While
:func:`capture` is active, descriptor 2 is the log file (so are Python warnings and records of the
``logging`` module that no handler takes), and ``sys.stderr`` is the terminal, which is what
planctl's progress lines, rich progress bars and errors write to.

The log is written to a temporary file and moved to its place when the block ends, so a run that
is refused before it made anything (a legality error, a missing file) leaves no folder behind:
``keep_on_error`` says whether to keep the log after an error (apply keeps it once the tuning
cache, where its logs live, exists); otherwise what was captured goes to the terminal instead.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable


@contextlib.contextmanager
def capture(log: Path, header: str = "", keep_on_error: Callable[[], bool] = lambda: True,
            skipped: Callable[[], bool] = lambda: False):
    """Send library output to ``log`` (replaced) until the block ends; yields its path. After an
    exception, the log is kept only when ``keep_on_error()`` says so; else its text goes to stderr.
    A run that ``skipped()`` its work (an up-to-date apply) keeps the last run's log when it caught
    nothing."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd, held = tempfile.mkstemp(prefix="planctl-", suffix=".log")
    os.close(fd)
    ok = False
    try:
        with _redirected(Path(held), header):
            yield log
        ok = True
    finally:
        _settle(Path(held), log, keep=ok or keep_on_error(), failed=not ok or skipped())


def command_log(command: str, plan_file: Path, target: str, cache_dir) -> Path:
    """Where ``planctl <command>`` of ``plan_file`` for ``target`` logs library output: beside the
    tuning cache's search logs, ``<cache>/logs/<command>-<plan stem>-<target>.log``."""
    from planctl.tuning.store import resolve_cache_dir

    return resolve_cache_dir(cache_dir) / "logs" / f"{command}-{plan_file.stem}-{target}.log"


def capture_command(command: str, plan_file: Path, target: str, cache_dir, skipped: Callable[[], bool] = lambda: False):
    """:func:`capture` for ``planctl <command> PLAN --target T`` into :func:`command_log`; a run
    refused before it opened the cache creates none (its captured output goes to stderr)."""
    log = command_log(command, plan_file, target, cache_dir)
    cache = log.parent.parent
    return capture(log, header=f"planctl {command} {plan_file} --target {target}", keep_on_error=cache.exists,
                   skipped=skipped)


# library lines that only follow a failure planctl reports itself (TVM's importer, left half-way)
AFTERMATH = ("BlockBuilder destroyed with remaining blocks",)


def _settle(held: Path, log: Path, keep: bool, failed: bool = False) -> None:
    """Move the held log to ``log``, or show what it caught (after its header line, without the
    :data:`AFTERMATH` lines) and drop it. A failed (or skipped) run's log that caught nothing is
    dropped too: a refused run (a typo in the plan) or an up-to-date apply would otherwise replace
    the last real run's log with a header line."""
    if keep and not (failed and _header_only(held)):
        log.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(held, log)   # the temporary folder may be another filesystem
        return
    caught = "".join(line for line in held.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[1:]
                     if not any(noise in line for noise in AFTERMATH))
    held.unlink(missing_ok=True)
    if caught.strip():
        sys.stderr.write(caught)
        sys.stderr.flush()


def _header_only(held: Path) -> bool:
    with open(held, "rb") as fh:
        fh.readline()
        return not fh.read(4096).strip()


@contextlib.contextmanager
def _redirected(held: Path, header: str):
    """Descriptor 2, Python warnings and unhandled logging records to ``held``; sys.stderr to the terminal."""
    with open(held, "w", encoding="utf-8", errors="replace", buffering=1) as text:
        text.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {header}\n")
        saved = os.dup(2)
        # a sys.stderr that is not descriptor 2 (a test's capture) stays where it is
        terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                             errors="replace") if _on_fd2(sys.stderr) else None
        os.dup2(text.fileno(), 2)
        old_stderr, old_show, old_last = sys.stderr, warnings.showwarning, logging.lastResort
        sys.stderr = terminal or old_stderr
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: text.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        logging.lastResort = logging.StreamHandler(text)
        logging.lastResort.setLevel(logging.WARNING)
        try:
            yield
        finally:
            sys.stderr.flush()
            text.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sys.stderr, warnings.showwarning, logging.lastResort = old_stderr, old_show, old_last
            if terminal is not None:
                terminal.close()


def _on_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and ValueError
        return False
