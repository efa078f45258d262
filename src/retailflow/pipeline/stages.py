"""The pipeline's stages, each callable on its own (an orchestrator's task) with the same shape:
``stage(settings, previous_result, *, lake=None) -> result``, every result a JSON-serializable record.

    plan_weeks  the weeks to recompute and the raw partitions they read
    compute     the engine executes the plan and stages the output (nothing visible to readers yet)
    check       thresholds, counts that add up, reconciliation: which weeks may be published
    publish     the staged files of the passing weeks move into place, one atomic replacement each
    refresh_catalog, write_report
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from retailflow.config import Settings
from retailflow.errors import DataQualityError
from retailflow.lake import layout, lease
from retailflow.lake.rawzone import raw_days
from retailflow.lake.state import FAILED, PARTIAL, SUCCESS, RunReport, WeekResult, run_started
from retailflow.lake.storage import Lake
from retailflow.lake.storage import open_lake as open_lake_from_settings
from retailflow.pipeline import planning
from retailflow.pipeline.records import Checked, Computed, Planned, Published, Selection
from retailflow.publish import StagedFile, build_publication
from retailflow.publish import publish as apply_publication
from retailflow.tables import FACT_TABLES
from retailflow.transform import typed_zone
from retailflow.transform.checks import (
    TOTALS,
    DayCount,
    WeekTotals,
    check_counts,
    check_dimensions,
    check_manifest_rows,
    check_totals,
    unknown_keys_warning,
)
from retailflow.transform.dialect import dialect_of
from retailflow.transform.engine import Engine, make_engine
from retailflow.transform.inputs import RawFile, RunInputs
from retailflow.transform.plan import build_plan

Result = Computed | Checked | Published


def open_lake(settings: Settings, lake: Lake | None = None) -> Lake:
    return lake if lake is not None else open_lake_from_settings(settings)


def plan_weeks(
    settings: Settings,
    selection: Selection,
    *,
    lake: Lake | None = None,
    run_id: str | None = None,
    through: dt.date | None = None,
) -> Planned:
    """Stage 1: the weeks ``selection`` touches and their raw partitions. Sweeps what dead runs left.
    ``through``: the day a triggered run is for (later days still being exported are left out)."""
    lake = open_lake(settings, lake)
    sweep_staging(lake, keep=run_id)
    typed_zone.sweep(lake, raw_days(lake))
    return planning.plan(
        lake, selection, run_id=run_id, allow_manifestless=settings.allow_manifestless, through=through
    )


def compute(
    settings: Settings, planned: Planned, *, lake: Lake | None = None, engine: Engine | None = None
) -> Computed:
    """Stage 2: compute the planned weeks (in passes of whole weeks) and stage their output."""
    lake = open_lake(settings, lake)
    claim_staging(lake, planned.run_id)
    owned = engine is None
    engine = engine or make_engine(settings)
    try:
        passes = planned.passes(settings.weeks_per_pass or engine.weeks_per_pass)
        # The typed zone keeps the run's last week: the only days a later nightly run reads again.
        newest = max((i.day for i in planned.inputs), default=None)
        keep_typed_from = newest - dt.timedelta(days=typed_zone.KEPT_DAYS - 1) if newest else None
        parts = [_compute_pass(lake, engine, part, keep_typed_from) for part in passes]
    finally:
        if owned:
            engine.close()
    return _merge(planned, engine.name, parts)


def _compute_pass(lake: Lake, engine: Engine, part: Planned, keep_typed_from: dt.date | None = None) -> Computed:
    durations: dict[str, float] = {}
    timer = _timer(durations)
    facts = {
        t.name: [RawFile(i.day, t.name, i.files[t.name], i.version) for i in part.inputs] for t in FACT_TABLES
    }  # one file per day, oldest first
    dims = {table: RawFile(part.dims_day, table, relative) for table, relative in part.dims.items()}
    weeks = [w.yr_wk_num for w in part.weeks]
    week_days = {w.yr_wk_num: list(w.days) for w in part.weeks}
    with timer("load"):
        engine.load(lake, RunInputs(facts=facts, dims=dims, week_days=week_days, keep_typed_from=keep_typed_from))
    with timer("compute"):
        engine.execute(build_plan(dialect_of(engine.name)))
        dimension_counts = {
            r["table_name"]: {"rows_read": int(r["rows_read"]), "distinct_keys": int(r["distinct_keys"])}
            for r in engine.fetch("dim_counts")
        }
        counts = _day_counts(part, [r for t in FACT_TABLES for r in engine.fetch(f"counts_{t.name}")])
        totals = _week_totals(weeks, engine.fetch("reconciliation"))
    staging = f"{layout.staging(part.run_id)}/pass-{weeks[0]}"
    with timer("write"):
        weekly = {
            week: StagedFile(staged, f"{layout.weekly_partition(week)}/{layout.PART_FILE}")
            for week, staged in engine.stage_weekly(lake, staging, weeks).items()
        }
        quarantine = tuple(
            StagedFile(staged, layout.quarantine_file(dt.date.fromisoformat(day), table))
            for (day, table), staged in sorted(engine.stage_quarantine(lake, staging).items())
        )
        staged_dims = tuple(
            StagedFile(staged, f"{layout.curated_table(table)}/{layout.PART_FILE}")
            for table, staged in engine.stage_dims(lake, staging).items()
        )
    return Computed(
        planned=part,
        engine=engine.name,
        staging=layout.staging(part.run_id),
        weekly=weekly,
        quarantine=quarantine,
        quarantine_days=tuple(sorted({i.day for i in part.inputs})),
        dims=staged_dims,
        counts=counts,
        totals=totals,
        dimension_counts=dimension_counts,
        durations_s=durations,
    )


def _day_counts(part: Planned, rows: list[dict[str, Any]]) -> tuple[DayCount, ...]:
    by_key = {(r["partition_dt"], r["table_name"]): r for r in rows}
    out = []
    for day in sorted({i.day for i in part.inputs}):
        for table in FACT_TABLES:
            r = by_key.get((day, table.name), {})
            read, quarantined = int(r.get("rows_read") or 0), int(r.get("rows_quarantined") or 0)
            kept, used = int(r.get("rows_kept") or 0), int(r.get("rows_used") or 0)
            unknown = int(r.get("rows_unknown_store") or 0), int(r.get("rows_unknown_product") or 0)
            out.append(DayCount(day, table.name, read, used, kept - used, quarantined, *unknown))
    return tuple(out)


def _week_totals(weeks: list[int], rows: list[dict[str, Any]]) -> tuple[WeekTotals, ...]:
    by_week = {r["yr_wk_num"]: r for r in rows}
    out = []
    for week in weeks:
        r = by_week.get(week, {})
        sums = {
            side: {name: str(r.get(f"{side}_{name.removeprefix('sales_')}") or 0) for name in TOTALS}
            for side in ("input", "output")
        }
        out.append(WeekTotals(week, int(r.get("output_rows") or 0), sums["input"], sums["output"]))
    return tuple(out)


def _merge(planned: Planned, engine: str, parts: list[Computed]) -> Computed:
    durations: dict[str, float] = {}
    for part in parts:
        for name, seconds in part.durations_s.items():
            durations[name] = round(durations.get(name, 0.0) + seconds, 3)
    return Computed(
        planned=planned,
        engine=engine,
        staging=layout.staging(planned.run_id),
        weekly={w: s for p in parts for w, s in p.weekly.items()},
        quarantine=tuple(s for p in parts for s in p.quarantine),
        quarantine_days=tuple(d for p in parts for d in p.quarantine_days),
        dims=parts[-1].dims if parts else (),
        counts=tuple(c for p in parts for c in p.counts),
        totals=tuple(t for p in parts for t in p.totals),
        dimension_counts=parts[-1].dimension_counts if parts else {},
        durations_s=durations,
    )


def check(settings: Settings, computed: Computed, *, strict: bool = False) -> Checked:
    """Stage 3: which computed weeks may be published.

    A week fails when a day's quarantined share is above the threshold, its counts do not add up, or its
    output does not reconcile with its input. With ``strict`` (an orchestrator's quality gate) any
    failing week raises DataQualityError; otherwise the failures are recorded and the others publish."""
    warnings, dimensions = check_dimensions(computed.dimension_counts) if computed.dimension_counts else ([], {})
    if unknown := unknown_keys_warning(computed.counts):
        warnings.append(unknown)
    if computed.planned.dims_day is not None:
        dimensions["snapshot_day"] = computed.planned.dims_day.isoformat()
    day_errors = check_counts(computed.counts, settings.quarantine_threshold)
    expected_rows = {(i.day, t): n for i in computed.planned.inputs for t, n in (i.rows or {}).items()}
    for day, reasons in check_manifest_rows(computed.counts, expected_rows).items():
        day_errors.setdefault(day, []).extend(reasons)
    totals = {t.yr_wk_num: t for t in computed.totals}
    errors: dict[int, tuple[str, ...]] = {}
    for week in computed.planned.runnable:
        reasons = [reason for day in week.days for reason in day_errors.get(day, [])]
        if week.yr_wk_num in totals:
            reasons += check_totals(totals[week.yr_wk_num])
        errors[week.yr_wk_num] = tuple(reasons)
    checked = Checked(computed, errors, tuple(warnings), dimensions)
    if strict and checked.failing:
        raise DataQualityError(
            "; ".join(f"week {w}: {' '.join(r)}" for w, r in checked.failing.items()),
            f"Nothing of those weeks was published. Details in {layout.run_report(computed.planned.run_id)}.",
        )
    return checked


def publish(settings: Settings, checked: Checked, *, lake: Lake | None = None) -> Published:
    """Stage 4: move the passing weeks' staged files into place, then drop the staging folder."""
    lake = open_lake(settings, lake)
    started = time.perf_counter()
    c = checked.computed
    publication = build_publication(c.weekly, set(checked.passing), c.quarantine, c.quarantine_days, c.dims)
    outputs = apply_publication(lake, publication)
    lake.remove(checked.computed.staging, recursive=True)
    if settings.catalog == "glue":  # each replaced week is registered in Glue at once (Athena sees it)
        from retailflow.catalog import glue

        glue.register_weeks(settings, lake, checked.passing)
    return Published(checked, tuple(outputs), {"publish": round(time.perf_counter() - started, 3)})


def refresh_catalog(settings: Settings, *, lake: Lake | None = None) -> str:
    """Stage 5: rebuild the catalog over what is published; return its lake path. With ``catalog = "glue"``
    the Glue tables and partitions are synchronised too (the DuckDB catalog still serves the local tools)."""
    from retailflow.catalog import build_catalog

    lake = open_lake(settings, lake)
    path = build_catalog(lake)
    if settings.catalog == "glue":
        from retailflow.catalog import glue

        glue.sync(settings, lake)
    return path


def write_report(
    settings: Settings,
    planned: Planned,
    results: Sequence[Result] = (),
    *,
    error: str | None = None,
    engine: str | None = None,
    durations: dict[str, float] | None = None,
    lake: Lake | None = None,
) -> RunReport:
    """Stage 6: the run's report, from whatever stages ran, saved to ``_state/runs/<run id>.json``."""
    report = RunReport(
        run_id=planned.run_id,
        engine=engine or next((_computed(r).engine for r in results), settings.engine),
        request=planned.selection.describe(),
        started_at=planned.started_at,
        inputs=[{"day": i.day.isoformat(), "version": i.version, "manifest": i.has_manifest} for i in planned.inputs],
        error=error,
    )
    weeks = {w.yr_wk_num: WeekResult(w.yr_wk_num, [d.isoformat() for d in w.days]) for w in planned.weeks}
    for w in planned.weeks:
        if w.errors:
            weeks[w.yr_wk_num].status = FAILED
            weeks[w.yr_wk_num].errors += list(w.errors)
    all_durations = dict(durations or {})
    for result in results:
        computed = _computed(result)
        report.counts += [
            {"day": c.day.isoformat(), "table": c.table, "read": c.read, "used": c.used}
            | {"duplicates": c.duplicates, "quarantined": c.quarantined}
            | {"unknown_store": c.unknown_store, "unknown_product": c.unknown_product}
            for c in computed.counts
        ]
        for t in computed.totals:
            weeks[t.yr_wk_num].rows, weeks[t.yr_wk_num].totals = t.rows, dict(t.input)
        checked = result.checked if isinstance(result, Published) else result
        if isinstance(checked, Checked):
            report.warnings += [w for w in checked.warnings if w not in report.warnings]
            report.dimensions.update(checked.dimensions)
            for week, reasons in checked.errors.items():
                weeks[week].errors += list(reasons)
        for week in computed.weekly:
            published = isinstance(result, Published) and week in result.weeks
            weeks[week].status = "published" if published else FAILED
        if isinstance(result, Published):
            report.outputs += list(result.outputs)
        for name, seconds in {
            **computed.durations_s,
            **(result.durations_s if isinstance(result, Published) else {}),
        }.items():
            all_durations[name] = round(all_durations.get(name, 0.0) + seconds, 3)
    if planned.dims_day is not None:
        report.dimensions.setdefault("snapshot_day", planned.dims_day.isoformat())
    report.weeks = [weeks[w] for w in sorted(weeks)]
    report.durations_s = all_durations
    report.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    published = [w for w in report.weeks if w.status == "published"]
    if error is not None:
        report.status = FAILED
    else:
        report.status = SUCCESS if len(published) == len(report.weeks) else PARTIAL if published else FAILED
    report.save(open_lake(settings, lake))
    return report


def _computed(result: Result) -> Computed:
    if isinstance(result, Published):
        return result.checked.computed
    return result.computed if isinstance(result, Checked) else result


# -- staging owners: the staging sweep removes only what belongs to no live run --------------------------

STAGING_RETENTION_S = 24 * 3600.0
"""How long the staging of a run computed by ``compute`` on its own (an orchestrator's task, one process per
stage) is kept for ``publish`` to use. Within ``run`` the staging lives exactly as long as its process."""
ORPHAN_GRACE_S = 3600.0
"""Staging without an owner record (left by an older version) is swept this long after its run started."""


def own_staging(lake: Lake, run_id: str, ttl_s: float) -> Callable[[], None]:
    """Record that this process owns ``_staging/<run id>/`` (``_state/staging/<run id>.json``: host, pid,
    expiry), before it stages anything. Returns the renewal, to call more often than ``ttl_s`` (``run``
    does it from the writer lease's heartbeat)."""
    path = layout.staging_owner(run_id)
    record = lease.new_record(f"run {run_id}", ttl_s, run_id=run_id)
    lake.write_json(path, record)

    def renew() -> None:
        nonlocal record
        record = lease.renewed(record, ttl_s)
        lake.write_json(path, record)

    return renew


def claim_staging(lake: Lake, run_id: str) -> None:
    """Unless this process owns the staging already (``run``), record that a run of separate stages (an
    orchestrator's tasks) owns it: not bound to this process, which ends before ``publish`` runs, but kept
    for STAGING_RETENTION_S."""
    record = lease.read_record(lake, layout.staging_owner(run_id))
    if record is not None and record.get("pid") == os.getpid() and lease.same_machine(record):
        if lease.stale_reason(record) is None:
            return
    owner = lease.new_record(
        f"run {run_id} (computed, to publish)", STAGING_RETENTION_S, process_bound=False, run_id=run_id
    )
    lake.write_json(layout.staging_owner(run_id), owner)


def sweep_staging(lake: Lake, keep: str | None = None) -> list[str]:
    """Remove the staging of runs that are gone; return their run ids.

    A run's staging (``_staging/<run id>/``) is live while its owner record is: until it expires and, for
    a ``run``, while its process lives. Runs may overlap (another ``run`` waiting on the writer lease is
    harmless, but an orchestrator's compute and publish are separate processes), so a live run's staging
    is never touched. ``keep``: this run's own id."""
    now = time.time()
    staged = set(lake.subdirs(layout.STAGING))
    swept = []
    for run_id in sorted(staged - {keep}):
        record = lease.read_record(lake, layout.staging_owner(run_id))
        if record is not None:
            live = lease.stale_reason(record, now) is None
        else:
            started = run_started(run_id)
            live = started is not None and now - started.timestamp() < ORPHAN_GRACE_S
        if not live:
            lake.remove(layout.staging(run_id), recursive=True)
            lake.remove(layout.staging_owner(run_id))
            swept.append(run_id)
    for name in lake.listdir(layout.staging_owners()):  # owner records whose staging is gone
        run_id = name.removesuffix(".json")
        if layout.is_temporary(name) or not name.endswith(".json") or run_id in staged or run_id == keep:
            continue
        record = lease.read_record(lake, layout.staging_owner(run_id))
        if record is not None and lease.stale_reason(record, now) is not None:
            lake.remove(layout.staging_owner(run_id))
    return swept


def _timer(durations: dict[str, float]):
    """``with timer("compute"):`` adds the block's duration to ``durations``."""

    @contextlib.contextmanager
    def span(name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            durations[name] = round(durations.get(name, 0.0) + time.perf_counter() - start, 3)

    return span
