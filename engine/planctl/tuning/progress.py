"""A progress bar of committed trials against the trial budget: rich, on stderr, only on a terminal
(DESIGN.md "Interfaces": progress bars only on a terminal; NO_COLOR is honoured by rich)."""
from __future__ import annotations

import sys


class TrialProgress:
    """Context manager; ``update(done)`` sets the trials committed so far. A no-op off a terminal."""

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None

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

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
