"""What an engine loads for one pass: the raw files of the weeks it computes, and the dimension snapshots."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RawFile:
    day: dt.date
    table: str
    relative: str  # lake-relative path, e.g. raw/dt=2026-01-05/sales.csv.gz
    version: str | None = None  # the raw partition's version (its manifest hash) when planned


@dataclass
class RunInputs:
    facts: dict[str, list[RawFile]] = field(default_factory=dict)  # table -> one file per day
    dims: dict[str, RawFile] = field(default_factory=dict)  # table -> the newest snapshot
    week_days: dict[int, list[dt.date]] = field(default_factory=dict)  # yr_wk_num -> its raw days
    keep_typed_from: dt.date | None = None  # days parsed from this one on go to the typed zone (DuckDB)
