"""``retailflow run``: recompute fiscal weeks from the raw zone and publish them.

1. Choose the weeks (--date / --from --to / --all) and the raw partitions each has; a week with an
   incomplete or corrupt partition fails up front, with what to do about it.
2. The engine executes the plan (plan.py) in passes of whole weeks (DuckDB: 4 weeks, so memory is
   bounded by a few weeks rather than the whole history; Spark: all weeks in one job). Each pass is
   checked and published before the next starts.
3. Per week: the quarantined share of each day and table must be within the threshold, every table's
   counts must add up (read = used + duplicates + quarantined), and the output must reconcile with the
   used input to the cent. A week that fails any check is not published.
4. Staged files move into place one atomic replacement at a time; after the last pass the catalog is
   rebuilt; a report is written to _state/runs/ whatever happened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from retailflow.config import Settings
from retailflow.errors import RetailflowError
from retailflow.lake import layout
from retailflow.lake.rawzone import PartitionState, inspect_partition, raw_days
from retailflow.lake.storage import Lake
from retailflow.publish import Publication, publish
from retailflow.tables import DIMENSION_TABLES, FACT_TABLES
from retailflow.transform.dialect import DUCKDB, SPARK
from retailflow.transform.engine import Engine
from retailflow.transform.inputs import RawFile, RunInputs
from retailflow.transform.plan import build_plan
from retailflow.transform.report import FAILED, PARTIAL, SUCCESS, RunReport, WeekResult, new_run_id
from retailflow.transform.weeks import read_calendar, target_weeks

STAGING = "_staging"


class RunFailed(RetailflowError):
    """The run finished, but some weeks could not be published."""


def make_engine(settings: Settings) -> Engine:
    if settings.engine == "spark":
        from retailflow.transform.spark_engine import SparkEngine

        return SparkEngine(master=settings.spark_master, conf=settings.spark_conf_dict())
    from retailflow.transform.duckdb_engine import DuckDBEngine

    return DuckDBEngine(memory_limit=settings.duckdb_memory_limit or None)


def run(
    settings: Settings,
    days: list[dt.date] | None = None,
    engine: Engine | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Recompute the weeks touching ``days`` (every week with raw data when None) and publish them.

    ``on_progress(done, total)`` follows the passes (groups of weeks computed and published together)."""
    progress = on_progress or (lambda _done, _total: None)
    lake = Lake(settings.lake)
    lake.ensure_writable()
    engine = engine or make_engine(settings)
    started = dt.datetime.now(dt.UTC)
    report = RunReport(
        run_id=new_run_id(started),
        engine=engine.name,
        request={"days": [d.isoformat() for d in days] if days is not None else "all"},
        started_at=started.isoformat(timespec="seconds"),
    )
    timer = _timer(report)
    _sweep_staging(lake)
    try:
        with timer("plan"):
            inputs = _choose_inputs(lake, days, report)
        passes = inputs.passes(settings.weeks_per_pass or engine.weeks_per_pass) if inputs.weeks else []
        progress(0, len(passes) + 1)
        plan = build_plan(SPARK if engine.name == "spark" else DUCKDB)
        for number, batch in enumerate(passes, start=1):
            _compute_and_publish(settings, lake, engine, batch, plan, report, timer)
            progress(number, len(passes) + 1)
        if any(w.status == "published" for w in report.weeks):
            with timer("catalog"):
                from retailflow.catalog import build_catalog

                build_catalog(lake)
        progress(len(passes) + 1, len(passes) + 1)
    except Exception as exc:
        report.error = str(exc)
        report.status = FAILED
        raise
    finally:
        engine.close()
        report.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if report.status == "running":
            published = [w for w in report.weeks if w.status == "published"]
            report.status = SUCCESS if len(published) == len(report.weeks) else PARTIAL if published else FAILED
        report.save(lake)
        lake.remove(f"{STAGING}/{report.run_id}", recursive=True)
    failed = [w for w in report.weeks if w.status != "published"]
    if failed:
        lines = "; ".join(f"week {w.yr_wk_num}: {' '.join(w.errors)}" for w in failed)
        raise RunFailed(
            f"{len(failed)} of {len(report.weeks)} week(s) not published. {lines}",
            f"Details in {lake.uri(layout.runs())}/{report.run_id}.json and {lake.uri(layout.QUARANTINE)}.",
        )
    return report


