"""What the pipeline's stages hand each other: small frozen records that round-trip through JSON.

An orchestrator runs each stage as its own task and passes the previous stage's result as JSON. The
records hold references to lake paths (raw files, staged parquet) and small figures (counts, totals),
never the data itself.

    Selection -> plan_weeks -> Planned -> compute -> Computed -> check -> Checked -> publish -> Published
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from retailflow.dates import resolve_days
from retailflow.errors import RetailflowError
from retailflow.publish.publisher import StagedFile
from retailflow.transform.checks import DayCount, WeekTotals

T = TypeVar("T")


@dataclass(frozen=True)
class Selection:
    """Which weeks a run recomputes: those containing ``days``, or every week with raw data (None)."""

    days: tuple[dt.date, ...] | None = None

    @classmethod
    def of(cls, days: Iterable[dt.date] | None) -> Selection:
        return cls(None if days is None else tuple(sorted(set(days))))

    @classmethod
    def from_flags(cls, date: str | None, date_from: str | None, date_to: str | None, all_weeks: bool) -> Selection:
        """--date / --from --to / --all, as every entry point (CLI, cluster job) spells them."""
        days = resolve_days(date, date_from, date_to, allow_none=True)
        if all_weeks and days is not None:
            raise RetailflowError("Give --all or a date selection, not both.")
        if days is None and not all_weeks:
            raise RetailflowError("No weeks chosen.", "Use --date D, --from D1 --to D2, or --all.")
        return cls.of(days)

    def describe(self) -> dict[str, Any]:
        return {"days": [d.isoformat() for d in self.days] if self.days is not None else "all"}


@dataclass(frozen=True)
class DayInput:
    """One raw partition a run reads: its files and the version (manifest hash) it had when planned."""

    day: dt.date
    version: str | None
    has_manifest: bool
    files: dict[str, str]  # table -> lake-relative path
    rows: dict[str, int] | None = None  # table -> data rows its manifest records (None: no manifest)


@dataclass(frozen=True)
class Week:
    """A fiscal week to recompute, and its raw days. ``errors`` says why it cannot be (planning found)."""

    yr_wk_num: int
    days: tuple[dt.date, ...]
    errors: tuple[str, ...] = ()

    @property
    def runnable(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Planned:
    """The weeks of one run, the raw partitions they read, and the dimension snapshot."""

    run_id: str
    started_at: str
    selection: Selection
    weeks: tuple[Week, ...]
    inputs: tuple[DayInput, ...]  # the raw days of the runnable weeks
    dims_day: dt.date | None  # None only in the record of a run whose planning failed
    dims: dict[str, str]  # dimension table -> lake-relative path of its snapshot

    @classmethod
    def nothing(cls, run_id: str, started_at: str, selection: Selection) -> Planned:
        """The plan of a run that could not plan (what its report is written from)."""
        return cls(run_id, started_at, selection, weeks=(), inputs=(), dims_day=None, dims={})

    @property
    def runnable(self) -> tuple[Week, ...]:
        return tuple(w for w in self.weeks if w.runnable)

    def passes(self, weeks_per_pass: int) -> list[Planned]:
        """This plan as groups of whole runnable weeks (one group when weeks_per_pass is 0)."""
        runnable = self.runnable
        size = weeks_per_pass or len(runnable) or 1
        out = []
        for start in range(0, len(runnable), size):
            group = runnable[start : start + size]
            days = {d for w in group for d in w.days}
            out.append(dataclasses.replace(self, weeks=group, inputs=tuple(i for i in self.inputs if i.day in days)))
        return out


@dataclass(frozen=True)
class Computed:
    """A run's weeks computed and staged: nothing is visible to readers yet."""

    planned: Planned
    engine: str
    staging: str  # the lake folder holding this computation's staged files
    weekly: dict[int, StagedFile]
    quarantine: tuple[StagedFile, ...]
    quarantine_days: tuple[dt.date, ...]  # days whose quarantine files this computation replaces
    dims: tuple[StagedFile, ...]
    counts: tuple[DayCount, ...]
    totals: tuple[WeekTotals, ...]
    dimension_counts: dict[str, dict[str, int]]  # table -> rows_read, distinct_keys
    durations_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    """The checks' verdict: which computed weeks may be published, and why the others may not."""

    computed: Computed
    errors: dict[int, tuple[str, ...]]  # yr_wk_num -> reasons (empty: publishable)
    warnings: tuple[str, ...]
    dimensions: dict[str, Any]

    @property
    def passing(self) -> tuple[int, ...]:
        return tuple(w for w, reasons in sorted(self.errors.items()) if not reasons)

    @property
    def failing(self) -> dict[int, tuple[str, ...]]:
        return {w: reasons for w, reasons in sorted(self.errors.items()) if reasons}


@dataclass(frozen=True)
class Published:
    checked: Checked
    outputs: tuple[str, ...]  # lake paths written
    durations_s: dict[str, float] = field(default_factory=dict)

    @property
    def weeks(self) -> tuple[int, ...]:
        return self.checked.passing


# -- JSON ------------------------------------------------------------------------------------------


def to_json(record: Any) -> str:
    return json.dumps(_encode(record), sort_keys=True)


def from_json(kind: type[T], text: str | bytes) -> T:
    return _decode(kind, json.loads(text))


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _decode(kind: Any, value: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any or value is None:
        return value
    if origin in (typing.Union, types.UnionType):
        return _decode(next(a for a in args if a is not type(None)), value)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(kind) if f.init})
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        return {_decode(args[0], k): _decode(args[1], v) for k, v in value.items()}
    if kind is dt.date:
        return dt.date.fromisoformat(value)
    if kind is int:
        return int(value)
    return value
