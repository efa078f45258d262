"""The ``retailflow`` command. Each subcommand resolves settings, then hands off to one pipeline stage.

Errors are one plain line saying what is wrong and what to do (exit 1, or the scan's own codes);
``--debug`` (or RETAILFLOW_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
from pathlib import Path

import click

from retailflow import __version__, console
from retailflow.config import FIELD_NAMES, Settings, load_settings
from retailflow.dates import parse_date, resolve_days
from retailflow.errors import ExitCode, RetailflowError


class _Group(click.Group):
    """Turns our errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RetailflowError as exc:
            if _debug(ctx):
                traceback.print_exc()
            console.err.print(f"[red]Error:[/red] {exc.message}" + (f"\n  {exc.hint}" if exc.hint else ""))
            ctx.exit(int(exc.exit_code))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            console.err.print("Interrupted. Nothing half-written was published; run the command again to finish.")
            ctx.exit(130)
        except Exception as exc:  # a bug, or an environment problem we did not foresee
            if _debug(ctx):
                traceback.print_exc()
            else:
                console.err.print(
                    f"[red]Unexpected error:[/red] {type(exc).__name__}: {exc}\n"
                    "  Run again with --debug for the traceback, and report it if it looks like a bug."
                )
            ctx.exit(int(ExitCode.UNEXPECTED))


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.params or {}).get("debug")) or os.environ.get("RETAILFLOW_DEBUG", "") not in ("", "0")


def settings_of(ctx: click.Context, **flags) -> Settings:
    """The settings of this invocation: config file and environment from the group, plus these flags."""
    base: Settings = ctx.find_object(dict)["settings"]
    return base.replace(**{k: v for k, v in flags.items() if k in FIELD_NAMES})


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Settings file (default: ./retailflow.toml if present).",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(__version__, prog_name="retailflow")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, debug: bool) -> None:
    """retailflow: a retailer's nightly database export -> weekly store x product sales and inventory metrics.

    \b
    The flow, one command per stage:
      generate  fill a source database with realistic sales and inventory
      export    dump each day of the source to the lake's raw zone (the nightly job)
      scan      check whether a day's raw files are complete; trigger its run once
      run       recompute fiscal weeks' metrics from the raw zone and publish them
      catalog   rebuild the SQL catalog over the published tables
      query     SQL or a named business question against the catalog
      status    latest runs; which days are exported, triggered, published
      dashboard a self-contained HTML dashboard of the published weeks
      demo      all of the above on embedded defaults, in a fresh folder

    Settings come from defaults < retailflow.toml < RETAILFLOW_* environment variables < flags.
    Every command that touches the lake takes --lake (a folder, or s3://bucket/prefix).
    """
    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings(config_file=config_file)


lake_option = click.option("--lake", help="Lake root: a folder or s3://bucket/prefix [env RETAILFLOW_LAKE].")
source_option = click.option(
    "--source", help="Source database URL, e.g. duckdb:///source.duckdb [env RETAILFLOW_SOURCE]."
)
date_option = click.option("--date", "date", help="One day, YYYY-MM-DD.")
from_option = click.option("--from", "date_from", help="First day of a range, YYYY-MM-DD.")
to_option = click.option("--to", "date_to", help="Last day of a range, YYYY-MM-DD.")


