"""Move staged files into place.

Every curated partition is exactly one file with a fixed name (layout.PART_FILE), so replacing a week is
one rename (local disk) or one PUT (object stores): a reader sees the old week or the new one, never a
mix or a hole. A run killed between two weeks leaves each week whole (some old, some new), and the next
run, recomputing the same weeks, completes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retailflow.lake.storage import Lake


@dataclass(frozen=True)
class StagedFile:
    """A file an engine wrote to a run's staging area, and where publishing puts it."""

    staged: str
    final: str


@dataclass
class Publication:
    moves: list[tuple[str, str]] = field(default_factory=list)  # (staged, final) lake-relative paths
    removals: list[str] = field(default_factory=list)  # final paths that no longer have content

    def add(self, staged: str, final: str) -> None:
        self.moves.append((staged, final))


def publish(lake: Lake, publication: Publication) -> list[str]:
    """Apply the moves in order, then the removals; return the final paths written."""
    written = []
    for staged, final in publication.moves:
        folder = final.rpartition("/")[0]
        lake.makedirs(folder)
        lake.commit(staged, final)
        written.append(final)
    for final in publication.removals:
        lake.remove(final)
    return written
