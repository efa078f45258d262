"""The pipeline: from the raw zone to published weekly metrics, as stages an orchestrator can call one
by one (each passing a small JSON record to the next), and ``run``, which chains them in one process.

    plan_weeks(settings, selection) -> Planned      which weeks, which raw partitions
    compute(settings, planned)      -> Computed     engine work, staged (nothing visible yet)
    check(settings, computed)       -> Checked      thresholds, counts, reconciliation
    publish(settings, checked)      -> Published    atomic replacement of each passing week
    refresh_catalog(settings), write_report(settings, planned, results)

``python -m retailflow.pipeline STAGE`` runs one stage in its own process (records on stdin/stdout).
"""

from retailflow.pipeline.records import (
    Checked,
    Computed,
    Planned,
    Published,
    Selection,
    Week,
    from_json,
    to_json,
)
from retailflow.pipeline.run import RunFailed, run, run_for_trigger
from retailflow.pipeline.stages import check, compute, plan_weeks, publish, refresh_catalog, write_report

__all__ = [
    "Checked",
    "Computed",
    "Planned",
    "Published",
    "RunFailed",
    "Selection",
    "Week",
    "check",
    "compute",
    "from_json",
    "plan_weeks",
    "publish",
    "refresh_catalog",
    "run",
    "run_for_trigger",
    "to_json",
    "write_report",
]
