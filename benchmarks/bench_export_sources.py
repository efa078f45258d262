"""Export throughput and peak memory by source: the same generated data exported from DuckDB, from
PostgreSQL and from Snowflake (its local stand-in, fakesnow).

    .venv/bin/python benchmarks/bench_export_sources.py                  # 7 days x 151 stores x 300 products
    .venv/bin/python benchmarks/bench_export_sources.py --days 28 --products 1212

Generates a DuckDB source, starts a throwaway PostgreSQL (tests/source/pgserver.py: Debian's binaries, a
temporary folder, 127.0.0.1) and a fakesnow server (tests/source/fakesnowserver.py: its own venv
``.venv-fakesnow``, 127.0.0.1), and loads the same data into each with its bulk path (what ``retailflow
generate --source postgresql://... | snowflake://...`` does). Then it exports every day from each source
into its own lake, each export in a fresh child process, and prints per source: fact rows/s and the
child's peak resident memory (``ru_maxrss`` of that child alone: its ``getrusage(RUSAGE_SELF)``, read by
the child at its end, so nothing accumulates across exports), beside its resident memory just before the
export started (imports and an open source), so the export's own share is the difference. The database
servers' memory is not counted: they are other processes. Finally it checks that the three lakes hold
identical .csv.gz files. Figures are printed, not asserted. A source whose server cannot start here is
skipped with a note.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.source.pgserver and tests.source.fakesnowserver

from retailflow.dates import date_range  # noqa: E402
from retailflow.export import export_days  # noqa: E402
from retailflow.lake import Lake  # noqa: E402
from retailflow.source import open_source  # noqa: E402
from retailflow.source.duckdb_source import url_of  # noqa: E402
from retailflow.source.generate import GenerateSpec, generate  # noqa: E402

SNOWFLAKE_PASSWORD = "bench"  # fakesnow accepts any password; the driver wants one from the environment


def _rss_kib() -> int:
    """This process's resident memory now (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child_export(url: str, lake: str, first: str, count: int, gzip_level: int) -> None:
    """The export of ``count`` days from ``first``, in this (child) process; prints its figures as JSON."""
    days = date_range(dt.date.fromisoformat(first), dt.date.fromisoformat(first) + dt.timedelta(days=count - 1))
    source = open_source(url)
    try:
        before = _rss_kib()
        start = time.perf_counter()
        results = export_days(source, Lake(lake), days, gzip_level=gzip_level, threads=2)
        seconds = time.perf_counter() - start
    finally:
        source.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux: this process's peak
    rows = sum(r.fact_rows for r in results)
    print(json.dumps({"rows": rows, "seconds": seconds, "rss_before_kib": before, "peak_rss_kib": peak}))


def export(url: str, lake: Path, days: list[dt.date], gzip_level: int, env: dict[str, str]) -> dict:
    """Run one export in a fresh child process (its own peak memory), return its figures."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(lake), days[0].isoformat(), str(len(days))]
        + ["--gzip-level", str(gzip_level)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"export from {url} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def files_of(lake: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*.csv.gz"))  # manifests differ in source URL and export time
    }


def _line(label: str, rows: int, seconds: float, extra: str = "") -> str:
    return f"{label:<26} {rows:>12,} rows {seconds:>7.1f} s {rows / seconds:>12,.0f} rows/s{extra}"


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7, help="days of data (from 2026-01-04)")
    parser.add_argument("--stores", type=int, default=151)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--dense", action="store_true", help="one inventory row per store/product/day")
    parser.add_argument("--gzip-level", type=int, default=1)
    parser.add_argument("--child", nargs=4, metavar=("URL", "LAKE", "FIRST", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, lake, first, count = args.child
        child_export(url, lake, first, int(count), args.gzip_level)
        return

    from retailflow.source import postgresql_source, snowflake_source
    from tests.source import fakesnowserver, pgserver

    start = dt.date(2026, 1, 4)
    days = date_range(start, start + dt.timedelta(days=args.days - 1))
    work = Path(tempfile.mkdtemp(prefix="retailflow-bench-sources-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILFLOW_")}
    env["SNOWFLAKE_PASSWORD"] = SNOWFLAKE_PASSWORD
    os.environ["SNOWFLAKE_PASSWORD"] = SNOWFLAKE_PASSWORD  # for the load in this process
    print(
        f"{args.days} days x {args.stores} stores x {args.products} products, "
        f"{'dense' if args.dense else 'sparse'} inventory, {os.cpu_count()} cores\n"
    )
    try:
        with ExitStack() as stack:
            db = work / "source.duckdb"
            t = time.perf_counter()
            result = generate(
                db, GenerateSpec(days[0], days[-1], stores=args.stores, products=args.products, dense=args.dense)
            )
            rows = result.sales_rows + result.inventory_rows
            print(_line("generate (duckdb)", rows, time.perf_counter() - t))
            sources = [("duckdb", url_of(db))]

            if pgserver.bin_dir() is None:
                print("postgresql: skipped (no PostgreSQL binaries here)")
            else:
                server = stack.enter_context(pgserver.running())
                t = time.perf_counter()
                postgresql_source.load(server.url, db)
                print(_line("load into postgresql", rows, time.perf_counter() - t))
                sources.append(("postgresql", server.url))

            snow = fakesnowserver.start()
            if snow is None:
                print("snowflake: skipped (no .venv-fakesnow: run `make fakesnow`)")
            else:
                stack.callback(snow.stop)
                url = snow.url("RETAILFLOW", "PUBLIC")
                t = time.perf_counter()
                snowflake_source.load(url, db)
                print(_line("load into snowflake", rows, time.perf_counter() - t, "  (fakesnow)"))
                sources.append(("snowflake", url))

            print()
            for name, url in sources:
                figures = export(url, work / name, days, args.gzip_level, env)
                print(
                    _line(f"export from {name}", figures["rows"], figures["seconds"])
                    + f"   peak RSS {_mib(figures['peak_rss_kib']):>9}"
                    + f" (before the export {_mib(figures['rss_before_kib'])})"
                )
        reference = files_of(work / "duckdb")
        for name, _ in sources[1:]:
            same = files_of(work / name) == reference
            print(f"\nraw files of {name} identical to duckdb's ({len(reference)} .csv.gz files): {same}", end="")
        print()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
