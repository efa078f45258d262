"""The fiscal calendar as planning needs it: which week a day is in, and which weeks a request touches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from retailflow.errors import RetailflowError
from retailflow.lake.storage import Lake
from retailflow.tables import CALENDAR
from retailflow.transform.duckdb_engine import connect
from retailflow.transform.duckdb_raw import raw_files_select


@dataclass(frozen=True)
class FiscalCalendar:
    week_of: dict[dt.date, int]  # day -> yr_wk_num

    def days_of(self, week: int) -> list[dt.date]:
        return sorted(d for d, w in self.week_of.items() if w == week)

    def span(self, week: int) -> tuple[dt.date, dt.date]:
        """The week's first and last day. Raw days inside it belong to it even if the snapshot lacks them
        (their rows are then quarantined as 'not in the calendar', rather than silently skipped)."""
        days = self.days_of(week)
        return days[0], days[-1]

    def week(self, day: dt.date) -> int:
        try:
            return self.week_of[day]
        except KeyError:
            raise RetailflowError(
                f"{day} is not in the fiscal calendar of the lake's newest snapshot.",
                "Check the date, or export a calendar that covers it.",
            ) from None


def read_calendar(lake: Lake, relative: str, day: dt.date) -> FiscalCalendar:
    """The day -> week mapping of one calendar snapshot (about 14k rows: small enough to hold)."""
    con = connect(lake)
    try:
        select = raw_files_select(lake, CALENDAR, [(day, relative)])
        rows = con.execute(
            f"SELECT TRY_CAST(cal_dt AS DATE), TRY_CAST(yr_wk_num AS INTEGER) FROM ({select}) "
            "WHERE TRY_CAST(cal_dt AS DATE) IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    return FiscalCalendar(dict(rows))


def target_weeks(calendar: FiscalCalendar, days: list[dt.date] | None, available: list[dt.date]) -> list[int]:
    """--date/--from/--to: the weeks containing those days; --all (days None): every week with raw data."""
    if days is not None:
        return sorted({calendar.week(d) for d in days})
    weeks = {calendar.week_of[d] for d in available if d in calendar.week_of}
    spans = [calendar.span(w) for w in weeks]
    orphans = [d for d in available if not any(a <= d <= b for a, b in spans)]
    if orphans:
        raise RetailflowError(
            f"Raw partition(s) {', '.join(str(d) for d in orphans[:5])} fall in no week of the calendar snapshot.",
            "Export a calendar that covers them, or remove those partitions.",
        )
    return sorted(weeks)
