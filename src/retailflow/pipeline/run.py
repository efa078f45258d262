"""``run``: every stage in order, in one process. What ``retailflow run``, the demo, the local trigger
and the cluster job (``retailflow-spark``) call.

Weeks are computed in passes (DuckDB: 4 weeks, so memory is bounded by a few weeks rather than the whole
history; Spark: all at once), and each pass is checked and published before the next starts. After the
last pass the catalog is rebuilt; the report is written whatever happened.

One run writes a lake at a time: ``run`` takes the lake's writer lease (lake/lease.py) around all its
stages, renews it while it works, and releases it at the end. A second run waits for it up to
``lease_wait_s`` seconds, then fails with one line naming the holder (exit 1). A lease whose process died
(seen from its host) or that expired is taken over, with a warning in the run's report.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Any

from retailflow import console
from retailflow.config import Settings
from retailflow.errors import LakeError, RetailflowError
from retailflow.lake import layout
from retailflow.lake.lease import Holder, Lease, take_writer_lease
from retailflow.lake.state import RunReport, new_run_id
from retailflow.lake.storage import Lake
from retailflow.pipeline.records import Planned, Published, Selection
from retailflow.pipeline.stages import (
    Result,
    check,
    compute,
    open_lake,
    own_staging,
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
    Raises RunFailed, after publishing the others, when some weeks could not be published, and SlotBusy
    (a LakeError) when another run holds the lake's writer lease for longer than ``lease_wait_s``."""
    if not isinstance(selection, Selection):
        selection = Selection.of(selection)
    lake = open_lake(settings, lake)
    lake.ensure_writable()
    writer = take_writer_lease(
        lake, "a run", ttl_s=settings.lease_ttl_s, wait_s=settings.lease_wait_s, on_wait=_waiting(settings)
    )
    started = dt.datetime.now(dt.UTC)  # once the lease is ours: run ids sort in the order runs wrote
    run_id = new_run_id(started)
    try:
        writer.annotate(purpose=f"run {run_id}", run_id=run_id)
        renew_staging = own_staging(lake, run_id, settings.lease_ttl_s)
        with writer.keep_alive(renew_staging):
            report = _run(settings, selection, lake, engine, on_progress, run_id, started, writer)
    finally:
        with contextlib.suppress(Exception):  # else the lease expires on its own
            writer.release({"run_id": run_id})
    failed = [w for w in report.weeks if w.status != "published"]
    if failed:
        lines = "; ".join(f"week {w.yr_wk_num}: {' '.join(w.errors)}" for w in failed)
        raise RunFailed(
            f"{len(failed)} of {len(report.weeks)} week(s) not published. {lines}",
            f"Details in {lake.uri(layout.run_report(report.run_id))} and {lake.uri(layout.QUARANTINE)}.",
        )
    return report


def _run(
    settings: Settings,
    selection: Selection,
    lake: Lake,
    engine: Engine | None,
    on_progress: Callable[[int, int], None] | None,
    run_id: str,
    started: dt.datetime,
    writer: Lease,
) -> RunReport:
    """The stages, under the writer lease."""
    progress = on_progress or (lambda _done, _total: None)
    planned = Planned.nothing(run_id, started.isoformat(timespec="seconds"), selection)
    results: list[Result] = []
    durations: dict[str, float] = {}
    error = None
    engine = engine or make_engine(settings)
    try:
        clock = time.perf_counter()
        planned = plan_weeks(settings, selection, lake=lake, run_id=run_id)
        durations["plan"] = round(time.perf_counter() - clock, 3)
        passes = planned.passes(settings.weeks_per_pass or engine.weeks_per_pass)
        progress(0, len(passes) + 1)
        for number, part in enumerate(passes, start=1):
            checked = check(settings, compute(settings, part, lake=lake, engine=engine))
            results.append(checked)
            _still_holding(writer, lake, part)
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
        if writer.takeover:
            report.warnings.insert(0, f"This run {writer.takeover}: the lake's writer lease was stale.")
            report.save(lake)
        lake.remove(layout.staging(run_id), recursive=True)
        lake.remove(layout.staging_owner(run_id))
    return report


def _still_holding(writer: Lease, lake: Lake, part: Planned) -> None:
    """Publish only under the lease: a run that stalled past its expiry may have been taken over."""
    if writer.lost:
        weeks = ", ".join(str(w.yr_wk_num) for w in part.weeks)
        raise LakeError(
            f"This run lost the writer lease of the lake {lake.url} (it stalled past its expiry and another run "
            f"took over), so it did not publish week(s) {weeks}.",
            "Run again once the other run is done (retailflow status shows the runs).",
        )


def _waiting(settings: Settings) -> Callable[[Holder], None]:
    def say(holder: Holder) -> None:
        console.info(
            f"Waiting up to {settings.lease_wait_s:g}s for the lake's writer lease, held by {holder.describe()}."
        )

    return say


def run_for_trigger(settings: Settings, day: dt.date, *, lake: Lake | None = None) -> dict[str, Any]:
    """What the local trigger calls: run the week of ``day``; return a summary for the trigger record."""
    report = run(settings, [day], lake=lake)
    return {
        "run_id": report.run_id,
        "status": report.status,
        "weeks": [w.yr_wk_num for w in report.weeks],
        "warnings": report.warnings,
    }
