"""``retailflow status``: the latest runs, and which days are exported, triggered and published
(retailflow.status gathers and prints them)."""

from __future__ import annotations

import click

from retailflow.cli.options import lake_option, settings_of


@click.command()
@lake_option
@click.option("--days", type=int, default=14, show_default=True, help="How many recent days to show.")
@click.option("--runs", "n_runs", type=int, default=5, show_default=True, help="How many recent runs to show.")
@click.pass_context
def status(ctx, lake, days, n_runs):
    """Show the latest runs, and which days are exported, triggered and published."""
    from retailflow.lake.storage import open_lake
    from retailflow.status import show_status

    settings = settings_of(ctx, lake=lake)
    show_status(open_lake(settings), days=days, runs=n_runs, allow_manifestless=settings.allow_manifestless)