@cli.command()
@source_option
@from_option
@to_option
@click.option("--stores", type=int, default=151, show_default=True, help="How many of the 151 real stores.")
@click.option("--products", type=int, default=300, show_default=True, help="How many of the 1,212 real products.")
@click.option("--seed", type=int, default=42, show_default=True, help="Same arguments + same seed = same data.")
@click.option("--dense", is_flag=True, help="One inventory row per store/product/day instead of one per week.")
@click.pass_context
def generate(ctx, source, date_from, date_to, stores, products, seed, dense):
    """Fill the source database with realistic sales and inventory for a date range.

    The store, product and fiscal calendar tables are (re)loaded from the real data shipped with
    retailflow; sales and inventory of the range are replaced. Example:

        retailflow generate --from 2026-01-04 --to 2026-01-31 --products 200
    """
    from retailflow.source.duckdb_source import path_of
    from retailflow.source.generate import GenerateSpec
    from retailflow.source.generate import generate as run_generate

    settings = settings_of(ctx, source=source)
    if not (date_from and date_to):
        raise RetailflowError("generate needs --from and --to.", "Example: --from 2026-01-04 --to 2026-01-31.")
    days = resolve_days(None, date_from, date_to)
    spec = GenerateSpec(days[0], days[-1], stores=stores, products=products, seed=seed, dense=dense)
    db = path_of(settings.source)
    with console.progress("Generating", total=len(days), unit="days") as advance:
        result = run_generate(db, spec, on_progress=advance)
    console.success(
        f"Generated {result.sales_rows:,} sales and {result.inventory_rows:,} inventory rows "
        f"for {days[0]}..{days[-1]} in {db}."
    )


@cli.command()
@lake_option
@source_option
@date_option
@from_option
@to_option
@click.pass_context
def export(ctx, lake, source, date, date_from, date_to):
    """Export days of the source database to the lake's raw zone (the nightly dump).

    Writes raw/dt=YYYY-MM-DD/{sales,inventory,store,product,calendar}.csv.gz and, last, _manifest.json.
    Re-exporting a day replaces its partition; readers never see it half-written.
    """
    from retailflow.export import export_days
    from retailflow.lake import Lake
    from retailflow.source import open_source

    settings = settings_of(ctx, lake=lake, source=source)
    days = resolve_days(date, date_from, date_to)
    src = open_source(settings.source)
    try:
        with console.progress("Exporting", total=len(days), unit="days") as advance:
            results = export_days(
                src,
                Lake(settings.lake),
                days,
                gzip_level=settings.gzip_level,
                on_day_done=lambda _r: advance(),
                threads=settings.export_threads,
            )
    finally:
        src.close()
    rows = sum(r.fact_rows for r in results)
    console.success(f"Exported {len(results)} day(s), {rows:,} fact rows, to {Lake(settings.lake).uri('raw')}.")


@cli.command()
@lake_option
@date_option
@from_option
@to_option
@click.option("--deadline", help="HH:MM in the business time zone; not ready after it is an alert (exit 4).")
@click.option("--trigger", type=click.Choice(["local", "none"]), help="What a ready day triggers [default: local].")
@click.option("--now", "now_text", hidden=True, help="Pretend the local time is this ISO datetime (tests, drills).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (what the Lambda returns).")
@click.pass_context
def scan(ctx, lake, date, date_from, date_to, deadline, trigger, now_text, as_json):
    """Check whether a day's raw partition is complete, and trigger its run once.

    \b
    Without --date it checks the business day that just ended (see scan_days_back).
    Exit codes: 0 triggered or nothing to do, 3 not ready yet, 4 not ready after --deadline (alert).
    A partition is triggered once per manifest: scanning it again does nothing until it is re-exported.
    """
    from zoneinfo import ZoneInfo

    from retailflow.readiness.handler import run_scan

    settings = settings_of(ctx, lake=lake, deadline=deadline, trigger=trigger)
    now = None
    if now_text:
        try:
            now = dt.datetime.fromisoformat(now_text)
        except ValueError:
            raise RetailflowError(f"--now {now_text!r} is not an ISO datetime.") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=ZoneInfo(settings.timezone))
    days = resolve_days(date, date_from, date_to, allow_none=True) or [None]
    worst = ExitCode.OK
    for day in days:
        outcome = run_scan(settings, day=day, now=now)
        if as_json:
            console.out.print_json(json.dumps(outcome.as_dict()))
        elif outcome.exit_code == ExitCode.OK:
            console.success(outcome.message)
        else:
            console.err.print(
                f"[red]{outcome.message}[/red]" if outcome.exit_code == ExitCode.DEADLINE_MISSED else outcome.message
            )
        worst = max(worst, outcome.exit_code)
    ctx.exit(int(worst))


