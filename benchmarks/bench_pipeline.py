"""Throughput and peak memory of each stage: generate, export, transform (DuckDB, and Spark on request).

    .venv/bin/python benchmarks/bench_pipeline.py                       # 4 weeks x 151 stores x 300 products
    .venv/bin/python benchmarks/bench_pipeline.py --days 364 --products 1212 --dense --engines duckdb,spark

Each stage runs in its own process; peak memory is the largest resident set of that process and its
children (Spark's JVM included), sampled every 100 ms from /proc. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

STAGE = textwrap.dedent(
    """
    import json, os, sys, threading, time, datetime as dt
    from pathlib import Path

    def tree_rss(pid):
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            try:
                with open(f"/proc/{p}/status") as f:
                    total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) * 1024
                with open(f"/proc/{p}/task/{p}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except (OSError, StopIteration):
                pass
        return total

    peak = [0]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss(os.getpid()))
            time.sleep(0.1)
    threading.Thread(target=sample, daemon=True).start()

    args = json.loads(sys.argv[1])
    start = time.perf_counter()
    rows = 0
    if args["stage"] == "generate":
        from retailflow.source.generate import GenerateSpec, generate
        spec = GenerateSpec(dt.date.fromisoformat(args["start"]), dt.date.fromisoformat(args["end"]),
                            stores=args["stores"], products=args["products"], dense=args["dense"])
        result = generate(Path(args["db"]), spec)
        rows = result.sales_rows + result.inventory_rows
    elif args["stage"] == "export":
        from retailflow.dates import date_range
        from retailflow.export import export_days
        from retailflow.lake import Lake
        from retailflow.source import open_source
        source = open_source("duckdb:///" + args["db"])
        days = date_range(dt.date.fromisoformat(args["start"]), dt.date.fromisoformat(args["end"]))
        results = export_days(source, Lake(args["lake"]), days, gzip_level=args["gzip_level"], threads=2)
        rows = sum(r.fact_rows for r in results)
    else:
        from retailflow.config import Settings
        from retailflow.pipeline import run
        settings = Settings(lake=args["lake"], engine=args["engine"], spark_master="local[2]")
        report = run(settings, None)
        rows = sum(c["read"] for c in report.counts)
    seconds = time.perf_counter() - start
    stop.set()
    peak[0] = max(peak[0], tree_rss(os.getpid()))
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak[0] / 2**20}))
    """
)


def stage(**args) -> dict:
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    out = subprocess.run([sys.executable, "-c", STAGE, json.dumps(args)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"stage {args['stage']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(name: str, r: dict) -> None:
    print(
        f"{name:<22} {r['rows']:>13,} rows {r['seconds']:>8.1f} s {r['rows'] / r['seconds']:>13,.0f} rows/s "
        f"{r['peak_mb']:>8,.0f} MB peak"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=28, help="days of data (from 2026-01-04)")
    parser.add_argument("--stores", type=int, default=151)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--dense", action="store_true", help="one inventory row per store/product/day")
    parser.add_argument("--engines", default="duckdb", help="comma-separated: duckdb,spark")
    parser.add_argument("--gzip-level", type=int, default=1)
    parser.add_argument("--stages", default="generate,export,transform", help="which stages to run, in order")
    parser.add_argument("--workdir", type=Path, default=Path("bench-out"))
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    db, lake = str((args.workdir / "source.duckdb").resolve()), str((args.workdir / "lake").resolve())
    start = dt.date(2026, 1, 4)
    end = start + dt.timedelta(days=args.days - 1)
    common = {"db": db, "lake": lake, "start": start.isoformat(), "end": end.isoformat()}
    print(
        f"{args.days} days x {args.stores} stores x {args.products} products, "
        f"{'dense' if args.dense else 'sparse'} inventory, {os.cpu_count()} cores\n"
    )
    stages = args.stages.split(",")
    if "generate" in stages:
        report(
            "generate", stage(stage="generate", stores=args.stores, products=args.products, dense=args.dense, **common)
        )
    if "export" in stages:
        report("export", stage(stage="export", gzip_level=args.gzip_level, **common))
    results = {}
    for engine in args.engines.split(",") if "transform" in stages else []:
        shutil.rmtree(Path(lake) / "curated", ignore_errors=True)
        shutil.rmtree(Path(lake) / "_state", ignore_errors=True)
        results[engine] = stage(stage="run", engine=engine, **common)
        report(f"transform ({engine})", results[engine])
    if "duckdb" in results and "spark" in results:
        d, s = results["duckdb"], results["spark"]
        print(
            f"\nspark / duckdb: {s['seconds'] / d['seconds']:.2f}x the time, {s['peak_mb'] / d['peak_mb']:.2f}x the memory"
        )


if __name__ == "__main__":
    main()
