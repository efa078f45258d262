"""What one run reads: the raw files of the weeks it recomputes, and the newest dimension snapshots."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RawFile:
    day: dt.date
    table: str
    relative: str  # lake-relative path, e.g. raw/dt=2026-01-05/sales.csv.gz


@dataclass
class RunInputs:
    facts: dict[str, list[RawFile]] = field(default_factory=dict)  # table -> one file per day
    dims: dict[str, RawFile] = field(default_factory=dict)  # table -> the newest snapshot
    weeks: list[int] = field(default_factory=list)  # the yr_wk_num being recomputed

    @property
    def days(self) -> list[dt.date]:
        return sorted({f.day for files in self.facts.values() for f in files})