@cli.command(name="run")
@lake_option
@date_option
@from_option
@to_option
@click.option("--all", "all_weeks", is_flag=True, help="Recompute every week that has raw data.")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), help="Transformation engine [default: duckdb].")
@click.option("--spark-master", help="Spark master URL for --engine spark [default: local[*]].")
@click.option(
    "--spark-conf",
    "spark_conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Spark setting for --engine spark (repeatable), e.g. spark.executor.memory=4g.",
)
@click.option(
    "--quarantine-threshold", type=float, help="Largest share of a day's rows that may be quarantined [0.01]."
)
@click.pass_context
def run_command(ctx, lake, date, date_from, date_to, all_weeks, engine, spark_master, spark_conf, quarantine_threshold):
    """Recompute fiscal weeks from the raw zone and publish them.

    \b
    --date D          the fiscal week containing D
    --from D1 --to D2 every week touching the range
    --all             every week in the raw zone
    Writes curated/weekly_sales_inventory/yr_wk_num=YYYYWW/part-0.parquet (each week replaced
    atomically), the dimension tables, quarantine/dt=D/<table>.parquet for rows that fail validation,
    a report in _state/runs/, and rebuilds the catalog.
    """
    from retailflow.transform.runner import run

    settings = settings_of(
        ctx, lake=lake, engine=engine, spark_master=spark_master, quarantine_threshold=quarantine_threshold
    )
    if spark_conf:
        settings = settings.replace(spark_conf=",".join(filter(None, [settings.spark_conf, *spark_conf])))
    days = resolve_days(date, date_from, date_to, allow_none=True)
    if all_weeks and days is not None:
        raise RetailflowError("Give --all or a date selection, not both.")
    if days is None and not all_weeks:
        raise RetailflowError("No weeks chosen.", "Use --date D, --from D1 --to D2, or --all.")
    with console.progress(f"Running ({settings.engine})", total=None, unit="passes") as bar:
        report = run(settings, days=days, on_progress=bar.update)
    for warning in report.warnings:
        console.warn(warning)
    rows_read = sum(c["read"] for c in report.counts)
    quarantined = sum(c["quarantined"] for c in report.counts)
    weeks = ", ".join(str(w.yr_wk_num) for w in report.weeks)
    console.success(
        f"Published week(s) {weeks}: {rows_read:,} fact rows read, {quarantined:,} quarantined "
        f"(run {report.run_id}, {sum(report.durations_s.values()):.1f}s)."
    )


@cli.command()
@lake_option
@click.pass_context
def catalog(ctx, lake):
    """Rebuild the catalog: a DuckDB file of SQL views over the curated tables (lake/catalog/).

    Runs after every publish; rebuilt atomically, so BI tools holding it open read-only keep working.
    """
    from retailflow.catalog import build_catalog
    from retailflow.lake import Lake

    lake_obj = Lake(settings_of(ctx, lake=lake).lake)
    path = build_catalog(lake_obj)
    console.success(f"Catalog rebuilt: {lake_obj.uri(path)}")


