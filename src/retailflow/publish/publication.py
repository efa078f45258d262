"""What a checked computation publishes: its passing weeks, its days' quarantine, the dimensions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence

from retailflow.lake import layout
from retailflow.publish.publisher import Publication, StagedFile
from retailflow.tables import FACT_TABLES


def build_publication(
    weekly: Mapping[int, StagedFile],
    passing: Collection[int],
    quarantine: Sequence[StagedFile],
    quarantine_days: Iterable[dt.date],
    dims: Sequence[StagedFile],
) -> Publication:
    """The moves (staged -> final) and removals that publish a checked computation.

    A week that failed its checks is left out; its days' quarantine files are still published, since
    they say why. A day that is clean now loses its old quarantine file. The dimension tables are
    replaced only when at least one week passes (they are the snapshot those weeks were computed with).
    """
    publication = Publication()
    for week, staged in sorted(weekly.items()):
        if week in passing:
            publication.add(staged.staged, staged.final)
    for staged in quarantine:
        publication.add(staged.staged, staged.final)
    staged_finals = {s.final for s in quarantine}
    publication.removals += [
        final
        for day in quarantine_days
        for table in FACT_TABLES
        if (final := layout.quarantine_file(day, table.name)) not in staged_finals
    ]
    if passing:
        for staged in dims:
            publication.add(staged.staged, staged.final)
    return publication
