"""Progress of long commands: a rich bar on a terminal, one plain line a step otherwise."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress


class Reporter:
    """A `Progress` for the CLI; use as a context manager around the long call."""

    def __init__(self, title: str, console: Console | None = None) -> None:
        # stderr by default: progress must not mix with what a command prints (e.g. --json).
        self.console = console or Console(stderr=True)
        self.title = title
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Reporter:
        if self.console.is_terminal:
            self._bar = RichProgress(SpinnerColumn(), TextColumn("{task.description}"),
                                     BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.title, total=None)
        return self

    def start(self, total: int | None) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=total)
        else:
            self.console.print(f"{self.title}: {total if total is not None else '?'} to do",
                               highlight=False)

    def __call__(self, line: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, description=f"{self.title}: {line}"[:80])
        else:
            self.console.print(f"  {line}", highlight=False)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