@cli.command()
@lake_option
@click.argument("sql", required=False)
@click.option("--named", "named", help="Run a named business query (see --list).")
@click.option("--list", "list_named", is_flag=True, help="List the named queries.")
@click.option("--tables", "list_tables", is_flag=True, help="List the catalog's tables and their columns.")
@click.option("--week", type=int, help="yr_wk_num for named queries [default: the latest published week].")
@click.option("--limit", type=int, default=10, show_default=True, help="Rows for named queries.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_context
def query(ctx, lake, sql, named, list_named, list_tables, week, limit, fmt):
    """Run SQL against the catalog and print the result.

    \b
    Examples:
      retailflow query "SELECT yr_wk_num, SUM(total_sales_amt) FROM weekly_sales_inventory GROUP BY 1"
      retailflow query --named stores_no_stock_impact --week 202602 --format csv
    """
    from retailflow.catalog.named import NAMED_QUERIES, parameters_for
    from retailflow.catalog.query import latest_week, run_query
    from retailflow.lake import Lake
    from retailflow.output import print_rows

    if list_named:
        for q in NAMED_QUERIES.values():
            console.out.print(f"[bold]{q.name}[/bold]  {q.description}")
        return
    lake_obj = Lake(settings_of(ctx, lake=lake).lake)
    params = None
    if list_tables:
        sql = (
            "SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
            "AS columns FROM information_schema.columns GROUP BY table_name ORDER BY table_name"
        )
    elif named:
        if named not in NAMED_QUERIES:
            raise RetailflowError(f"No named query {named!r}.", f"Choose one of: {', '.join(NAMED_QUERIES)}.")
        q = NAMED_QUERIES[named]
        params = parameters_for(q, week if week is not None else latest_week(lake_obj), limit)
        sql = q.sql
    elif not sql:
        raise RetailflowError("No query given.", "Pass SQL, --named NAME (see --list) or --tables.")
    columns, rows = run_query(lake_obj, sql, params)
    print_rows(columns, rows, fmt)


@cli.command()
@lake_option
@click.option("--days", type=int, default=14, show_default=True, help="How many recent days to show.")
@click.option("--runs", "n_runs", type=int, default=5, show_default=True, help="How many recent runs to show.")
@click.pass_context
def status(ctx, lake, days, n_runs):
    """Show the latest runs, and which days are exported, triggered and published."""
    from retailflow.lake import Lake
    from retailflow.status import show_status

    show_status(Lake(settings_of(ctx, lake=lake).lake), days=days, runs=n_runs)


@cli.command()
@lake_option
@click.option("--weeks", type=int, default=13, show_default=True, help="How many recent weeks the page covers.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.pass_context
def dashboard(ctx, lake, weeks, open_browser):
    """Write the dashboard: one self-contained HTML file, <lake>/dashboard/index.html.

    Headline figures with the change against the week before, weekly trends, the stores and products
    with the largest stock-out and low-stock impact, a map of the stores by in-stock %, the products
    most at risk and sales by category; filters for week, market, state, store and category. It opens
    offline, from a file or an email attachment.
    """
    import webbrowser

    from retailflow.dashboard.html import write_dashboard
    from retailflow.lake import Lake

    if weeks < 1:
        raise RetailflowError("--weeks must be 1 or more.")
    lake_obj = Lake(settings_of(ctx, lake=lake).lake)
    path = write_dashboard(lake_obj, weeks=weeks)
    size = lake_obj.fs.size(lake_obj.path(path))
    console.success(f"Dashboard written: {lake_obj.uri(path)} ({size / 1e6:.1f} MB)")
    if open_browser:
        if not (lake_obj.is_local and webbrowser.open(f"file://{lake_obj.path(path)}")):
            console.warn("Could not open a browser here; open the file above in one.")


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Folder for the demo's source database and lake (recreated on every run).",
)
@click.option("--weeks", type=int, default=3, show_default=True, help="Fiscal weeks of data.")
@click.option("--stores", type=int, default=151, show_default=True, help="How many of the 151 real stores.")
@click.option("--products", type=int, default=200, show_default=True, help="How many of the 1,212 real products.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--end", "end_text", help="Last day of the data, YYYY-MM-DD [default: the latest Saturday].")
@click.pass_context
def demo(ctx, workdir, weeks, stores, products, seed, end_text):
    """Run the whole flow on embedded defaults in a fresh folder (what `make demo` runs).

    Generates a source database, exports every day to a local lake, scans each day (which triggers the
    weekly run) and prints where everything is.
    """
    from retailflow.demo import DemoPlan, run_demo

    if weeks < 1:
        raise RetailflowError("--weeks must be 1 or more.")
    plan = DemoPlan(
        workdir=workdir,
        weeks=weeks,
        stores=stores,
        products=products,
        seed=seed,
        end=parse_date(end_text, "--end") if end_text else None,
    )
    run_demo(plan, settings_of(ctx))


def main() -> None:
    cli(prog_name="retailflow")


if __name__ == "__main__":
    sys.exit(main())
from retailflow.dashboard.superset.cli import superset as _superset  # noqa: E402

cli.add_command(_superset)
