from __future__ import annotations

import datetime as dt

import pytest

from retailflow.dates import date_range, parse_date, resolve_days
from retailflow.errors import RetailflowError


def test_parse_date_accepts_iso():
    assert parse_date("2026-01-05") == dt.date(2026, 1, 5)
    assert parse_date(" 2026-01-05 ") == dt.date(2026, 1, 5)


def test_parse_date_passes_a_date_through():
    assert parse_date(dt.date(2026, 1, 5)) == dt.date(2026, 1, 5)


@pytest.mark.parametrize("text", ["2026/01/05", "05-01-2026", "2026-1-5", "20260105", "", "yesterday"])
def test_parse_date_rejects_other_formats(text):
    with pytest.raises(RetailflowError) as info:
        parse_date(text, "--date")
    assert "format" in str(info.value)
    assert "--date" in str(info.value)
    assert "YYYY-MM-DD" in str(info.value)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "2026-00-10"])
def test_parse_date_rejects_impossible_days(text):
    with pytest.raises(RetailflowError) as info:
        parse_date(text)
    assert f"Invalid date {text!r}" in str(info.value)


def test_date_range_is_inclusive():
    assert date_range(dt.date(2026, 1, 30), dt.date(2026, 2, 2)) == [
        dt.date(2026, 1, 30),
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 2),
    ]
    assert date_range(dt.date(2026, 1, 5), dt.date(2026, 1, 5)) == [dt.date(2026, 1, 5)]


def test_date_range_backwards_rejected():
    with pytest.raises(RetailflowError, match="backwards"):
        date_range(dt.date(2026, 1, 6), dt.date(2026, 1, 5))


def test_resolve_days_single_date():
    assert resolve_days("2026-01-05", None, None) == [dt.date(2026, 1, 5)]


def test_resolve_days_range_is_inclusive():
    days = resolve_days(None, "2026-01-04", "2026-01-10")
    assert days[0] == dt.date(2026, 1, 4) and days[-1] == dt.date(2026, 1, 10)
    assert len(days) == 7


def test_resolve_days_from_after_to_rejected():
    with pytest.raises(RetailflowError, match="backwards"):
        resolve_days(None, "2026-01-10", "2026-01-04")


@pytest.mark.parametrize(
    "date_from, date_to", [("2026-01-04", None), (None, "2026-01-10"), ("2026-01-04", "2026-01-10")]
)
def test_resolve_days_date_with_from_or_to_rejected(date_from, date_to):
    with pytest.raises(RetailflowError, match="not both"):
        resolve_days("2026-01-05", date_from, date_to)


def test_resolve_days_from_without_to_rejected():
    with pytest.raises(RetailflowError, match="go together"):
        resolve_days(None, "2026-01-04", None)


def test_resolve_days_nothing_given():
    assert resolve_days(None, None, None, allow_none=True) is None
    with pytest.raises(RetailflowError, match="No day given"):
        resolve_days(None, None, None)


def test_resolve_days_names_the_bad_option():
    with pytest.raises(RetailflowError, match="--to"):
        resolve_days(None, "2026-01-04", "2026/01/10")
