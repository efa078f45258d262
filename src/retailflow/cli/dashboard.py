"""``retailflow dashboard``: the self-contained HTML dashboard of the published weeks
(retailflow.dashboard.html writes it)."""

from __future__ import annotations

import click

from retailflow import console
from retailflow.cli.options import lake_option, settings_of
from retailflow.errors import RetailflowError


@click.command()
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
    from retailflow.lake.storage import open_lake

    if weeks < 1:
        raise RetailflowError("--weeks must be 1 or more.")
    lake_obj = open_lake(settings_of(ctx, lake=lake))
    path = write_dashboard(lake_obj, weeks=weeks)
    size = lake_obj.fs.size(lake_obj.path(path))
    console.success(f"Dashboard written: {lake_obj.uri(path)} ({size / 1e6:.1f} MB)")
    if open_browser:
        if not (lake_obj.is_local and webbrowser.open(f"file://{lake_obj.path(path)}")):
            console.warn("Could not open a browser here; open the file above in one.")
