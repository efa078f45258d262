"""Stage 1, ``plan_weeks``: which fiscal weeks a run recomputes and which raw partitions each reads.

A week with an incomplete or corrupt partition (or one without a manifest, unless allow_manifestless) is
planned as failed, with what to do about it, so the others still run. The dimension tables and the calendar come from the newest complete partition.
"""

from __future__ import annotations

import datetime as dt

from retailflow.errors import LakeError, RetailflowError
from retailflow.lake import layout
from retailflow.lake.rawformat import map_columns
from retailflow.lake.rawheader import read_header
from retailflow.lake.rawzone import PartitionState, inspect_partition, raw_days
from retailflow.lake.state import new_run_id
from retailflow.lake.storage import Lake
from retailflow.pipeline.calendar import read_calendar, target_weeks
from retailflow.pipeline.records import DayInput, Planned, Selection, Week
from retailflow.tables import ALL_TABLES, DIMENSION_TABLES, FACT_TABLES


def plan(
    lake: Lake,
    selection: Selection,
    run_id: str | None = None,
    *,
    allow_manifestless: bool = False,
    through: dt.date | None = None,
) -> Planned:
    """``allow_manifestless``: partitions without a manifest count as complete (settings.allow_manifestless).
    ``through``: a triggered run of that day leaves out the week's later days that are not complete yet
    (being exported now: their own scan triggers their own run) instead of failing the week."""
    started = dt.datetime.now(dt.UTC)
    available = raw_days(lake)
    if not available:
        raise RetailflowError(f"The lake {lake.url} has no raw partitions.", "Run `retailflow export` first.")
    states: dict[dt.date, PartitionState] = {}

    def state(day: dt.date) -> PartitionState:
        if day not in states:
            states[day] = inspect_partition(lake, day, allow_manifestless=allow_manifestless)
        return states[day]

    dims_day = next((d for d in reversed(available) if state(d).complete), None)
    if dims_day is None:
        manifestless = any(s.lacks_manifest for s in states.values())
        raise RetailflowError(
            "No raw partition in the lake is complete, so there is no calendar to read.",
            "Run `retailflow scan` to see what is missing, then re-export those days"
            + (
                "; partitions without _manifest.json count only with allow_manifestless = true "
                "(RETAILFLOW_ALLOW_MANIFESTLESS=true), for outside producers."
                if manifestless
                else "."
            ),
        )
    dims = {t.name: f"{layout.raw_partition(dims_day)}/{state(dims_day).files[t.name]}" for t in DIMENSION_TABLES}
    calendar = read_calendar(lake, dims["calendar"], dims_day)

    weeks, inputs = [], []
    for week in target_weeks(calendar, list(selection.days) if selection.days is not None else None, available):
        first, last = calendar.span(week)
        week_days = tuple(
            d for d in available if first <= d <= last and (through is None or d <= through or state(d).complete)
        )
        errors: list[str] = []
        if not week_days:
            errors.append(f"no raw partition of this week ({first} .. {last}) is in the lake.")
        elif broken := [state(d) for d in week_days if not state(d).complete]:
            errors += [s.describe() for s in broken]
            errors.append("Re-export those days (retailflow export --date ...) and run again.")
        elif unreadable := [e for d in week_days for e in _header_problems(lake, state(d))]:
            errors += unreadable  # a file that cannot be read as a whole fails its week, not the run
        else:
            inputs += [_day_input(state(d)) for d in week_days]
        weeks.append(Week(week, week_days, tuple(errors)))
    return Planned(
        run_id=run_id or new_run_id(started),
        started_at=started.isoformat(timespec="seconds"),
        selection=selection,
        weeks=tuple(weeks),
        inputs=tuple(inputs),
        dims_day=dims_day,
        dims=dims,
    )


def _day_input(state: PartitionState) -> DayInput:
    folder = layout.raw_partition(state.day)
    files = {t.name: f"{folder}/{state.files[t.name]}" for t in ALL_TABLES}
    return DayInput(state.day, state.version, state.has_manifest, files, state.rows)


def _header_problems(lake: Lake, state: PartitionState) -> list[str]:
    """Why a day's fact files cannot be read as a whole (not CSV, another delimiter, a column missing)."""
    problems = []
    for table in FACT_TABLES:
        relative = f"{layout.raw_partition(state.day)}/{state.files[table.name]}"
        try:
            map_columns(table, read_header(lake, relative), relative)
        except LakeError as exc:
            problems.append(str(exc))
    return problems
