"""``retailflow airflow``: a local Apache Airflow running this lake's DAG
(retailflow.orchestration.airflow_local does the work).

Light on purpose: the module doing the work is imported only when a command runs, and Airflow itself never
(it runs as the virtualenv's ``airflow`` program).
"""

from __future__ import annotations

import click

from retailflow import console
from retailflow.cli.options import settings_of

HOME_HELP = "The local Airflow's folder [setting airflow_home, default .airflow; env RETAILFLOW_AIRFLOW_HOME]."


def _stop_hint(home_flag: str | None) -> str:
    return "retailflow airflow down" + (f" --home {home_flag}" if home_flag else "")


@click.group(name="airflow")
def airflow() -> None:
    """A local Apache Airflow (3.3) running the retailflow DAG, on 127.0.0.1.

    \b
      up      set up Airflow (first time: a few seconds more), start it, wait until it is healthy
      down    stop it
      status  which components run, where, which DAGs

    Needs the airflow extra (pip install 'retailflow[airflow]'). Its API server, scheduler (LocalExecutor),
    DAG processor and triggerer keep their state, logs and admin password in the airflow_home folder
    (default .airflow). The DAG runs with the settings of the `up` command (written to
    <home>/retailflow.toml; the lake made absolute).
    """


@airflow.command()
@click.option("--home", help=HOME_HELP)
@click.option("--lake", help="Lake root the DAG works on [env RETAILFLOW_LAKE].")
@click.option("--port", type=int, help="Port on 127.0.0.1 (default: the previous one if free, else any free one).")
@click.option(
    "--dags-folder",
    type=click.Path(file_okay=False, exists=True),
    help="Another DAGs folder (default: retailflow's own) [env RETAILFLOW_AIRFLOW_DAGS_FOLDER].",
)
@click.option("--timeout", type=float, default=180.0, show_default=True, help="Seconds to wait until healthy.")
@click.option("--show-password", is_flag=True, help="Print the admin password (else: where it is kept).")
@click.pass_context
def up(
    ctx: click.Context,
    home: str | None,
    lake: str | None,
    port: int | None,
    dags_folder: str | None,
    timeout: float,
    show_password: bool,
) -> None:
    """Start the local Airflow (set up on first use) and wait until it is healthy and has read its DAGs.

    Already running: nothing is started. Log in as admin with the password in <home>/passwords.json
    (readable by you only); <home>/api.json says where the API is.
    """
    from retailflow.orchestration import airflow_local

    settings = settings_of(ctx, airflow_home=home, lake=lake)
    with console.progress("Starting Airflow", total=None):

        def step(message: str) -> None:
            console.info(f"  {message}...")

        info = airflow_local.up(settings, dags_folder=dags_folder, port=port, timeout=timeout, on_step=step)
    if info.already_running:
        console.success("Airflow was already running.")
    else:
        console.success(f"Airflow is up (started in {info.seconds:.0f} s).")
    console.out.print(f"URL:       {info.url}")
    console.out.print(f"User:      {info.username}")
    if show_password:
        console.out.print(f"Password:  {airflow_local.read_password(info.home)}")
    else:
        console.out.print(f"Password:  in {info.password_file} (or run again with --show-password)")
    console.out.print(f"DAGs:      {', '.join(info.dags) or '(none)'}   from {info.dags_folder}")
    console.out.print(f"Logs:      {info.log_dir}")
    console.out.print(f"Stop it:   {_stop_hint(home)}")
    for name in info.import_errors:
        console.warn(f"{name} in {info.dags_folder} failed to import: see the Import errors in the UI.")


@airflow.command()
@click.option("--home", help=HOME_HELP)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds before SIGKILL.")
@click.pass_context
def down(ctx: click.Context, home: str | None, timeout: float) -> None:
    """Stop the processes `retailflow airflow up` started (and whatever they started)."""
    from retailflow.orchestration import airflow_local

    stopped = airflow_local.down(settings_of(ctx, airflow_home=home), timeout=timeout)
    if stopped:
        console.success(f"Airflow stopped ({', '.join(stopped)}).")
    else:
        console.info("Airflow was not running.")


@airflow.command()
@click.option("--home", help=HOME_HELP)
@click.pass_context
def status(ctx: click.Context, home: str | None) -> None:
    """Which components of the local Airflow run, its address, and its DAGs."""
    from retailflow.orchestration import airflow_local

    state = airflow_local.status(settings_of(ctx, airflow_home=home))
    components = state["components"]
    if not any(components.values()):
        console.out.print(f"Airflow is not running (home {state['home']}).")
        return
    word = "runs" if state["running"] else "runs only in part"
    health = "healthy" if state["healthy"] else "not healthy"
    console.out.print(f"Airflow {word} ({health}): {state['url']}   (home {state['home']})")
    for name, pid in components.items():
        console.out.print(f"  {name:<14} {'running, pid ' + str(pid) if pid else 'stopped'}")
    if state["dags"] is not None:
        paused = set(state["paused"] or ())
        shown = [f"{d} (paused)" if d in paused else d for d in state["dags"]]
        console.out.print(f"DAGs:      {', '.join(shown) or '(none)'}")
    for name in state["import_errors"] or ():
        console.warn(f"{name} failed to import.")
