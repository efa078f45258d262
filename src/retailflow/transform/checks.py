"""The checks a computed week must pass before it is published. Pure: figures in, reasons out.

- the calendar snapshot repeats no date (else facts would be counted twice: the whole run fails);
- per day and table: read = used + duplicates + quarantined, and the quarantined share is within the
  threshold;
- per week: the output's sums equal the used input's, to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from retailflow.errors import RetailflowError

TOTALS = ("sales_qty", "sales_amt", "sales_cost")


@dataclass(frozen=True)
class DayCount:
    """Rows of one table and day: read = used + duplicates + quarantined when all is well."""

    day: dt.date
    table: str
    read: int
    used: int
    duplicates: int
    quarantined: int
    unknown_store: int = 0  # used rows whose store_key / prod_key is not in the dimension snapshot
    unknown_product: int = 0


@dataclass(frozen=True)
class WeekTotals:
    """Exact sums (as text) of a week's used input and of its output, and its output rows."""

    yr_wk_num: int
    rows: int
    input: dict[str, str]  # TOTALS -> decimal text
    output: dict[str, str]


def check_dimensions(dimension_counts: Mapping[str, Mapping[str, int]]) -> tuple[list[str], dict[str, Any]]:
    """Warnings and facts about the dimension snapshot; raises when the calendar repeats a date."""
    calendar = dimension_counts.get("calendar", {})
    if calendar.get("rows_read") != calendar.get("distinct_keys"):
        raise RetailflowError(
            "The calendar snapshot repeats some dates, so facts could be counted twice.",
            "Fix the calendar table at the source and re-export.",
        )
    product = dimension_counts.get("product", {})
    rows, keys = int(product.get("rows_read", 0)), int(product.get("distinct_keys", 0))
    warnings = []
    if rows != keys:
        warnings.append(
            f"The product table has {rows - keys} extra row(s) for duplicated prod_key values: "
            "kept one row per key in curated/product (facts are aggregated before any join, so no sales double)."
        )
    return warnings, {"product_rows": rows, "product_duplicate_rows": rows - keys}


def check_counts(counts: Iterable[DayCount], threshold: float) -> dict[dt.date, list[str]]:
    """Day -> reasons its rows cannot be published (counts that do not add up, too much quarantined)."""
    errors: dict[dt.date, list[str]] = {}
    for c in counts:
        reasons = errors.setdefault(c.day, [])
        if c.read != c.used + c.duplicates + c.quarantined:
            reasons.append(
                f"{c.table} {c.day}: {c.read} rows read but {c.used} used + {c.duplicates} duplicates + "
                f"{c.quarantined} quarantined (a bug: please report it)."
            )
        share = c.quarantined / c.read if c.read else 0.0
        if share > threshold:
            reasons.append(
                f"{c.quarantined} of {c.read} {c.table} rows of {c.day} ({share:.1%}) were quarantined, "
                f"above the {threshold:.1%} threshold; see quarantine/dt={c.day}/{c.table}.parquet "
                "for the reasons. Fix the source and re-export, or raise quarantine_threshold."
            )
    return errors


def unknown_keys_warning(counts: Iterable[DayCount]) -> str | None:
    """One warning for the run when facts name stores or products the dimension tables lack (they are
    kept: the facts are true, but the dashboard cannot name them)."""
    unknown = [c for c in counts if c.unknown_store or c.unknown_product]
    if not unknown:
        return None
    stores, products = sum(c.unknown_store for c in unknown), sum(c.unknown_product for c in unknown)
    days = sorted({c.day.isoformat() for c in unknown})
    return (
        f"{stores} fact row(s) name a store_key and {products} a prod_key that the store/product tables lack "
        f"({', '.join(days[:5])}{' ...' if len(days) > 5 else ''}): kept, and counted per day in the run report. "
        "Check that the source's dimension tables are complete."
    )


def check_manifest_rows(
    counts: Iterable[DayCount], expected: Mapping[tuple[dt.date, str], int]
) -> dict[dt.date, list[str]]:
    """Day -> reasons its files yielded another number of rows than their manifest records (a file
    damaged after it was written, or lines the reader lost)."""
    errors: dict[dt.date, list[str]] = {}
    for c in counts:
        rows = expected.get((c.day, c.table))
        if rows is not None and rows != c.read:
            errors.setdefault(c.day, []).append(
                f"{c.table} of {c.day}: its file yielded {c.read} rows but the manifest records {rows}; "
                "re-export the day."
            )
    return errors


def check_totals(totals: WeekTotals) -> list[str]:
    """Reasons a week's output does not reconcile with its used input (none when it does)."""
    return [
        f"output does not reconcile: input {name.removeprefix('sales_')} {totals.input[name]} "
        f"but output {totals.output[name]}."
        for name in TOTALS
        if Decimal(totals.input[name]) != Decimal(totals.output[name])
    ]
