"""The run's log file: library chatter goes there, planctl's own progress and summary to the
terminal.

TVM's C++ logger, onnxruntime, the ONNX exporter and subprocesses write straight to file
descriptor 2, and Python libraries raise ``warnings``; none of it is planctl's to show. While
:func:`capture` is active, descriptor 2 is the log file (so are Python warnings and records of the
``logging`` module that no handler takes), and ``sys.stderr`` is the terminal, which is what
planctl's progress lines, rich progress bars and errors write to.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path


@contextlib.contextmanager
def capture(log: Path, header: str = ""):
    """Send library output to ``log`` (truncated first) until the block ends; yields its path."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(log, "w", encoding="utf-8", errors="replace", buffering=1) as text:
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
            yield log
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
