"""The backfill against the engine underneath it (issue #13): `retailflow run --all` / the bare-engine floor.

    .venv/bin/python benchmarks/bench_backfill.py --spark     # issue #13's size: 14 dense days x 151 x 1,212, 2GB
    .venv/bin/python benchmarks/bench_backfill.py --weeks 13 --memory-limit 1GB
    .venv/bin/python benchmarks/bench_backfill.py --products 60 --days 7 --workdir /tmp/bb-small --spark  # quick

Builds a dense lake (retailflow.source.generate, then retailflow.export.export_days), then times, each in a fresh
process:

- the floor: bare DuckDB reading raw/*/sales.csv.gz and raw/*/inventory.csv.gz with auto-detected types, sales
  summed per day/store/product, a full outer join with inventory on day/store/product, grouped by fiscal week
  (the calendar of the newest partition)/store/product: sums, max on-hand, out-of-stock and low-stock counts,
  written to parquet;
- for the record, not as a target: the same reader reading every column of both fact tables and doing nothing
  else. The floor's reader parses only the columns its query uses; the run checks them all;
- `retailflow run --all` (the CLI, DuckDB engine, RETAILFLOW_DUCKDB_MEMORY_LIMIT=--memory-limit) on a lake with no
  outputs and no typed zone, so every day is parsed from raw: the headline run / floor figure;
- the same run as a chain of one process per stage (`python -m retailflow.pipeline plan --all | compute | check |
  publish`, then `catalog` and `report`), for the peak memory of each stage;
- the nightly figure: days 1-6 of a week already run (their typed zone written), the 7th arrives: `run --date
  <7th day>`, against the same run with no typed zone (all seven days parsed from raw); and the same nightly
  run for the lake's last week, with all the weeks before it published (it should cost the same: O(week));
- with --spark, the same floor as a minimal PySpark job on local[2], and `run --all --engine spark`.

Peak memory is the largest summed resident set of the process and all its descendants (Spark's JVM included),
sampled every 50 ms from /proc. Figures are printed, not asserted; the last block is a summary for a README table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from retailflow.errors import ConfigError
from retailflow.sql import memory_bytes

START = dt.date(2026, 1, 4)  # a Sunday: the first day of fiscal week 202602 (the generated calendar)

BUILD = textwrap.dedent(
    """
    import datetime as dt, json, sys
    from pathlib import Path
    from retailflow.dates import date_range
    from retailflow.export import export_days
    from retailflow.lake import Lake
    from retailflow.source import open_source
    from retailflow.source.generate import GenerateSpec, generate

    a = json.loads(sys.argv[1])
    start, end = dt.date.fromisoformat(a["start"]), dt.date.fromisoformat(a["end"])
    generate(Path(a["db"]), GenerateSpec(start, end, stores=a["stores"], products=a["products"], dense=True))
    results = export_days(open_source("duckdb:///" + a["db"]), Lake(a["lake"]), date_range(start, end), threads=2)
    print(json.dumps({"fact_rows": sum(r.fact_rows for r in results)}))
    """
)

DUCKDB_FLOOR = textwrap.dedent(
    """
    import json, sys, duckdb
    a = json.loads(sys.argv[1])
    raw, out = a["lake"] + "/raw", a["out"]
    con = duckdb.connect(config={"memory_limit": a["memory_limit"]} if a["memory_limit"] else {})
    if a["profile"]:
        con.execute("PRAGMA enable_profiling='json'")
        con.execute(f"PRAGMA profiling_output='{out}.profile.json'")
    newest = sorted(__import__("glob").glob(raw + "/dt=*/calendar.csv*"))[-1]
    con.execute(f'''
    COPY (
      WITH sales AS (
        SELECT dt, store_key, prod_key, SUM(sales_qty) AS qty, SUM(sales_amt) AS amt, SUM(sales_cost) AS cost
        FROM read_csv('{raw}/*/sales.csv.gz', hive_partitioning = true, nullstr = '\\\\N')
        GROUP BY dt, store_key, prod_key
      ),
      inv AS (
        SELECT dt, store_key, prod_key, inventory_on_hand_qty AS on_hand, out_of_stock_flg AS oos
        FROM read_csv('{raw}/*/inventory.csv.gz', hive_partitioning = true, nullstr = '\\\\N')
      ),
      daily AS (
        SELECT COALESCE(s.dt, i.dt) AS dt, COALESCE(s.store_key, i.store_key) AS store_key,
               COALESCE(s.prod_key, i.prod_key) AS prod_key,
               COALESCE(s.qty, 0) AS qty, COALESCE(s.amt, 0) AS amt, COALESCE(s.cost, 0) AS cost,
               i.on_hand, COALESCE(i.oos, 0) AS oos,
               CASE WHEN i.dt IS NOT NULL AND i.on_hand < COALESCE(s.qty, 0) THEN 1 ELSE 0 END AS low
        FROM sales s FULL OUTER JOIN inv i
          ON s.dt = i.dt AND s.store_key = i.store_key AND s.prod_key = i.prod_key
      )
      SELECT c.yr_wk_num, d.store_key, d.prod_key, SUM(qty) AS total_sales_qty, SUM(amt) AS total_sales_amt,
             SUM(cost) AS total_cost, MAX(on_hand) AS max_on_hand, SUM(oos) AS no_stock_instances,
             SUM(low) AS low_stock_instances
      FROM daily d JOIN read_csv('{newest}', nullstr = '\\\\N') c ON c.cal_dt = d.dt
      GROUP BY c.yr_wk_num, d.store_key, d.prod_key
    ) TO '{out}' (FORMAT parquet)
    ''')
    print(json.dumps({"rows": con.execute(f"SELECT COUNT(*) FROM '{out}'").fetchone()[0]}))
    """
)

# Not a target, an explanation: the floor's reader parses only the columns its query uses (DuckDB pushes the
# projection into the CSV reader), while the run checks every column of both tables. This reads them all,
# with the floor's auto-detected types, and does nothing else.
DUCKDB_READ_ALL = textwrap.dedent(
    """
    import json, sys, duckdb
    a = json.loads(sys.argv[1])
    con = duckdb.connect(config={"memory_limit": a["memory_limit"]} if a["memory_limit"] else {})
    for table in ("sales", "inventory"):
        con.execute(f"SELECT max(COLUMNS(*)) FROM read_csv('{a['lake']}/raw/*/{table}.csv.gz', nullstr = '\\\\N')")
    """
)

SPARK_FLOOR = textwrap.dedent(
    """
    import glob, json, sys
    from pyspark.sql import SparkSession, functions as F
    a = json.loads(sys.argv[1])
    raw = a["lake"] + "/raw"
    spark = (SparkSession.builder.master("local[2]").appName("floor")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    read = lambda path: spark.read.csv(path, header=True, inferSchema=True, nullValue="\\\\N")
    sales = (read(raw + "/*/sales.csv.gz").groupBy(F.col("trans_dt").alias("dt"), "store_key", "prod_key")
             .agg(F.sum("sales_qty").alias("qty"), F.sum("sales_amt").alias("amt"), F.sum("sales_cost").alias("cost")))
    inv = read(raw + "/*/inventory.csv.gz").select(
        F.col("cal_dt").alias("i_dt"), F.col("store_key").alias("i_store"), F.col("prod_key").alias("i_prod"),
        F.col("inventory_on_hand_qty").alias("on_hand"), F.col("out_of_stock_flg").alias("oos"))
    on = (sales.dt == inv.i_dt) & (sales.store_key == inv.i_store) & (sales.prod_key == inv.i_prod)
    qty = F.coalesce(F.col("qty"), F.lit(0))
    daily = sales.join(inv, on, "full_outer").select(
        F.coalesce("dt", "i_dt").alias("dt"), F.coalesce("store_key", "i_store").alias("store_key"),
        F.coalesce("prod_key", "i_prod").alias("prod_key"), qty.alias("qty"),
        F.coalesce("amt", F.lit(0)).alias("amt"), F.coalesce("cost", F.lit(0)).alias("cost"), "on_hand",
        F.coalesce("oos", F.lit(0)).alias("oos"),
        F.when(F.col("i_dt").isNotNull() & (F.col("on_hand") < qty), 1).otherwise(0).alias("low"))
    cal = read(sorted(glob.glob(raw + "/dt=*/calendar.csv*"))[-1]).select("cal_dt", "yr_wk_num")
    weekly = (daily.join(cal, daily.dt == cal.cal_dt).groupBy("yr_wk_num", "store_key", "prod_key")
              .agg(F.sum("qty").alias("total_sales_qty"), F.sum("amt").alias("total_sales_amt"),
                   F.sum("cost").alias("total_cost"), F.max("on_hand").alias("max_on_hand"),
                   F.sum("oos").alias("no_stock_instances"), F.sum("low").alias("low_stock_instances")))
    weekly.write.mode("overwrite").parquet(a["out"])
    print(json.dumps({"rows": spark.read.parquet(a["out"]).count()}))
    spark.stop()
    """
)


def tree_rss(pid: int) -> int:
    """Resident bytes of pid and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            pass
    return total


def measure(
    name: str, argv: list[str], env: dict[str, str] | None = None, fatal: bool = True, stdin: str | None = None
) -> dict:
    """Run argv in a subprocess (``stdin`` on its standard input); its wall time, its process tree's peak RSS,
    and its stdout.

    A failing run of retailflow (``fatal=False``) is a figure too: its error is returned, not raised."""
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", **(env or {}))
    peak, stop = [0], threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(stdin)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    error = None
    if proc.returncode != 0:
        if fatal:
            sys.exit(f"{name} failed ({proc.returncode}):\n{err[-3000:]}\n{out[-2000:]}")
        error = next((x.strip() for x in (err + out).splitlines() if "Error" in x), (err or out).strip()[:300])
    return {"seconds": seconds, "peak": peak[0], "out": out, "error": error}


def python(script: str, **args) -> list[str]:
    return [sys.executable, "-c", script, json.dumps(args)]


def retailflow(lake: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "retailflow", "run", "--lake", lake, *args]


def stage(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "retailflow.pipeline", name, *args]


def chain(lake: Path, records: Path, env: dict[str, str]) -> list[tuple[str, dict]]:
    """`run --all` as an orchestrator runs it: one process per stage, each reading the previous stage's record
    on stdin (kept in ``records``/<stage>.json). Stops at the first failing stage (its figure is returned)."""
    env = dict(env, RETAILFLOW_LAKE=str(lake))
    records.mkdir(parents=True, exist_ok=True)
    steps = [
        ("plan", ["--all"], None),
        ("compute", [], "plan"),
        ("check", [], "compute"),
        ("publish", [], "check"),
        ("catalog", [], None),
        ("report", [str(records / "publish.json")], "plan"),
    ]
    results = []
    for name, args, previous in steps:
        stdin = (records / f"{previous}.json").read_text() if previous else None
        r = measure(name, stage(name, *args), env, fatal=False, stdin=stdin)
        results.append((name, r))
        if r["error"]:
            break
        (records / f"{name}.json").write_text(r["out"])
    return results


def clean_outputs(lake: Path) -> None:
    for sub in ("curated", "quarantine", "typed", "_state", "_staging"):  # typed: each run starts from raw
        shutil.rmtree(lake / sub, ignore_errors=True)


def last_durations(lake: Path) -> dict[str, float]:
    reports = sorted(glob.glob(str(lake / "_state" / "runs" / "*.json")), key=os.path.getmtime)
    if not reports:
        return {}
    return json.loads(Path(reports[-1]).read_text()).get("durations_s", {})


def size_bytes(text: str) -> int:
    """--memory-limit in bytes, read as the run reads it (KB = 1000 bytes, KiB = 1024)."""
    try:
        return memory_bytes(text, "--memory-limit")
    except ConfigError as exc:
        sys.exit(str(exc))


def gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def line(name: str, r: dict, extra: str = "") -> None:
    if r.get("error"):
        extra = f"FAILED after {r['seconds']:.1f} s: {r['error']}"
    print(f"{name:<44} {r['seconds']:>8.1f} s {r['peak'] / 2**20:>9,.0f} MiB peak  {extra}".rstrip())


def ratio(a: dict, b: dict) -> str:
    return "n/a (a run failed)" if a.get("error") or b.get("error") else f"{a['seconds'] / b['seconds']:.2f}x"


def seconds(r: dict | None) -> str:
    return "n/a" if not r or r.get("error") else f"{r['seconds']:.1f}"


ORDER = ("plan", "load", "compute", "write", "check", "publish", "catalog")  # the stages' order, for split()


def split(durations: dict[str, float]) -> str:
    total = sum(durations.values()) or 1.0
    keys = sorted(durations, key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER))
    return ", ".join(f"{k} {durations[k]:.1f} s ({durations[k] / total:.0%})" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=14, help="dense days of data from 2026-01-04 (>= 7) [14]")
    parser.add_argument("--weeks", type=int, help="fiscal weeks of data: --days 7*N, overriding --days (13: a quarter)")
    parser.add_argument("--stores", type=int, default=151, help="[151]")
    parser.add_argument("--products", type=int, default=1212, help="[1212]")
    parser.add_argument(
        "--memory-limit", default="2GB", help="RETAILFLOW_DUCKDB_MEMORY_LIMIT of the run (and floor) [2GB]"
    )
    parser.add_argument("--spark", action="store_true", help="also the PySpark floor on local[2] and --engine spark")
    parser.add_argument("--profile", action="store_true", help="write DuckDB's JSON profile of the floor query")
    parser.add_argument("--workdir", type=Path, default=Path("bench-out/backfill"))
    parser.add_argument("--reuse", action="store_true", help="reuse the lake already in --workdir")
    args = parser.parse_args()
    if args.weeks is not None:
        args.days = 7 * args.weeks
    if args.days < 7:
        parser.error("--days must be at least 7 (the nightly figure needs a full week)")

    work = args.workdir.resolve()
    lake, week_lake = work / "lake", work / "week-lake"
    end = START + dt.timedelta(days=args.days - 1)
    size_text = f"{args.days} dense days x {args.stores} stores x {args.products:,} products"
    print(f"{size_text}, duckdb_memory_limit={args.memory_limit}, {os.cpu_count()} cores\n")
    built = work / "build.json"  # the build's figures, for --reuse
    if not (args.reuse and (lake / "raw").is_dir()):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        r = measure(
            "build",
            python(
                BUILD,
                db=str(work / "source.duckdb"),
                lake=str(lake),
                start=START.isoformat(),
                end=end.isoformat(),
                stores=args.stores,
                products=args.products,
            ),
        )
        built.write_text(r["out"].strip().splitlines()[-1])
        line("build lake (generate + export)", r, f"{json.loads(built.read_text())['fact_rows']:,} fact rows")
    fact_rows = json.loads(built.read_text())["fact_rows"] if built.is_file() else None
    raw_mb = sum(f.stat().st_size for f in (lake / "raw").rglob("*.csv.gz")) / 2**20
    print(f"raw zone: {raw_mb:,.1f} MiB of csv.gz\n")

    env = {"RETAILFLOW_DUCKDB_MEMORY_LIMIT": args.memory_limit}
    floor = measure(
        "duckdb floor",
        python(
            DUCKDB_FLOOR,
            lake=str(lake),
            out=str(work / "floor.parquet"),
            memory_limit=args.memory_limit,
            profile=args.profile,
        ),
    )
    weeks_rows = json.loads(floor["out"].strip().splitlines()[-1])["rows"]
    line("floor: bare DuckDB, csv.gz -> parquet", floor, f"{weeks_rows:,} week rows")
    read_all = measure("read every column", python(DUCKDB_READ_ALL, lake=str(lake), memory_limit=args.memory_limit))
    line(
        "reading every fact column, nothing else", read_all, f"{read_all['seconds'] / floor['seconds']:.2f}x the floor"
    )
    clean_outputs(lake)
    run = measure("run --all", retailflow(str(lake), "--all"), env, fatal=False)
    line("retailflow run --all (duckdb)", run)
    durations = last_durations(lake)
    limit = size_bytes(args.memory_limit)
    print(f"\nrun / floor:                         {ratio(run, floor)}   (target <= 1.5x)")
    print(
        f"peak RSS / duckdb_memory_limit:      {run['peak'] / limit:.2f}x   "
        f"({gib(run['peak'])} GiB / {args.memory_limit}; target <= 1.25x)"
    )
    if durations:
        print(f"run's stages (durations_s):          {split(durations)}")
    if args.profile:
        print(f"floor profile:                       {work / 'floor.parquet.profile.json'}")

    # The same run, one process per stage: where the peak memory is.
    clean_outputs(lake)
    print("\nrun --all as one process per stage (python -m retailflow.pipeline STAGE):")
    stages = chain(lake, work / "records", env)
    for name, r in stages:
        extra = ""
        if name == "compute" and not r["error"]:
            inner = json.loads(r["out"]).get("durations_s") or {}
            extra = f"{r['peak'] / limit:.2f}x limit" + (f"; {split(inner)}" if inner else "")
        line(f"  {name}", r, extra)
    chained = sum(r["seconds"] for _, r in stages)
    failed = any(r["error"] for _, r in stages)
    compute = dict(stages).get("compute")
    print(f"  {'chain total':<42} {chained:>8.1f} s{'  (a stage failed)' if failed else ''}")

    # The nightly figure: a lake holding the first week's six days, already run (so the typed zone holds
    # them, as the six nights before left it); then the 7th day arrives and `run --date D7` recomputes the
    # week. Against it: the same run with no typed zone, parsing all seven days from raw.
    shutil.rmtree(week_lake, ignore_errors=True)
    days = [START + dt.timedelta(days=n) for n in range(7)]
    for day in days[:6]:
        shutil.copytree(lake / "raw" / f"dt={day}", week_lake / "raw" / f"dt={day}")
    measure("run of days 1-6", retailflow(str(week_lake), "--all"), env, fatal=False)
    shutil.copytree(lake / "raw" / f"dt={days[6]}", week_lake / "raw" / f"dt={days[6]}")
    d7 = days[6].isoformat()
    nightly = measure("run --date D7", retailflow(str(week_lake), "--date", d7), env, fatal=False)
    nightly_split = last_durations(week_lake)
    clean_outputs(week_lake)
    full_week = measure("run --date D7 from raw", retailflow(str(week_lake), "--date", d7), env, fatal=False)
    full_split = last_durations(week_lake)
    print()
    line(f"nightly: run --date {d7} (7th day)", nightly)
    line("full recompute of that week from raw", full_week)
    print(f"nightly / full recompute of the week:  {ratio(nightly, full_week)}   (target <= 0.35x)")
    if nightly_split:
        print(f"nightly run's stages (durations_s):    {split(nightly_split)}")
    if full_split:
        print(f"full recompute's stages:               {split(full_split)}")

    # O(week): the same nightly run on the last week of the whole lake, behind all its history (the chain
    # above left its outputs, and the typed zone of its last week, whose last day is made new again).
    history_weeks = (end - START).days // 7
    history = f"{history_weeks} week{'s' if history_weeks != 1 else ''}"
    shutil.rmtree(lake / "typed" / f"dt={end}", ignore_errors=True)
    late = measure("run --date END", retailflow(str(lake), "--date", end.isoformat()), env, fatal=False)
    line(f"nightly: run --date {end}, {history} behind it", late)
    print(f"nightly with {history} of history / with none: {ratio(late, nightly)}   (target <= 1.1x)")

    spark_floor = spark_run = None
    if args.spark:
        spark_floor = measure("spark floor", python(SPARK_FLOOR, lake=str(lake), out=str(work / "spark-floor.parquet")))
        clean_outputs(lake)
        spark_run = measure(
            "run --all --engine spark",
            retailflow(str(lake), "--all", "--engine", "spark", "--spark-master", "local[2]"),
            fatal=False,
        )
        print()
        line("floor: minimal PySpark job, local[2]", spark_floor)
        line("retailflow run --all --engine spark", spark_run)
        print(f"spark run / spark floor:             {ratio(spark_run, spark_floor)}   (aim <= 2x)")
        spark_durations = last_durations(lake)
        if spark_durations:
            print(f"spark run's stages (durations_s):    {split(spark_durations)}")

    # For a README table: one figure a line.
    compute_peak = (
        f"; compute stage alone {gib(compute['peak'])} GiB = {compute['peak'] / limit:.2f}x"
        if compute and not compute["error"]
        else ""
    )
    summary = [
        ("size", size_text),
        ("fact rows", f"{fact_rows:,}" if fact_rows is not None else "n/a (--reuse of a lake built before)"),
        ("duckdb_memory_limit", args.memory_limit),
        ("floor (bare DuckDB)", f"{floor['seconds']:.1f} s"),
        ("run --all (duckdb)", f"{seconds(run)} s"),
        ("run / floor", ratio(run, floor)),
        ("reading every column", f"{read_all['seconds']:.1f} s = {ratio(read_all, floor)} the floor"),
        ("peak RSS, run --all", f"{gib(run['peak'])} GiB = {run['peak'] / limit:.2f}x limit{compute_peak}"),
        ("nightly / full week", ratio(nightly, full_week)),
        (f"nightly, {history} of history", f"{ratio(late, nightly)} the first week's"),
    ]
    if spark_floor and spark_run:
        summary += [
            ("spark floor (local[2])", f"{spark_floor['seconds']:.1f} s"),
            ("run --all --engine spark", f"{seconds(spark_run)} s"),
            ("spark / spark-floor", ratio(spark_run, spark_floor)),
        ]
    print("\nsummary")
    for key, value in summary:
        print(f"  {key + ':':<26} {value}")


if __name__ == "__main__":
    main()
