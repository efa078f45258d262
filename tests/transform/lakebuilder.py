"""Build tiny lakes from hand-written fact rows, for metric and validation tests (DuckDB and Spark alike).

    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-04", sales=[sale(1, 1, 10, "2026-01-04", 3, "30.00", "24.00")],
             inventory=[inv("2026-01-04", 1, 10, 4, 10, 0)])
    report = run_duckdb(lake.url)

Partitions carry the real store and product tables (with their duplicated product keys) and the
generated fiscal calendar, and no manifest, like an outside producer's: so whatever reads them needs the
``allow_manifestless`` setting (``run_lake`` and ``settings()`` set it; the CLI takes
``RETAILFLOW_ALLOW_MANIFESTLESS=true``).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
from pathlib import Path
from typing import Any

import duckdb

from retailflow.config import Settings
from retailflow.lake.state import RunReport
from retailflow.pipeline import run
from retailflow.source.calendar import calendar_sql
from retailflow.tables import INVENTORY, SALES

DIMS = Path(__file__).resolve().parents[2] / "src" / "retailflow" / "source" / "dims"


def sale(trans_id, store, prod, day, qty, amt, cost, **extra) -> dict[str, Any]:
    row = {
        "trans_id": trans_id,
        "prod_key": prod,
        "store_key": store,
        "trans_dt": day,
        "trans_time": 1200,
        "sales_qty": qty,
        "sales_price": "1.00",
        "sales_amt": amt,
        "discount": "0.00",
        "sales_cost": cost,
        "sales_mgrn": "0.00",
        "ship_cost": "0.00",
    }
    row.update(extra)
    return row


def inv(day, store, prod, on_hand, on_order, oos, **extra) -> dict[str, Any]:
    row = {
        "cal_dt": day,
        "store_key": store,
        "prod_key": prod,
        "inventory_on_hand_qty": on_hand,
        "inventory_on_order_qty": on_order,
        "out_of_stock_flg": oos,
        "waste_qty": "0",
        "promotion_flg": "false",
        "next_delivery_dt": "",
    }
    row.update(extra)
    return row


@functools.lru_cache(maxsize=4)
def calendar_csv(first_year: int = 2024, last_year: int = 2028, skip_day: str | None = None) -> bytes:
    con = duckdb.connect()
    rows = con.execute(calendar_sql(first_year, last_year)).fetchall()
    names = [d[0] for d in con.description]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([n.upper() for n in names])
    for row in rows:
        if skip_day and row[0].isoformat() == skip_day:
            continue
        writer.writerow([v.isoformat() if isinstance(v, dt.date) else v for v in row])
    return out.getvalue().encode()


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.upper() for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue().encode()


class LakeBuilder:
    def __init__(self, root: Path, calendar: bytes | None = None):
        self.root = Path(root)
        self.url = str(self.root)
        self.calendar = calendar or calendar_csv()

    def day(
        self,
        day: str,
        sales: list[dict] = (),
        inventory: list[dict] = (),
        raw_sales: bytes | None = None,
        raw_inventory: bytes | None = None,
    ) -> Path:
        folder = self.root / "raw" / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "sales.csv.gz": raw_sales if raw_sales is not None else _csv(SALES.column_names, list(sales)),
            "inventory.csv.gz": raw_inventory
            if raw_inventory is not None
            else _csv(INVENTORY.column_names, list(inventory)),
            "store.csv.gz": (DIMS / "store.csv").read_bytes(),
            "product.csv.gz": (DIMS / "product.csv").read_bytes(),
            "calendar.csv.gz": self.calendar,
        }
        for name, data in files.items():
            (folder / name).write_bytes(gzip.compress(data, mtime=0))
        return folder

    def week_file(self, yr_wk_num: int) -> Path:
        return self.root / "curated" / "weekly_sales_inventory" / f"yr_wk_num={yr_wk_num}" / "part-0.parquet"


def settings(url: str, **values: Any) -> Settings:
    """The settings of a run over a built lake: an outside producer's, so partitions have no manifest."""
    return Settings(lake=url, **{"allow_manifestless": True, **values})


def run_lake(url: str, days: list[str] | None = None, engine=None, **values: Any) -> RunReport:
    parsed = [dt.date.fromisoformat(d) for d in days] if days is not None else None
    return run(settings(url, **values), parsed, engine=engine)


