"""The ``retailflow`` root command: resolves the settings from the config file and the environment, and
registers every command. The only module of retailflow.cli that imports the command modules.

``main`` is the console script (``retailflow = "retailflow.cli:main"``).
"""

from __future__ import annotations

import click

from retailflow import __version__
from retailflow.cli.airflow import airflow
from retailflow.cli.catalog import catalog, query
from retailflow.cli.dashboard import dashboard
from retailflow.cli.demo import demo
from retailflow.cli.export import export
from retailflow.cli.options import SETTINGS, Group
from retailflow.cli.run import run_command
from retailflow.cli.scan import scan
from retailflow.cli.source import generate
from retailflow.cli.status import status
from retailflow.cli.superset import superset
from retailflow.config import load_settings


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
      superset  the dashboard in a local Apache Superset
      airflow   a local Apache Airflow running the nightly DAG (up, down, status)

    Settings come from defaults < retailflow.toml < RETAILFLOW_* environment variables < flags.
    Every command that touches the lake takes --lake (a folder, or s3://bucket/prefix).
    """
    ctx.ensure_object(dict)
    ctx.obj[SETTINGS] = load_settings(config_file=config_file)


for _command in (generate, export, scan, run_command, catalog, query, status, dashboard, demo, superset, airflow):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="retailflow")
