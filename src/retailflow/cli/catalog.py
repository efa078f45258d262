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
@click.option(
    "--print-setup",
    is_flag=True,
    help="Print the SQL another DuckDB client runs to open the catalog (for an S3 lake: httpfs by path, a "
    "temporary S3 secret with credential placeholders, ATTACH read-only); rebuild nothing.",
)
@click.option(
    "--target",
    type=click.Choice(["duckdb", "glue"]),
    help="duckdb: the DuckDB file of views; glue: the Glue Data Catalog's tables and week partitions, for "
    "Athena [default: the catalog setting].",
)
@click.pass_context
def catalog(ctx, lake, print_setup, target):
    """Rebuild the catalog: a DuckDB file of SQL views over the curated tables (lake/catalog/), or with
    --target glue the Glue Data Catalog's tables (created or updated) and one partition per published week.

    Runs after every publish; rebuilt atomically, so BI tools holding it open read-only keep working.
    From Python, ``retailflow.catalog.connect(settings)`` opens it (on S3 too); see docs/aws.md.
    """
    from retailflow.catalog import build_catalog
    from retailflow.lake.storage import open_lake

    settings = settings_of(ctx, lake=lake)
    if print_setup:
        from retailflow.catalog import setup_sql

        click.echo("\n".join(f"{statement};" for statement in setup_sql(settings)))
        return
    lake_obj = open_lake(settings)
    if (target or settings.catalog) == "glue":
        from retailflow.catalog import glue

        done = glue.sync(settings, lake_obj)
        console.success(
            f"Glue database {done['database']}: {len(done['weeks'])} week partition(s) "
            f"({done['created']} created, {done['updated']} updated, {done['removed']} removed)"
        )
        return
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
@click.option(
    "--engine",
    "query_engine",
    type=click.Choice(["duckdb", "athena"]),
    default="duckdb",
    show_default=True,
    help="duckdb: the lake's DuckDB catalog; athena: the Glue catalog through Athena (SQL in Athena's dialect, "
    "workgroup and result location from the settings).",
)
@click.pass_context
def query(ctx, lake, sql, named, list_named, show_tables, week, limit, fmt, query_engine):
    """Run SQL against the catalog and print the result.

    \b
    Examples:
      retailflow query "SELECT yr_wk_num, SUM(total_sales_amt) FROM weekly_sales_inventory GROUP BY 1"
      retailflow query --named stores_no_stock_impact --week 202602 --format csv
      retailflow query --engine athena --named top_products
    """
    from retailflow.catalog.named import NAMED_QUERIES, parameters_for
    from retailflow.catalog.query import latest_week, list_tables, run_query
    from retailflow.lake.storage import open_lake
    from retailflow.output import print_rows

    if list_named:
        for q in NAMED_QUERIES.values():
            console.out.print(Text.assemble((q.name, "bold"), "  ", q.description))
        return
    if query_engine == "athena":
        from retailflow.catalog import athena

        settings = settings_of(ctx, lake=lake)
        if show_tables:
            columns, rows = athena.list_tables(settings)
        elif named:
            columns, rows = athena.run_named(settings, named, week, limit)
        elif sql:
            columns, rows = athena.run_query(settings, sql)
        else:
            raise RetailflowError("No query given.", "Pass SQL, --named NAME (see --list) or --tables.")
        print_rows(columns, rows, fmt)
        return
    lake_obj = open_lake(settings_of(ctx, lake=lake))
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
