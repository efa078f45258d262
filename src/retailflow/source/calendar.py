"""The retailer's fiscal calendar, derived from the real calendar table and extended by the same rules.

Rules (checked against all 10,598 days of the real table, FY1998..FY2026, by tests/source/test_calendar.py):
- Weeks run Sunday (day_of_wk_num 0) to Saturday (6); every fiscal year is 52 or 53 whole weeks.
- From FY2001 on, a week belongs to the fiscal year in which its Thursday falls: year Y starts on the
  Sunday between Dec 29 of Y-1 and Jan 4 of Y (53-week years: 2004, 2009, 2015, 2020, 2026, 2032, ...).
  Up to FY2000 the real table started each year on the Sunday after the last Saturday of December.
- Fiscal months group weeks per quarter: 4-4-5 up to FY2001 and 5-4-4 from FY2002 on (the real table
  changed pattern then); a 53rd week belongs to month 12. Quarters are months 1-3, 4-6, 7-9, 10-12.
- yr_wk_num = yr_num*100 + wk_num; yr_mnth_num and yr_qtr_num are yr_num followed by the unpadded
  month or quarter (20231, 202310): keys, not sortable numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FIRST_FISCAL_YEAR = 1998  # the real table starts on 1997-12-28, the first day of FY1998
LAST_LAST_SATURDAY_RULE_YEAR = 2000
LAST_445_YEAR = 2001


@dataclass(frozen=True)
class FiscalYear:
    year: int
    start: dt.date  # a Sunday
    end: dt.date  # a Saturday

    @property
    def weeks(self) -> int:
        return ((self.end - self.start).days + 1) // 7

    @property
    def month_weeks(self) -> tuple[int, int, int]:
        """Weeks in the 1st, 2nd and 3rd month of each quarter."""
        return (4, 4, 5) if self.year <= LAST_445_YEAR else (5, 4, 4)


def fiscal_year_start(year: int) -> dt.date:
    """The Sunday that starts fiscal year ``year``."""
    dec31 = dt.date(year - 1, 12, 31)
    if year <= LAST_LAST_SATURDAY_RULE_YEAR:
        last_saturday = dec31 - dt.timedelta(days=(dec31.weekday() - 5) % 7)
        return last_saturday + dt.timedelta(days=1)
    jan1 = dt.date(year, 1, 1)
    sunday_before = jan1 - dt.timedelta(days=(jan1.weekday() + 1) % 7)
    thursday = sunday_before + dt.timedelta(days=4)
    return sunday_before if thursday.year == year else sunday_before + dt.timedelta(days=7)


def fiscal_years(first_year: int, last_year: int) -> list[FiscalYear]:
    return [
        FiscalYear(y, fiscal_year_start(y), fiscal_year_start(y + 1) - dt.timedelta(days=1))
        for y in range(first_year, last_year + 1)
    ]


def default_years(until: dt.date | None = None) -> tuple[int, int]:
    """FY1998 (the real table's start) to at least FY2035, or one year past ``until``."""
    return FIRST_FISCAL_YEAR, max(2035, (until.year + 1) if until else 0)


def calendar_sql(first_year: int, last_year: int) -> str:
    """A DuckDB query producing the calendar table's rows for every day of the given fiscal years."""
    years = fiscal_years(first_year, last_year)
    values = ",\n        ".join(
        f"({fy.year}, DATE '{fy.start}', DATE '{fy.end}', {fy.month_weeks[0]}, {fy.month_weeks[1]})" for fy in years
    )
    return f"""
WITH fiscal_years(yr, yr_start, yr_end, m1_weeks, m2_weeks) AS (
    VALUES
        {values}
), days AS (
    SELECT CAST(d.range AS DATE) AS cal_dt, y.*
    FROM fiscal_years y,
         LATERAL range(y.yr_start, y.yr_end + INTERVAL 1 DAY, INTERVAL 1 DAY) AS d
), numbered AS (
    SELECT *, CAST((cal_dt - yr_start) // 7 + 1 AS INTEGER) AS wk FROM days
), months AS (
    SELECT *,
        CASE WHEN wk = 53 THEN 12
             ELSE ((wk - 1) // 13) * 3 + CASE WHEN (wk - 1) % 13 < m1_weeks THEN 1
                                              WHEN (wk - 1) % 13 < m1_weeks + m2_weeks THEN 2
                                              ELSE 3 END
        END AS mnth
    FROM numbered
)
SELECT
    cal_dt,
    'Fiscal' AS cal_type_desc,
    CAST(dayofweek(cal_dt) AS INTEGER) AS day_of_wk_num,
    dayname(cal_dt) AS day_of_wk_desc,
    CAST(yr AS INTEGER) AS yr_num,
    wk AS wk_num,
    CAST(yr * 100 + wk AS INTEGER) AS yr_wk_num,
    CAST(mnth AS INTEGER) AS mnth_num,
    CAST(CAST(yr AS VARCHAR) || CAST(mnth AS VARCHAR) AS INTEGER) AS yr_mnth_num,
    CAST((mnth - 1) // 3 + 1 AS INTEGER) AS qtr_num,
    CAST(CAST(yr AS VARCHAR) || CAST((mnth - 1) // 3 + 1 AS VARCHAR) AS INTEGER) AS yr_qtr_num
FROM months
ORDER BY cal_dt
"""
