"""Progress of a search: committed trials against the trial budget. On a terminal a rich progress
bar on stderr (DESIGN.md "Interfaces": progress bars only on a terminal; NO_COLOR is honoured by
rich); elsewhere (a CI log, a pipe) a plain line a minute, so that a search of many minutes is not
silent."""
from __future__ import annotations

import sys
import time

HEARTBEAT_S = 60.0   # off a terminal: one line a minute


class TrialProgress:
    """Context manager; ``update(done)`` sets the trials committed so far. ``heartbeat(lines)``
    (planctl.tuning.census.print_lines with the command's prefix) hears the progress off a terminal;
    without it, off a terminal, a no-op."""

    def __init__(self, total: int, enabled: bool = True, heartbeat=None):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.heartbeat = None if self.enabled else heartbeat
        self._progress = None
        self._task = None
        self._started = self._last = time.monotonic()

    def __enter__(self) -> "TrialProgress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("tuning"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("trials"), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("tuning", total=self.total)
        return self

    def update(self, done: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=min(done, self.total))
        now = time.monotonic()
        if self.heartbeat is not None and now - self._last >= HEARTBEAT_S:
            self._last = now
            self.heartbeat([f"  search: {min(done, self.total)}/{self.total} trials committed after "
                            f"{(now - self._started) / 60:.0f} min"])

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
