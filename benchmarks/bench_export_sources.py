"""Export throughput by source: the same generated data exported from DuckDB and from PostgreSQL.

    .venv/bin/python benchmarks/bench_export_sources.py                  # 7 days x 151 stores x 300 products
    .venv/bin/python benchmarks/bench_export_sources.py --days 28 --products 1212

Generates a DuckDB source, starts a throwaway PostgreSQL (tests/source/pgserver.py: Debian's binaries, a
temporary folder, 127.0.0.1) and loads the same data into it with ADBC ingest (what ``retailflow generate
--source postgresql://...`` does), then exports every day from each source into its own lake. Prints the
load time and export rows/s per source, and checks the two lakes hold identical files. Figures are
printed, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.source.pgserver

from retailflow.dates import date_range  # noqa: E402
from retailflow.export import export_days  # noqa: E402
from retailflow.lake import Lake  # noqa: E402
from retailflow.source import open_source  # noqa: E402
from retailflow.source.duckdb_source import url_of  # noqa: E402
from retailflow.source.generate import GenerateSpec, generate  # noqa: E402
from retailflow.source.postgresql_source import load  # noqa: E402
from tests.source import pgserver  # noqa: E402


def export(url: str, lake: Path, days: list[dt.date], gzip_level: int) -> tuple[int, float]:
    source = open_source(url)
    try:
        start = time.perf_counter()
        results = export_days(source, Lake(str(lake)), days, gzip_level=gzip_level, threads=2)
        return sum(r.fact_rows for r in results), time.perf_counter() - start
    finally:
        source.close()


def files_of(lake: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*.csv.gz"))  # manifests differ in source URL and export time
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7, help="days of data (from 2026-01-04)")
    parser.add_argument("--stores", type=int, default=151)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--dense", action="store_true", help="one inventory row per store/product/day")
    parser.add_argument("--gzip-level", type=int, default=1)
    args = parser.parse_args()

    start = dt.date(2026, 1, 4)
    days = date_range(start, start + dt.timedelta(days=args.days - 1))
    work = Path(tempfile.mkdtemp(prefix="retailflow-bench-sources-"))
    print(
        f"{args.days} days x {args.stores} stores x {args.products} products, "
        f"{'dense' if args.dense else 'sparse'} inventory, {os.cpu_count()} cores\n"
    )
    try:
        db = work / "source.duckdb"
        t = time.perf_counter()
        result = generate(
            db, GenerateSpec(days[0], days[-1], stores=args.stores, products=args.products, dense=args.dense)
        )
        rows = result.sales_rows + result.inventory_rows
        print(f"{'generate (duckdb)':<26} {rows:>12,} rows {time.perf_counter() - t:>7.1f} s")
        with pgserver.running() as server:
            t = time.perf_counter()
            load(server.url, db)
            seconds = time.perf_counter() - t
            print(f"{'load into postgresql':<26} {rows:>12,} rows {seconds:>7.1f} s {rows / seconds:>12,.0f} rows/s")
            for name, url in (("duckdb", url_of(db)), ("postgresql", server.url)):
                exported, seconds = export(url, work / name, days, args.gzip_level)
                print(
                    f"{'export from ' + name:<26} {exported:>12,} rows {seconds:>7.1f} s {exported / seconds:>12,.0f} rows/s"
                )
        same = files_of(work / "duckdb") == files_of(work / "postgresql")
        print(f"\nraw files identical across sources: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