def _sweep_staging(lake: Lake) -> None:
    """Remove what killed runs left in the staging area (runs of one lake are not concurrent)."""
    for name in lake.subdirs(STAGING):
        lake.remove(f"{STAGING}/{name}", recursive=True)


def _choose_inputs(lake: Lake, days: list[dt.date] | None, report: RunReport) -> RunInputs:
    available = raw_days(lake)
    if not available:
        raise RetailflowError(f"The lake {lake.url} has no raw partitions.", "Run `retailflow export` first.")
    states: dict[dt.date, PartitionState] = {}

    def state(day: dt.date) -> PartitionState:
        if day not in states:
            states[day] = inspect_partition(lake, day)
        return states[day]

    dims_day = next((d for d in reversed(available) if state(d).complete), None)
    if dims_day is None:
        raise RetailflowError(
            "No raw partition in the lake is complete, so there is no calendar to read.",
            "Run `retailflow scan` to see what is missing, then re-export those days.",
        )
    dims = {
        t.name: RawFile(dims_day, t.name, f"{layout.raw_partition(dims_day)}/{state(dims_day).files[t.name]}")
        for t in DIMENSION_TABLES
    }
    calendar = read_calendar(lake, dims["calendar"].relative, dims_day)
    weeks = target_weeks(calendar, days, available)

    inputs = RunInputs(dims=dims, facts={t.name: [] for t in FACT_TABLES})
    for week in weeks:
        first, last = calendar.span(week)
        week_days = [d for d in available if first <= d <= last]
        result = WeekResult(week, [d.isoformat() for d in week_days])
        report.weeks.append(result)
        if not week_days:
            result.status = "failed"
            result.errors.append(f"no raw partition of this week ({first} .. {last}) is in the lake.")
            continue
        broken = [state(d) for d in week_days if not state(d).complete]
        if broken:
            result.status = "failed"
            result.errors += [s.describe() for s in broken]
            result.errors.append("Re-export those days (retailflow export --date ...) and run again.")
            continue
        inputs.week_days[week] = week_days
        for d in week_days:
            report.inputs.append({"day": d.isoformat(), "version": state(d).version, "manifest": state(d).has_manifest})
            for table in FACT_TABLES:
                inputs.facts[table.name].append(
                    RawFile(d, table.name, f"{layout.raw_partition(d)}/{state(d).files[table.name]}")
                )
    report.dimensions["snapshot_day"] = dims_day.isoformat()
    return inputs


def _compute_and_publish(settings, lake, engine, inputs, plan, report, timer) -> None:
    """One pass: compute a group of weeks, check them, and publish those that pass."""
    with timer("load"):
        engine.load(lake, inputs)
    with timer("compute"):
        engine.execute(plan)
        dim_counts = {r["table_name"]: r for r in engine.fetch("dim_counts")}
        counts = engine.fetch("counts_sales") + engine.fetch("counts_inventory")
        reconciliation = {r["yr_wk_num"]: r for r in engine.fetch("reconciliation")}

    weeks = [w for w in report.weeks if w.yr_wk_num in inputs.week_days]
    _check_dimensions(dim_counts, report)
    _check_counts(settings, inputs, counts, weeks, report)
    _check_reconciliation(reconciliation, weeks)
    passing = [w.yr_wk_num for w in weeks if not w.errors]

    staging = f"{STAGING}/{report.run_id}"
    publication = Publication()
    with timer("write"):
        for week, staged in engine.stage_weekly(lake, staging, passing).items():
            publication.add(staged, f"{layout.weekly_partition(week)}/{layout.PART_FILE}")
        staged_quarantine = engine.stage_quarantine(lake, staging)
        for (day, table), staged in staged_quarantine.items():
            publication.add(staged, layout.quarantine_file(dt.date.fromisoformat(day), table))
        for day in inputs.days:  # days that are clean now lose their old quarantine files
            for table in FACT_TABLES:
                if (day.isoformat(), table.name) not in staged_quarantine:
                    publication.removals.append(layout.quarantine_file(day, table.name))
        if passing:
            for table, staged in engine.stage_dims(lake, staging).items():
                publication.add(staged, f"{layout.curated_table(table)}/{layout.PART_FILE}")
    with timer("publish"):
        report.outputs += publish(lake, publication)
    lake.remove(staging, recursive=True)
    for w in weeks:
        w.status = "published" if w.yr_wk_num in passing else "failed"


