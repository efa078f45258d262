"""Build tiny lakes from hand-written fact rows, for metric and validation tests (DuckDB and Spark alike).

    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-04", sales=[sale(1, 1, 10, "2026-01-04", 3, "30.00", "24.00")],
             inventory=[inv("2026-01-04", 1, 10, 4, 10, 0)])
    report = run_duckdb(lake.url)

Partitions carry the real store and product tables (with their duplicated product keys) and the
generated fiscal calendar, and no manifest, like an outside producer's.
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
from retailflow.source.calendar import calendar_sql
from retailflow.tables import INVENTORY, SALES
from retailflow.transform.report import RunReport
from retailflow.transform.runner import run

DIMS = Path(__file__).resolve().parents[2] / "src" / "retailflow" / "source" / "dims"


def sale(trans_id, store, prod, day, qty, amt, cost, **extra) -> dict[str, Any]:
    row = {
        "trans_id": trans_id, "prod_key": prod, "store_key": store, "trans_dt": day, "trans_time": 1200,
        "sales_qty": qty, "sales_price": "1.00", "sales_amt": amt, "discount": "0.00", "sales_cost": cost,
        "sales_mgrn": "0.00", "ship_cost": "0.00",
    }
    row.update(extra)
    return row


def inv(day, store, prod, on_hand, on_order, oos, **extra) -> dict[str, Any]:
    row = {
        "cal_dt": day, "store_key": store, "prod_key": prod, "inventory_on_hand_qty": on_hand,
        "inventory_on_order_qty": on_order, "out_of_stock_flg": oos, "waste_qty": "0", "promotion_flg": "false",
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

    def day(self, day: str, sales: list[dict] = (), inventory: list[dict] = (), raw_sales: bytes | None = None,
            raw_inventory: bytes | None = None) -> Path:
        folder = self.root / "raw" / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "sales.csv.gz": raw_sales if raw_sales is not None else _csv(SALES.column_names, list(sales)),
            "inventory.csv.gz": raw_inventory if raw_inventory is not None else _csv(INVENTORY.column_names, list(inventory)),
            "store.csv.gz": (DIMS / "store.csv").read_bytes(),
            "product.csv.gz": (DIMS / "product.csv").read_bytes(),
            "calendar.csv.gz": self.calendar,
        }
        for name, data in files.items():
            (folder / name).write_bytes(gzip.compress(data, mtime=0))
        return folder

    def week_file(self, yr_wk_num: int) -> Path:
        return self.root / "curated" / "weekly_sales_inventory" / f"yr_wk_num={yr_wk_num}" / "part-0.parquet"


def run_lake(url: str, days: list[str] | None = None, engine=None, **settings: Any) -> RunReport:
    parsed = [dt.date.fromisoformat(d) for d in days] if days is not None else None
    return run(Settings(lake=url, **settings), days=parsed, engine=engine)


def weekly_rows(lake: LakeBuilder, where: str = "true") -> list[dict[str, Any]]:
    """The published weekly rows (yr_wk_num from the folder), as dicts, ordered."""
    con = duckdb.connect()
    glob = str(lake.root / "curated" / "weekly_sales_inventory" / "*" / "*.parquet")
    cursor = con.execute(
        f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true, hive_types = {{'yr_wk_num': INTEGER}}) "
        f"WHERE {where} ORDER BY yr_wk_num, store_key, prod_key"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def quarantine_rows(lake: LakeBuilder, table: str) -> list[dict[str, Any]]:
    files = sorted((lake.root / "quarantine").glob(f"dt=*/{table}.parquet"))
    if not files:
        return []
    con = duckdb.connect()
    cursor = con.execute(f"SELECT * FROM read_parquet({[str(f) for f in files]}, union_by_name = true, hive_partitioning = false)")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]
