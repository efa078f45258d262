"""``retailflow generate``: fill the source database with realistic sales and inventory
(retailflow.source.generate does the work)."""

from __future__ import annotations

import click

from retailflow import console
from retailflow.cli.options import from_option, settings_of, source_option, to_option
from retailflow.dates import resolve_days
from retailflow.errors import RetailflowError


@click.command()
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
    import tempfile
    from pathlib import Path

    from retailflow.redact import redact_url
    from retailflow.source.base import scheme_of
    from retailflow.source.duckdb_source import path_of
    from retailflow.source.generate import GenerateSpec
    from retailflow.source.generate import generate as run_generate
    from retailflow.source.load import load_into

    settings = settings_of(ctx, source=source)
    if not (date_from and date_to):
        raise RetailflowError("generate needs --from and --to.", "Example: --from 2026-01-04 --to 2026-01-31.")
    days = resolve_days(None, date_from, date_to)
    spec = GenerateSpec(days[0], days[-1], stores=stores, products=products, seed=seed, dense=dense)
    if scheme_of(settings.source) == "duckdb":
        db = path_of(settings.source)
        with console.progress("Generating", total=len(days), unit="days") as advance:
            result = run_generate(db, spec, on_progress=advance)
        where = path_of(redact_url(settings.source))
    else:  # generated in DuckDB (the generator's SQL), then bulk-loaded by the backend's own path
        with tempfile.TemporaryDirectory(prefix="retailflow-generate-") as scratch:
            db = Path(scratch) / "generated.duckdb"
            with console.progress("Generating", total=len(days), unit="days") as advance:
                result = run_generate(db, spec, on_progress=advance)
            with console.progress("Loading", total=5, unit="tables") as advance:
                load_into(settings.source, db, on_progress=advance)
        where = redact_url(settings.source)
    console.success(
        f"Generated {result.sales_rows:,} sales and {result.inventory_rows:,} inventory rows "
        f"for {days[0]}..{days[-1]} in {where}."
    )
