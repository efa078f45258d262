"""What a ready partition triggers. A small interface so the orchestrator can change by setting:
``local`` runs the pipeline in-process, ``airflow`` starts a DAG run (readiness/airflow_trigger.py, imported
only when chosen), ``none`` only reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from retailflow.errors import ConfigError

if TYPE_CHECKING:
    from retailflow.config import Settings


class Trigger(Protocol):
    name: str
    records: bool  # whether a fired trigger is remembered (so the same partition does not fire twice)

    def fire(self, day: dt.date, version: str) -> dict[str, Any]:
        """Start the run of ``day``; return details for the trigger record. Raise if it could not start."""


class NoTrigger:
    name = "none"
    records = False

    def fire(self, day: dt.date, version: str) -> dict[str, Any]:
        return {"note": "trigger 'none': nothing was started"}


class LocalTrigger:
    """Runs the transformation of ``day``'s fiscal week in this process."""

    name = "local"
    records = True

    def __init__(self, run: Callable[[dt.date], dict[str, Any]]):
        self.run = run

    def fire(self, day: dt.date, version: str) -> dict[str, Any]:
        return self.run(day)


TRIGGER_NAMES = ("local", "airflow", "none")


def make_trigger(
    name: str,
    run_local: Callable[[dt.date], dict[str, Any]] | None = None,
    settings: Settings | None = None,
) -> Trigger:
    if name == "none":
        return NoTrigger()
    if name == "airflow":
        if settings is None:
            raise ConfigError("The airflow trigger needs the settings (airflow_url, airflow_dag_id, ...).")
        from retailflow.readiness.airflow_trigger import AirflowTrigger

        return AirflowTrigger(settings)
    if name == "local":
        if run_local is None:
            raise ConfigError("The local trigger needs a runner.")
        return LocalTrigger(run_local)
    raise ConfigError(f"Unknown trigger {name!r}.", f"Use one of: {', '.join(TRIGGER_NAMES)}.")
