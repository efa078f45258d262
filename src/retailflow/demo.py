"""``retailflow demo``: the whole flow on embedded defaults, in a fresh folder.

generate a source (the real stores, a few hundred real products, several fiscal weeks) -> then, night
after night: export the day to the lake, scan it (which triggers the run of its week so far) -> print
what it found and where. With ``orchestrator = "airflow"`` the scans trigger the nightly DAG on a local
Airflow (``retailflow airflow up`` in the demo folder), as in production, and the demo waits for its runs.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from retailflow import console
from retailflow.config import Settings
from retailflow.dates import date_range
from retailflow.errors import RetailflowError
from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.lake.storage import open_lake
from retailflow.readiness.handler import run_scan
from retailflow.readiness.scan import ALREADY_TRIGGERED, READY, TRIGGERED
from retailflow.source import open_source
from retailflow.source.duckdb_source import url_of
from retailflow.source.generate import GenerateSpec, generate

MARKER = ".retailflow-demo"


@dataclass(frozen=True)
class DemoPlan:
    workdir: Path
    weeks: int = 3
    stores: int = 151
    products: int = 200
    seed: int = 42
    end: dt.date | None = None  # last day; default: the Saturday that ended the last full week
    orchestrator: str = "local"  # or "airflow": the scans trigger the nightly DAG on a local Airflow

    @property
    def last_day(self) -> dt.date:
        if self.end:
            return self.end
        today = dt.date.today()
        return today - dt.timedelta(days=(today.weekday() + 2) % 7 or 7)  # the latest Saturday before today

    @property
    def first_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=7 * self.weeks - 1)


def prepare_workdir(workdir: Path) -> None:
    """Start from an empty folder, but never wipe one that a demo did not create."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise RetailflowError(
                f"{workdir} exists and was not made by `retailflow demo`, so it is left alone.",
                "Choose another --workdir, or empty that folder.",
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by `retailflow demo`; the next demo run may delete this folder\n")


def run_demo(plan: DemoPlan, settings: Settings) -> Settings:
    airflow = plan.orchestrator == "airflow"
    home = (plan.workdir / "airflow").resolve()
    if (home / "pids.json").exists():  # an earlier airflow demo's servers live in the folder about to go
        from retailflow.orchestration import airflow_local

        airflow_local.down(settings.replace(airflow_home=str(home)))
    prepare_workdir(plan.workdir)
    source_path = plan.workdir / "source.duckdb"
    # The demo shows the whole flow, so its scans always trigger a run: in-process, or the DAG on Airflow.
    settings = settings.replace(
        lake=str(plan.workdir / "lake"), source=url_of(source_path.resolve()), trigger="airflow" if airflow else "local"
    )
    if airflow:  # triggered runs only: a safety-net run of a day outside the demo data would only fail
        settings = settings.replace(airflow_home=str(home), airflow_url="", dag_schedule="none")
    days = date_range(plan.first_day, plan.last_day)
    console.info(
        f"Demo: {plan.weeks} fiscal weeks ({days[0]} .. {days[-1]}), {plan.stores} stores, {plan.products} products"
    )

    spec = GenerateSpec(days[0], days[-1], stores=plan.stores, products=plan.products, seed=plan.seed)
    with console.progress("1/2 Generating source", total=len(days), unit="days") as advance:
        generated = generate(source_path, spec, on_progress=advance)
    console.success(
        f"Source {source_path}: {generated.sales_rows:,} sales, {generated.inventory_rows:,} inventory rows"
    )

    if airflow:
        from retailflow.orchestration import airflow_local

        with console.progress("Starting the local Airflow (about a minute)", total=None):
            info = airflow_local.up(settings)
        console.success(f"Airflow {info.url} (user admin, password in {info.password_file})")

    # Night after night, as in production: the dump lands, the scan notices it and runs the week so far.
    lake = open_lake(settings)
    source = open_source(settings.source)
    triggered = 0
    dag_runs: list[str] = []
    warnings: set[str] = set()
    try:
        with console.progress("2/2 Nightly export + scan + run", total=len(days), unit="nights") as advance:
            for day in days:
                export_days(source, lake, [day], gzip_level=settings.gzip_level, threads=1)
                outcome = run_scan(settings, day=day, lake=lake)
                if outcome.status not in (TRIGGERED, ALREADY_TRIGGERED, READY):
                    raise RetailflowError(f"Demo scan of {day} failed: {outcome.message}")
                triggered += outcome.status == TRIGGERED
                if airflow and outcome.status == TRIGGERED:
                    dag_runs.append(outcome.details["dag_run_id"])
                warnings.update(outcome.details.get("warnings", []))
                advance()
    finally:
        source.close()
    for warning in sorted(warnings):
        console.warn(warning)
    console.success(
        f"{len(days)} nights: exported to {lake.uri('raw')}, scanned, {triggered} run(s) triggered ({settings.trigger})"
    )
    if airflow:
        _wait_for_dag_runs(info.url, home, dag_runs)
    from retailflow.dashboard.html import write_dashboard

    print_summary(lake, dashboard=write_dashboard(lake))
    return settings