def weekly_rows(lake: LakeBuilder, where: str = "true") -> list[dict[str, Any]]:
    """The published weekly rows (yr_wk_num from the folder), as dicts, ordered."""
    con = duckdb.connect()
    glob = str(lake.root / "curated" / "weekly_sales_inventory" / "*" / "*.parquet")
    cursor = con.execute(
        "SELECT * FROM read_parquet($glob, hive_partitioning = true, hive_types = {'yr_wk_num': INTEGER}) "
        f"WHERE {where} ORDER BY yr_wk_num, store_key, prod_key",
        {"glob": glob},
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def quarantine_rows(lake: LakeBuilder, table: str) -> list[dict[str, Any]]:
    files = sorted((lake.root / "quarantine").glob(f"dt=*/{table}.parquet"))
    if not files:
        return []
    con = duckdb.connect()
    cursor = con.execute(
        "SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false)",
        {"files": [str(f) for f in files]},
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def published_files(root: Path) -> dict[str, bytes]:
    """The bytes of every curated and quarantine file under a lake root, by lake path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for folder in ("curated", "quarantine")
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def write_worked_example(lake: LakeBuilder) -> LakeBuilder:
    """docs/metrics.md's worked example: store 1, product 10, week 202602."""
    lake.day(
        "2026-01-04",
        sales=[
            sale(1, 1, 10, "2026-01-04", "3", "30.00", "24.00"),
            sale(2, 1, 10, "2026-01-04", "2", "20.00", "22.00"),
        ],
        inventory=[inv("2026-01-04", 1, 10, 4, 10, 0)],
    )
    lake.day(
        "2026-01-05",
        sales=[sale(3, 1, 10, "2026-01-05", "1", "12.00", "9.00")],
        inventory=[inv("2026-01-05", 1, 10, 0, 0, 1)],
    )
    lake.day("2026-01-06", inventory=[inv("2026-01-06", 1, 10, 7, 0, 1)])
    lake.day("2026-01-07", sales=[sale(4, 1, 10, "2026-01-07", "4", "40.00", "30.00")])
    lake.day(
        "2026-01-08",
        sales=[sale(5, 1, 10, "2026-01-08", "2.5", "25.00", "20.00")],
        inventory=[inv("2026-01-08", 1, 10, 6, 5, 0)],
    )
    return lake


def write_edge_cases(lake: LakeBuilder) -> LakeBuilder:
    """One small edge case per store/product pair, all in week 202602 unless named otherwise."""
    days: dict[str, dict[str, list]] = {}

    def add(day, sales=(), inventory=()):
        entry = days.setdefault(day, {"sales": [], "inventory": []})
        entry["sales"] += list(sales)
        entry["inventory"] += list(inventory)

    # (2, 20) several transactions, each below the stock on hand, summing past it: low by the daily sum.
    add(
        "2026-01-05",
        sales=[
            sale(20, 2, 20, "2026-01-05", "3", "9.00", "6.00"),
            sale(21, 2, 20, "2026-01-05", "3", "9.00", "6.00"),
            sale(22, 2, 20, "2026-01-05", "3", "9.00", "6.00"),
        ],
        inventory=[inv("2026-01-05", 2, 20, 8, 0, 0)],
    )
    # (2, 21) on hand equal to the daily sum: not low (strictly less than).
    add(
        "2026-01-05",
        sales=[sale(23, 2, 21, "2026-01-05", "4", "8.00", "4.00")],
        inventory=[inv("2026-01-05", 2, 21, 4, 0, 0)],
    )
    # (2, 22) a day with sales but no inventory row: no stock values, neither oos nor low.
    add("2026-01-06", sales=[sale(24, 2, 22, "2026-01-06", "5", "50.00", "40.00")])
    # (2, 23) a day with inventory but no sales: sales 0; oos counts, the impact is 0 money.
    add("2026-01-06", inventory=[inv("2026-01-06", 2, 23, 0, 3, 1)])
    # (2, 24) oos and low on the same day, with on-hand 0.
    add(
        "2026-01-07",
        sales=[sale(25, 2, 24, "2026-01-07", "2", "7.00", "8.00")],
        inventory=[inv("2026-01-07", 2, 24, 0, 0, 1)],
    )
    # (2, 25) a week with no inventory at all.
    add("2026-01-08", sales=[sale(26, 2, 25, "2026-01-08", "1", "5.00", "6.00")])
    # (2, 26) a week with zero sales: inventory on two days, the later one is the end of week.
    add("2026-01-05", inventory=[inv("2026-01-05", 2, 26, 9, 1, 0)])
    add("2026-01-09", inventory=[inv("2026-01-09", 2, 26, 3, 2, 1)])
    # (2, 27) inventory on Tuesday and sales on Wednesday: the join must include the date.
    add("2026-01-06", inventory=[inv("2026-01-06", 2, 27, 1, 0, 1)])
    add("2026-01-07", sales=[sale(27, 2, 27, "2026-01-07", "6", "60.00", "30.00")])
    # (2, 72479) a product key that the product table repeats: sales must not double.
    add(
        "2026-01-05",
        sales=[sale(28, 2, 72479, "2026-01-05", "2", "20.00", "10.00")],
        inventory=[inv("2026-01-05", 2, 72479, 5, 0, 0)],
    )
    # (3, 30) a fiscal week crossing the calendar year: 202601 = 2025-12-28..2026-01-03.
    add("2025-12-30", sales=[sale(30, 3, 30, "2025-12-30", "1", "10.00", "5.00")])
    add(
        "2026-01-02",
        sales=[sale(31, 3, 30, "2026-01-02", "2", "30.00", "12.00")],
        inventory=[inv("2026-01-02", 3, 30, 1, 0, 0)],
    )
    # (3, 31) the 53rd week of FY2026, and the first week of FY2027 right after it.
    add("2027-01-01", sales=[sale(32, 3, 31, "2027-01-01", "1", "4.00", "2.00")])
    add("2027-01-03", sales=[sale(33, 3, 31, "2027-01-03", "1", "6.00", "3.00")])
    # (3, 32) out of stock every day of the week, with sales each day.
    for i, day in enumerate(
        ["2026-01-04", "2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09", "2026-01-10"]
    ):
        add(day, sales=[sale(40 + i, 3, 32, day, "1", "2.00", "1.00")], inventory=[inv(day, 3, 32, 10, 0, 1)])
    for day, rows in sorted(days.items()):
        lake.day(day, sales=rows["sales"], inventory=rows["inventory"])
    return lake


def write_messy_inputs(lake: LakeBuilder) -> LakeBuilder:
    """Week 202603 delivered the way outside producers deliver it, with every kind of bad row.

    2026-01-11: plain sales.csv with a BOM, mixed-case headers in reverse order, an extra NEXTVAL column
    and \\N for NULL; gzipped inventory with lower-case headers and empty fields for NULL. 2026-01-12:
    a normal day. Rows cover each validation rule, exact duplicates and conflicts.
    """
    from tests.rawfiles import csv_bytes

    day = "2026-01-11"
    good = [sale(100 + i, 1 + i % 3, 10 + i % 4, day, str(1 + i % 5), f"{10 + i}.50", f"{8 + i}.25") for i in range(40)]
    dup = sale(200, 1, 10, day, "2", "20.00", "10.00")
    conflict = sale(201, 2, 11, day, "1", "5.00", "4.00")
    bad = [
        sale(300, 1, 10, day, "abc", "1.00", "1.00"),
        sale(301, None, 10, day, "1", "1.00", "1.00"),
        sale(302, 1, 10, day, "-1", "1.00", "1.00"),
        sale(303, 1, 10, "2026-01-12", "1", "1.00", "1.00"),
        sale(304, 1, "2.5", day, "1", "1.00", "1.00"),
        sale(305, 1, 10, day, "1", "1e3", "1.00"),
        sale(306, 1, 10, day, "1.005", "1.005", "-2.00"),
    ]
    sales = good + [dup, dict(dup), conflict, dict(conflict, sales_amt="6.00")] + bad
    inventory = [inv(day, 1 + i % 3, 10 + i % 4, str(i % 7), "5", str(i % 2)) for i in range(12)]
    inventory += [inv(day, 3, 20, "4", "0", "0"), inv(day, 3, 20, "4", "0", "0")]  # an exact duplicate
    inventory += [inv(day, 3, 21, "4", "0", "0"), inv(day, 3, 21, "5", "0", "0")]  # a conflict
    inventory += [inv(day, 3, 22, "4", "0", "3"), inv(day, 3, 23, None, "0", "0"), inv(day, 3, 24, "1.5", "2", "1")]
    folder = lake.day(day, raw_inventory=csv_bytes(INVENTORY, inventory, header_case="lower", null=""))
    (folder / "sales.csv.gz").unlink()
    (folder / "sales.csv").write_bytes(
        csv_bytes(SALES, sales, header_case="mixed", column_order="reversed", extra_columns={"NEXTVAL": 7}, bom=True)
    )
    other = "2026-01-12"
    lake.day(
        other,
        sales=[sale(400 + i, 1, 10 + i % 2, other, "3", "30.00", "20.00") for i in range(5)],
        inventory=[inv(other, 1, 10, "2", "1", "0"), inv(other, 1, 11, "9", "0", "1")],
    )
    return lake
