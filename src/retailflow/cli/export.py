"""``retailflow export``: dump days of the source database to the lake's raw zone
(retailflow.export does the work)."""

from __future__ import annotations

import click

from retailflow import console
from retailflow.cli.options import date_option, from_option, lake_option, settings_of, source_option, to_option
from retailflow.dates import resolve_days


@click.command()
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
    from retailflow.lake.storage import open_lake
    from retailflow.source import open_source

    settings = settings_of(ctx, lake=lake, source=source)
    days = resolve_days(date, date_from, date_to)
    lake_obj = open_lake(settings)
    src = open_source(settings.source)
    try:
        with console.progress("Exporting", total=len(days), unit="days") as advance:
            results = export_days(
                src,
                lake_obj,
                days,
                gzip_level=settings.gzip_level,
                on_day_done=lambda _r: advance(),
                threads=settings.export_threads,
            )
    finally:
        src.close()
    rows = sum(r.fact_rows for r in results)
    console.success(f"Exported {len(results)} day(s), {rows:,} fact rows, to {lake_obj.uri('raw')}.")
