"""The generated fiscal calendar against the real calendar table (tests/data/real_calendar.csv.gz:
FY1998..FY2026, 10,598 days, upper-case headers), and the rules that extend it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from retailflow.source.calendar import calendar_sql, default_years, fiscal_year_start, fiscal_years
from retailflow.tables import CALENDAR

REAL_CALENDAR = Path(__file__).parents[1] / "data" / "real_calendar.csv.gz"
REAL_DAYS = 10_598
REAL_LAST_DAY = dt.date(2027, 1, 2)  # the last day of FY2026, the real table's last year


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute(f"CREATE TABLE gen AS {calendar_sql(*default_years())}")
    con.execute("CREATE TABLE real AS SELECT * FROM read_csv(?, header=true, all_varchar=true)", [str(REAL_CALENDAR)])
    yield con
    con.close()


def test_real_calendar_file_has_every_contract_column(con):
    header = [row[0] for row in con.execute("DESCRIBE real").fetchall()]
    assert all(name == name.upper() for name in header)
    assert [name.lower() for name in header] == CALENDAR.column_names


def test_generated_calendar_has_the_contract_columns(con):
    assert [row[0] for row in con.execute("DESCRIBE gen").fetchall()] == CALENDAR.column_names


def test_generated_calendar_equals_the_real_one_on_every_day_and_column(con):
    columns = CALENDAR.column_names
    differs = " OR ".join(f"CAST(g.{c} AS VARCHAR) IS DISTINCT FROM r.{c}" for c in columns)
    compared, days = con.execute(
        "SELECT count(*), count(DISTINCT r.cal_dt) FROM real r JOIN gen g ON CAST(g.cal_dt AS VARCHAR) = r.cal_dt"
    ).fetchone()
    mismatches = con.execute(
        f"""SELECT r.*, g.* FROM real r LEFT JOIN gen g ON CAST(g.cal_dt AS VARCHAR) = r.cal_dt
            WHERE g.cal_dt IS NULL OR {differs} ORDER BY r.cal_dt"""
    ).fetchall()
    assert mismatches == [], f"{len(mismatches)} mismatching days, first: {mismatches[:3]}"
    assert compared == days == REAL_DAYS
    assert con.execute("SELECT count(*) FROM real").fetchone()[0] == REAL_DAYS


def test_real_calendar_ends_where_the_generated_one_continues(con):
    assert con.execute("SELECT max(CAST(cal_dt AS DATE)) FROM real").fetchone()[0] == REAL_LAST_DAY
    first_after = con.execute(
        "SELECT cal_dt, yr_num, wk_num, day_of_wk_num FROM gen WHERE cal_dt > ? ORDER BY cal_dt LIMIT 1",
        [REAL_LAST_DAY],
    ).fetchone()
    assert first_after == (dt.date(2027, 1, 3), 2027, 1, 0)


def test_every_fiscal_year_has_364_or_371_days(con):
    bad = con.execute(
        "SELECT yr_num, count(*) AS n FROM gen GROUP BY yr_num HAVING n NOT IN (364, 371) ORDER BY yr_num"
    ).fetchall()
    assert bad == []
    first, last = default_years()
    assert con.execute("SELECT count(DISTINCT yr_num) FROM gen").fetchone()[0] == last - first + 1


def test_fiscal_years_start_on_sunday_and_end_on_saturday(con):
    bad = con.execute(
        """SELECT yr_num FROM gen GROUP BY yr_num
           HAVING dayofweek(min(cal_dt)) <> 0 OR dayofweek(max(cal_dt)) <> 6"""
    ).fetchall()
    assert bad == []


def test_weeks_run_sunday_to_saturday_with_seven_days(con):
    bad = con.execute(
        """SELECT yr_wk_num, count(*) AS n, min(day_of_wk_num), max(day_of_wk_num),
                  dayofweek(min(cal_dt)), max(cal_dt) - min(cal_dt)
           FROM gen GROUP BY yr_wk_num
           HAVING n <> 7 OR count(DISTINCT day_of_wk_num) <> 7 OR dayofweek(min(cal_dt)) <> 0
               OR max(cal_dt) - min(cal_dt) <> 6"""
    ).fetchall()
    assert bad == []


def test_day_of_week_number_and_name_agree(con):
    pairs = con.execute("SELECT DISTINCT day_of_wk_num, day_of_wk_desc FROM gen ORDER BY 1").fetchall()
    assert pairs == list(enumerate(["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]))


def test_days_are_continuous_without_gaps_or_overlaps(con):
    first, last = default_years()
    start, end = fiscal_year_start(first), fiscal_year_start(last + 1) - dt.timedelta(days=1)
    rows, distinct, lo, hi = con.execute(
        "SELECT count(*), count(DISTINCT cal_dt), min(cal_dt), max(cal_dt) FROM gen"
    ).fetchone()
    assert (lo, hi) == (start, end)
    assert rows == distinct == (end - start).days + 1
    assert end >= dt.date(2035, 12, 1)


def test_continuity_beyond_the_real_table(con):
    gaps = con.execute(
        """SELECT cal_dt, next_dt FROM (
               SELECT cal_dt, lead(cal_dt) OVER (ORDER BY cal_dt) AS next_dt FROM gen WHERE cal_dt >= ?)
           WHERE next_dt IS NOT NULL AND next_dt - cal_dt <> 1""",
        [REAL_LAST_DAY],
    ).fetchall()
    assert gaps == []
    years = con.execute("SELECT DISTINCT yr_num FROM gen WHERE cal_dt > ? ORDER BY 1", [REAL_LAST_DAY]).fetchall()
    assert [y for (y,) in years] == list(range(2027, default_years()[1] + 1))


def test_53_week_years(con):
    years = [y for (y,) in con.execute("SELECT DISTINCT yr_num FROM gen WHERE wk_num = 53 ORDER BY 1").fetchall()]
    # FY2000 is the last year of the old last-Saturday rule; from FY2001 on the Thursday rule applies.
    assert years == [2000, 2004, 2009, 2015, 2020, 2026, 2032]
    assert [fy.year for fy in fiscal_years(2001, 2035) if fy.weeks == 53] == [2004, 2009, 2015, 2020, 2026, 2032]


def test_yr_wk_num_is_year_times_100_plus_week(con):
    assert con.execute("SELECT count(*) FROM gen WHERE yr_wk_num <> yr_num * 100 + wk_num").fetchone()[0] == 0


def test_months_and_quarters_are_consistent(con):
    bad = con.execute(
        """SELECT count(*) FROM gen
           WHERE mnth_num NOT BETWEEN 1 AND 12 OR qtr_num <> (mnth_num - 1) // 3 + 1
              OR yr_mnth_num <> CAST(yr_num::VARCHAR || mnth_num::VARCHAR AS INTEGER)
              OR yr_qtr_num <> CAST(yr_num::VARCHAR || qtr_num::VARCHAR AS INTEGER)"""
    ).fetchone()[0]
    assert bad == 0


@pytest.mark.parametrize(
    "year, start",
    [
        (2022, dt.date(2022, 1, 2)),
        (2020, dt.date(2019, 12, 29)),
        (1999, dt.date(1998, 12, 27)),
        (1998, dt.date(1997, 12, 28)),
        (2027, dt.date(2027, 1, 3)),
    ],
)
def test_fiscal_year_start_examples(year, start):
    assert fiscal_year_start(year) == start
    assert start.weekday() == 6  # a Sunday


def test_default_years_reach_at_least_2035():
    assert default_years() == (1998, 2035)
    assert default_years(dt.date(2040, 6, 1)) == (1998, 2041)
