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
    week_days: dict[int, list[dt.date]] = field(default_factory=dict)  # yr_wk_num -> its raw days

    @property
    def weeks(self) -> list[int]:
        return sorted(self.week_days)

    @property
    def days(self) -> list[dt.date]:
        return sorted({f.day for files in self.facts.values() for f in files})

    def passes(self, weeks_per_pass: int) -> list[RunInputs]:
        """The inputs split into groups of whole weeks (all in one group when weeks_per_pass is 0)."""
        size = weeks_per_pass or len(self.weeks) or 1
        groups = [self.weeks[i : i + size] for i in range(0, len(self.weeks), size)]
        out = []
        for group in groups:
            days = {d for w in group for d in self.week_days[w]}
            out.append(
                RunInputs(
                    facts={t: [f for f in files if f.day in days] for t, files in self.facts.items()},
                    dims=self.dims,
                    week_days={w: self.week_days[w] for w in group},
                )
            )
        return out
