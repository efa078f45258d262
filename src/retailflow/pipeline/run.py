"""``run``: every stage in order, in one process. What ``retailflow run``, the demo, the local trigger
and the cluster job (``retailflow-spark``) call.

Weeks are computed in passes (DuckDB: 4 weeks, so memory is bounded by a few weeks rather than the whole
history; Spark: all at once), and each pass is checked and published before the next starts. After the
last pass the catalog is rebuilt; the report is written whatever happened.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Any

from retailflow.config import Settings
from retailflow.errors import RetailflowError
from retailflow.lake import layout
from retailflow.lake.state import RunReport, new_run_id
from retailflow.lake.storage import Lake
from retailflow.pipeline.records import Planned, Published, Selection
from retailflow.pipeline.stages import (
    Result,
    check,
    compute,
    open_lake,
    plan_weeks,
    publish,
    refresh_catalog,
    write_report,
)
from retailflow.transform.engine import Engine, make_engine


class RunFailed(RetailflowError):
    """The run finished, but some weeks could not be published."""


def run(
    settings: Settings,
    selection: Selection | Iterable[dt.date] | None = None,
    *,
    lake: Lake | None = None,
    engine: Engine | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Recompute and publish the weeks of ``selection`` (days, or None for every week with raw data).

    ``on_progress(done, total)`` follows the passes (groups of weeks computed and published together).
    Raises RunFailed, after publishing the others, when some weeks could not be published."""
    if not isinstance(selection, Selection):
        selection = Selection.of(selection)
    progress = on_progress or (lambda _done, _total: None)
    lake = open_lake(settings, lake)
    lake.ensure_writable()
    engine = engine or make_engine(settings)
    started = dt.datetime.now(dt.UTC)
    planned = Planned.nothing(new_run_id(started), started.isoformat(timespec="seconds"), selection)
    results: list[Result] = []
    durations: dict[str, float] = {}
    error = None
    try:
        clock = time.perf_counter()
        planned = plan_weeks(settings, selection, lake=lake, run_id=planned.run_id)
        durations["plan"] = round(time.perf_counter() - clock, 3)
        passes = planned.passes(settings.weeks_per_pass or engine.weeks_per_pass)
        progress(0, len(passes) + 1)
        for number, part in enumerate(passes, start=1):
            checked = check(settings, compute(settings, part, lake=lake, engine=engine))
            results.append(checked)
            results[-1] = publish(settings, checked, lake=lake)
            progress(number, len(passes) + 1)
        if any(isinstance(r, Published) and r.weeks for r in results):
            clock = time.perf_counter()
            refresh_catalog(settings, lake=lake)
            durations["catalog"] = round(time.perf_counter() - clock, 3)
        progress(len(passes) + 1, len(passes) + 1)
    except Exception as exc:
        error = str(exc)
        raise
    finally:
        engine.close()
        report = write_report(
            settings, planned, results, error=error, engine=engine.name, durations=durations, lake=lake
        )
        lake.remove(layout.staging(planned.run_id), recursive=True)
    failed = [w for w in report.weeks if w.status != "published"]
    if failed:
        lines = "; ".join(f"week {w.yr_wk_num}: {' '.join(w.errors)}" for w in failed)
        raise RunFailed(
            f"{len(failed)} of {len(report.weeks)} week(s) not published. {lines}",
            f"Details in {lake.uri(layout.run_report(report.run_id))} and {lake.uri(layout.QUARANTINE)}.",
        )
    return report


def run_for_trigger(settings: Settings, day: dt.date, *, lake: Lake | None = None) -> dict[str, Any]:
    """What the local trigger calls: run the week of ``day``; return a summary for the trigger record."""
    report = run(settings, [day], lake=lake)
    return {
        "run_id": report.run_id,
        "status": report.status,
        "weeks": [w.yr_wk_num for w in report.weeks],
        "warnings": report.warnings,
    }
