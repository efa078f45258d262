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


@contextlib.contextmanager
def progress(description: str, total: int, unit: str = "") -> Iterator[callable]:
    """A progress bar; yields ``advance(n=1)``. Silent when stderr is not a terminal (logs stay clean)."""
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
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def info(message: str) -> None:
    err.print(message)


def success(message: str) -> None:
    err.print(f"[green]✓[/green] {message}")


def warn(message: str) -> None:
    err.print(f"[yellow]![/yellow] {message}")
