"""``retailflow superset``: the dashboard in a local Apache Superset, or as a bundle for any Superset
(retailflow.dashboard.superset.server does the work).

Light on purpose: the server module is imported only when a command runs, and Superset itself never (it
runs in its own virtualenv). Each command builds the lake once and hands it to the server functions.
"""

from __future__ import annotations

from pathlib import Path

import click

from retailflow import console
from retailflow.cli.options import settings_of

LAKE_HELP = "Lake root: a local folder [env RETAILFLOW_LAKE]."


def _lake(ctx: click.Context, lake: str | None):
    """The lake of this invocation (a ``retailflow.lake.Lake``, built once per command)."""
    from retailflow.lake.storage import open_lake

    return open_lake(settings_of(ctx, lake=lake))


@click.group(name="superset")
def superset() -> None:
    """Apache Superset with the retailflow dashboard, over the lake's catalog.

    \b
      up      set up Superset (first time: about a minute), start it on 127.0.0.1, import the dashboard
      down    stop it
      status  is it running, and where
      bundle  write the dashboard as an import bundle (zip) for any Superset

    Superset runs from its own virtualenv: create it once with `make superset`. Its state (settings,
    metadata database, admin password, log) is kept in <lake>/_state/superset/; for an S3 lake in
    $RETAILFLOW_SUPERSET_HOME/<bucket>-<hash> (default ~/.retailflow/superset/).
    """


@superset.command()
@click.option("--lake", help=LAKE_HELP)
@click.option("--port", type=int, default=8088, show_default=True, help="Port on 127.0.0.1.")
@click.pass_context
def up(ctx: click.Context, lake: str | None, port: int) -> None:
    """Start Superset with the dashboard (set up on first use), and print its address and login.

    The dashboard reads the lake's DuckDB catalog, or with catalog = "glue" the Glue database through
    Athena (PyAthena in .venv-superset; AWS credentials from the environment Superset is started in).
    On an S3 lake, Superset attaches s3://.../catalog/retailflow.duckdb read-only on every connection
    (httpfs from duckdb-extension-httpfs; credentials from Superset's environment, never written).

    The admin password is $RETAILFLOW_SUPERSET_PASSWORD, or one generated on first use: it is printed
    once and kept in <lake>/_state/superset/admin_password (readable by you only).
    """
    from retailflow.dashboard.superset import server
    from retailflow.lake.storage import open_lake

    settings = settings_of(ctx, lake=lake)
    lake_obj = open_lake(settings)
    from retailflow.lake import layout

    ready = settings.catalog == "glue" or lake_obj.exists(layout.catalog())
    if ready and not server.status(lake_obj)["running"]:
        console.info("Starting Superset (the first start sets it up, about a minute)...")
    info = server.up(lake_obj, port=port, settings=settings)
    verb = "was already running; dashboard re-imported" if info.already_running else "is up"
    console.success(f"Superset {verb}.")
    console.out.print(f"Dashboard: {info.dashboard_url}")
    console.out.print(f"User:      {info.username}")
    if info.new_password:
        console.out.print(f"Password:  {info.password}   (shown once; kept in {info.password_file})")
    else:
        console.out.print(f"Password:  in {info.password_file}")
    console.out.print(f"Log:       {info.log_file}")
    where = info.state_dir.parents[1] if lake_obj.is_local else lake_obj.url
    console.out.print(f"Stop it:   retailflow superset down --lake {where}")


@superset.command()
@click.option("--lake", help=LAKE_HELP)
@click.pass_context
def down(ctx: click.Context, lake: str | None) -> None:
    """Stop this lake's Superset."""
    from retailflow.dashboard.superset import server

    if server.down(_lake(ctx, lake)):
        console.success("Superset stopped.")
    else:
        console.info("Superset was not running.")


@superset.command()
@click.option("--lake", help=LAKE_HELP)
@click.pass_context
def status(ctx: click.Context, lake: str | None) -> None:
    """Whether this lake's Superset runs, and its address."""
    from retailflow.dashboard.superset import server

    state = server.status(_lake(ctx, lake))
    if state["running"]:
        health = "healthy" if state["healthy"] else "not answering"
        console.out.print(f"Superset runs (pid {state['pid']}, {health}): {state['dashboard_url']}")
    else:
        console.out.print("Superset is not running.")


@superset.command()
@click.option("--lake", help=LAKE_HELP)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write the zip."
)
@click.pass_context
def bundle(ctx: click.Context, lake: str | None, output: Path) -> None:
    """Write the dashboard as a Superset import bundle (zip): database, datasets, charts, dashboard.

    The database entry points at this lake's catalog file (opened read-only). Import it in Superset's
    UI (Dashboards > Import) or with `superset import-dashboards -p FILE -u USER`; that Superset needs
    duckdb-engine and the same duckdb version as retailflow. With catalog = "glue" it points at the Glue
    database through Athena instead (awsathena+rest://, no credentials: that Superset needs
    PyAthena[SQLAlchemy] 2.x and AWS credentials in its environment), and the lake may be anywhere.
    """
    from retailflow.dashboard.superset import server
    from retailflow.dashboard.superset.bundle import build_bundle, catalog_target

    settings = settings_of(ctx, lake=lake)
    if settings.catalog == "glue":  # the Glue database: no file, so any lake
        target = catalog_target(settings, "")
        what = f"the Glue database {target.database} through Athena"
    else:
        target = server.catalog_file(_lake(ctx, lake))
        if not target.is_file():
            console.warn(f"{target} does not exist yet: publish a week (`retailflow run`) before importing.")
        what = f"the catalog {target}"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(build_bundle(target))
    console.success(f"Wrote {output} (for {what}).")
