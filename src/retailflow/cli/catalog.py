"""``retailflow catalog`` and ``retailflow query``: rebuild the SQL catalog over the published tables, and
query it (retailflow.catalog does the work; retailflow.output prints the rows)."""

from __future__ import annotations

import click
from rich.text import Text

from retailflow import console
from retailflow.cli.options import lake_option, settings_of
from retailflow.errors import RetailflowError


@click.command()
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


@click.command()
@lake_option
@click.argument("sql", required=False)
@click.option("--named", "named", help="Run a named business query (see --list).")
@click.option("--list", "list_named", is_flag=True, help="List the named queries.")
@click.option("--tables", "show_tables", is_flag=True, help="List the catalog's tables and their columns.")
@click.option("--week", type=int, help="yr_wk_num for named queries [default: the latest published week].")
@click.option("--limit", type=int, default=10, show_default=True, help="Rows for named queries.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_context
def query(ctx, lake, sql, named, list_named, show_tables, week, limit, fmt):
    """Run SQL against the catalog and print the result.

    \b
    Examples:
      retailflow query "SELECT yr_wk_num, SUM(total_sales_amt) FROM weekly_sales_inventory GROUP BY 1"
      retailflow query --named stores_no_stock_impact --week 202602 --format csv
    """
    from retailflow.catalog.named import NAMED_QUERIES, parameters_for
    from retailflow.catalog.query import latest_week, list_tables, run_query
    from retailflow.lake import Lake
    from retailflow.output import print_rows

    if list_named:
        for q in NAMED_QUERIES.values():
            console.out.print(Text.assemble((q.name, "bold"), "  ", q.description))
        return
    lake_obj = Lake(settings_of(ctx, lake=lake).lake)
    if show_tables:
        columns, rows = list_tables(lake_obj)
    elif named:
        if named not in NAMED_QUERIES:
            raise RetailflowError(f"No named query {named!r}.", f"Choose one of: {', '.join(NAMED_QUERIES)}.")
        q = NAMED_QUERIES[named]
        params = parameters_for(q, week if week is not None else latest_week(lake_obj), limit)
        columns, rows = run_query(lake_obj, q.sql, params)
    elif sql:
        columns, rows = run_query(lake_obj, sql)
    else:
        raise RetailflowError("No query given.", "Pass SQL, --named NAME (see --list) or --tables.")
    print_rows(columns, rows, fmt)
