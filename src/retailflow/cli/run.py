"""``retailflow run``: recompute fiscal weeks from the raw zone and publish them (retailflow.pipeline does
the work; a week that cannot be published is a RunFailed error, exit 1)."""

from __future__ import annotations

import click

from retailflow import console
from retailflow.cli.options import date_option, from_option, lake_option, settings_of, to_option
from retailflow.config import ENGINES, parse_spark_conf


@click.command(name="run")
@lake_option
@date_option
@from_option
@to_option
@click.option("--all", "all_weeks", is_flag=True, help="Recompute every week that has raw data.")
@click.option("--engine", type=click.Choice(ENGINES), help="Transformation engine [default: duckdb].")
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
    from retailflow.lake.storage import open_lake
    from retailflow.pipeline import Selection, run

    settings = settings_of(
        ctx, lake=lake, engine=engine, spark_master=spark_master, quarantine_threshold=quarantine_threshold
    )
    if spark_conf:
        settings = settings.replace(spark_conf={**settings.spark_conf, **parse_spark_conf(spark_conf)})
    selection = Selection.from_flags(date, date_from, date_to, all_weeks)
    lake_obj = open_lake(settings)
    with console.progress(f"Running ({settings.engine})", total=None, unit="passes") as bar:
        report = run(settings, selection, lake=lake_obj, on_progress=bar.update)
    for warning in report.warnings:
        console.warn(warning)
    rows_read = sum(c["read"] for c in report.counts)
    quarantined = sum(c["quarantined"] for c in report.counts)
    weeks = ", ".join(str(w.yr_wk_num) for w in report.weeks)
    console.success(
        f"Published week(s) {weeks}: {rows_read:,} fact rows read, {quarantined:,} quarantined "
        f"(run {report.run_id}, {sum(report.durations_s.values()):.1f}s)."
    )