def _wait_for_dag_runs(url: str, home: Path, run_ids: list[str], timeout_s: float = 1800) -> None:
    """Follow the triggered DAG runs (Airflow runs them one at a time) until each has finished."""
    import time

    from retailflow.orchestration import airflow_local

    bearer = airflow_local.token(url, airflow_local.read_password(home))
    deadline = time.monotonic() + timeout_s
    with console.progress("Airflow: nightly DAG runs", total=len(run_ids), unit="runs") as advance:
        for run_id in run_ids:
            while True:
                state = airflow_local.api(url, f"/api/v2/dags/retailflow_nightly/dagRuns/{run_id}", bearer)["state"]
                if state in ("success", "failed"):
                    break
                if time.monotonic() > deadline:
                    raise RetailflowError(f"DAG run {run_id} is still {state} after {timeout_s:.0f}s.", f"See {url}.")
                time.sleep(1)
            if state == "failed":
                raise RetailflowError(f"DAG run {run_id} failed.", f"See {url} and `retailflow status`.")
            advance()
    console.success(
        f"{len(run_ids)} DAG run(s) succeeded. Airflow keeps running at {url}: "
        f"`{command_name()} airflow down --home {home}` stops it."
    )


def command_name() -> str:
    """How the user can call retailflow again: plain 'retailflow' when it is on PATH, else its path."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "retailflow" and shutil.which("retailflow") != str(argv0.resolve()):
        try:
            return str(argv0.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(argv0)
    return "retailflow"


def print_summary(lake: Lake, dashboard: str | None = None) -> None:
    """What the demo found: last week's headline figures and biggest stock-out losses; where things are."""
    from retailflow.catalog.named import NAMED_QUERIES, parameters_for
    from retailflow.catalog.query import latest_week, run_query
    from retailflow.lake import layout
    from retailflow.output import print_rows

    week = latest_week(lake)
    _, rows = run_query(
        lake,
        f"SELECT SUM(total_sales_amt), SUM(total_sales_qty), SUM(no_stock_impact), "
        f"SUM(potential_low_stock_impact), AVG(in_stock_pct) FROM {layout.WEEKLY_TABLE} WHERE yr_wk_num = $week",
        {"week": week},
    )
    amt, qty, no_stock, low_stock, in_stock = rows[0]
    console.info(
        Text.assemble(
            "\n",
            (f"Fiscal week {week}", "bold"),
            f": sales {amt:,.2f} over {qty:,.0f} units; {no_stock:,.2f} sold on out-of-stock days; "
            f"potential low-stock impact {low_stock:,.2f}; mean in-stock rate {in_stock:.1%}.",
        )
    )
    console.info("Biggest stock-out losses (no_stock_impact) by store:")
    query = NAMED_QUERIES["stores_no_stock_impact"]
    print_rows(*run_query(lake, query.sql, parameters_for(query, week, 5)))
    console.info(
        "\nWhere everything is:\n"
        f"  raw zone      {lake.uri(layout.RAW)}\n"
        f"  curated       {lake.uri(layout.CURATED)}\n"
        f"  quarantine    {lake.uri(layout.QUARANTINE)}\n"
        f"  catalog       {lake.uri(layout.catalog())}  (DuckDB; open read-only)\n"
        f"  run reports   {lake.uri(layout.runs())}\n"
        + (f"  dashboard     {lake.uri(dashboard)}  (open it in a browser; it works offline)\n" if dashboard else "")
        + "Try:\n"
        f"  {command_name()} query --lake {lake.url} --list\n"
        f"  {command_name()} query --lake {lake.url} --named top_products\n"
        f"  {command_name()} status --lake {lake.url}"
    )
