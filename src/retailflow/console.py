"""Terminal output: messages on stderr, results on stdout, progress bars only on a terminal.

Text printed here is shown as it is: both consoles have rich markup and emoji codes turned off, so a
date, path, message or table cell holding ``[/x]``, ``[bold]`` or ``:smile:`` is neither interpreted
nor a crash. Styling is applied only to the fixed parts we write (the ✓ and ! prefixes, ``error``'s
label, the progress bar's description), through ``rich.text.Text`` and styles; a caller that wants
styled text passes a ``Text`` itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
if not out.is_terminal:  # piped or logged: do not squeeze tables into 80 columns
    out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False, width=200)


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
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit, markup=False),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    with bar:
        yield _Bar(bar, bar.add_task(description, total=total))


def plain(text: str | Text) -> Text:
    """``text`` as it is (a ``Text`` is kept, styles and all): nothing in it is read as markup."""
    return text if isinstance(text, Text) else Text(str(text))


def info(message: str | Text) -> None:
    err.print(plain(message))


def success(message: str | Text) -> None:
    err.print(Text.assemble(("✓", "green"), " ", plain(message)))


def warn(message: str | Text) -> None:
    err.print(Text.assemble(("!", "yellow"), " ", plain(message)))


def error(message: str | Text, hint: str | None = None, label: str = "Error:") -> None:
    """``label message`` in one line (the label red), then the hint, if any, indented on the next."""
    line = Text.assemble((label, "red"), " ", plain(message))
    if hint:
        line.append(f"\n  {hint}")
    err.print(line)
