"""Terminal output: messages on stderr, results on stdout, progress bars only on a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:  # piped or logged: do not squeeze tables into 80 columns
    out = Console(highlight=False, soft_wrap=True, width=200)


class _Bar:
    """``bar()`` / ``bar(n)`` advances; ``bar.update(done, total)`` jumps (when the total is learnt late)."""

    def __init__(self, progress: Progress, task):
        self._progress, self._task = progress, task

    def __call__(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)


@contextlib.contextmanager
def progress(description: str, total: int | None, unit: str = "") -> Iterator[_Bar]:
    """A progress bar (see _Bar). Silent when stderr is not a terminal (logs stay clean)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    with bar:
        yield _Bar(bar, bar.add_task(description, total=total))


def info(message: str) -> None:
    err.print(message)


def success(message: str) -> None:
    err.print(f"[green]✓[/green] {message}")


def warn(message: str) -> None:
    err.print(f"[yellow]![/yellow] {message}")
