"""Parsing the dates and date ranges users type."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from retailflow.errors import RetailflowError

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(text: str, what: str = "date") -> dt.date:
    """Parse a YYYY-MM-DD date strictly: '2026-1-5' or '05/01/2026' are ambiguous, so rejected."""
    value = text.strip() if isinstance(text, str) else text
    if isinstance(value, dt.date):
        return value
    if not _ISO_DATE.match(value or ""):
        raise RetailflowError(f"Unknown {what} format {text!r}.", "Write dates as YYYY-MM-DD, for example 2026-11-21.")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise RetailflowError(f"Invalid {what} {text!r}: {exc}.", "Check the day and month.") from None


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both included."""
    if start > end:
        raise RetailflowError(f"The range is backwards: from {start} is after to {end}.", "Swap --from and --to.")
    return list(iter_days(start, end))


def iter_days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def resolve_days(
    date: str | None, date_from: str | None, date_to: str | None, *, allow_none: bool = False
) -> list[dt.date] | None:
    """Turn the CLI's --date / --from / --to into a list of days (None when nothing was given)."""
    if date and (date_from or date_to):
        raise RetailflowError("Give either --date or --from/--to, not both.")
    if date:
        return [parse_date(date, "--date")]
    if date_from or date_to:
        if not (date_from and date_to):
            raise RetailflowError("--from and --to go together.", "Give both, e.g. --from 2026-11-01 --to 2026-11-07.")
        return date_range(parse_date(date_from, "--from"), parse_date(date_to, "--to"))
    if allow_none:
        return None
    raise RetailflowError("No day given.", "Use --date YYYY-MM-DD or --from YYYY-MM-DD --to YYYY-MM-DD.")
