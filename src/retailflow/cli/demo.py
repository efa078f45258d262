"""``retailflow demo``: the whole flow on embedded defaults in a fresh folder (retailflow.demo runs it)."""

from __future__ import annotations

from pathlib import Path

import click

from retailflow.cli.options import settings_of
from retailflow.dates import parse_date
from retailflow.errors import RetailflowError


@click.command()
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
@click.option(
    "--orchestrator",
    type=click.Choice(["local", "airflow"]),
    default="local",
    show_default=True,
    help="What the scans trigger: the run in this process, or the nightly DAG on a local Airflow "
    "(started in <workdir>/airflow and left running; needs the airflow extra).",
)
@click.pass_context
def demo(ctx, workdir, weeks, stores, products, seed, end_text, orchestrator):
    """Run the whole flow on embedded defaults in a fresh folder (what `make demo` runs).

    Generates a source database, exports every day to a local lake, scans each day (which triggers the
    weekly run) and prints where everything is. `make demo-airflow` runs it with --orchestrator airflow.
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
        orchestrator=orchestrator,
    )
    run_demo(plan, settings_of(ctx))