def _check_dimensions(dim_counts: dict[str, dict[str, Any]], report: RunReport) -> None:
    calendar = dim_counts.get("calendar", {})
    if calendar.get("rows_read") != calendar.get("distinct_keys"):
        raise RetailflowError(
            "The calendar snapshot repeats some dates, so facts could be counted twice.",
            "Fix the calendar table at the source and re-export.",
        )
    product = dim_counts.get("product", {})
    duplicates = int(product.get("rows_read", 0)) - int(product.get("distinct_keys", 0))
    report.dimensions["product_rows"] = int(product.get("rows_read", 0))
    report.dimensions["product_duplicate_rows"] = duplicates
    if duplicates:
        message = (
            f"The product table has {duplicates} extra row(s) for duplicated prod_key values: "
            "kept one row per key in curated/product (facts are aggregated before any join, so no sales double)."
        )
        report.warnings.append(message)


def _check_counts(
    settings: Settings, inputs: RunInputs, counts: list[dict[str, Any]], weeks: list[WeekResult], report: RunReport
) -> None:
    by_key = {(r["partition_dt"], r["table_name"]): r for r in counts}
    week_of_day = {dt.date.fromisoformat(d): w for w in weeks for d in w.days}
    for day in inputs.days:
        for table in FACT_TABLES:
            r = by_key.get((day, table.name), {})
            read, quarantined = int(r.get("rows_read") or 0), int(r.get("rows_quarantined") or 0)
            kept, used = int(r.get("rows_kept") or 0), int(r.get("rows_used") or 0)
            entry = {
                "day": day.isoformat(),
                "table": table.name,
                "read": read,
                "used": used,
                "duplicates": kept - used,
                "quarantined": quarantined,
            }
            report.counts.append(entry)
            week = week_of_day[day]
            if read != used + (kept - used) + quarantined:
                week.errors.append(
                    f"{table.name} {day}: {read} rows read but {used} used + {kept - used} duplicates + "
                    f"{quarantined} quarantined (a bug: please report it)."
                )
            share = quarantined / read if read else 0.0
            if share > settings.quarantine_threshold:
                week.errors.append(
                    f"{quarantined} of {read} {table.name} rows of {day} ({share:.1%}) were quarantined, "
                    f"above the {settings.quarantine_threshold:.1%} threshold; see quarantine/dt={day}/{table.name}.parquet "
                    "for the reasons. Fix the source and re-export, or raise quarantine_threshold."
                )


def _check_reconciliation(reconciliation: dict[int, dict[str, Any]], weeks: list[WeekResult]) -> None:
    for week in weeks:
        r = reconciliation.get(week.yr_wk_num)
        if r is None:
            week.rows = 0
            week.totals = {"sales_qty": "0", "sales_amt": "0", "sales_cost": "0"}
            continue
        week.rows = int(r["output_rows"] or 0)
        week.totals = {
            m: str(r[f"input_{k}"] or Decimal(0))
            for m, k in (("sales_qty", "qty"), ("sales_amt", "amt"), ("sales_cost", "cost"))
        }
        for k in ("qty", "amt", "cost"):
            a, b = Decimal(r[f"input_{k}"] or 0), Decimal(r[f"output_{k}"] or 0)
            if a != b:
                week.errors.append(f"output does not reconcile: input {k} {a} but output {b}.")


def _timer(report: RunReport):
    """``with timer("compute"):`` records the block's duration in the report."""

    @contextlib.contextmanager
    def span(name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            report.durations_s[name] = round(report.durations_s.get(name, 0.0) + elapsed, 3)  # summed over passes

    return span


def run_for_trigger(settings: Settings, day: dt.date) -> dict[str, Any]:
    """What the local trigger calls: run the week of ``day``; return a summary for the trigger record."""
    report = run(settings, days=[day])
    return {
        "run_id": report.run_id,
        "status": report.status,
        "weeks": [w.yr_wk_num for w in report.weeks],
        "warnings": report.warnings,
    }
