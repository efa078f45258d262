"""``retailflow status``: the latest runs, and where each recent day is in the flow."""

from __future__ import annotations

from rich.table import Table

from retailflow import console
from retailflow.lake import state as records
from retailflow.lake.rawzone import PartitionState, inspect_partition, raw_days
from retailflow.lake.storage import Lake


def day_status(lake: Lake, days: int, *, allow_manifestless: bool = False) -> list[dict[str, str]]:
    """One row per recent raw day. ``allow_manifestless``: as the scan judges partitions without a
    manifest (settings.allow_manifestless)."""
    reports = records.load_reports(lake)
    # day -> (run id, the partition version it read) of the newest run that published the day's week
    published: dict[str, tuple[str, str | None]] = {}
    for report in reversed(reports):  # oldest first, so newer runs overwrite
        versions = {i["day"]: i.get("version") for i in report.get("inputs", [])}
        for week in report.get("weeks", []):
            if week.get("status") == "published":
                for day in week.get("days", []):
                    published[day] = (report["run_id"], versions.get(day))
    rows = []
    for day in raw_days(lake)[-days:]:
        state = inspect_partition(lake, day, verify_hashes=False, allow_manifestless=allow_manifestless)
        triggers = records.triggered_versions(lake, day)
        scan = records.load_scan(lake, day)
        triggered = state.version is not None and state.version in triggers
        run_id, version = published.get(day.isoformat(), (None, None))
        if run_id is None:
            shown = "no"
        elif version is not None and state.version is not None and version != state.version:
            shown = f"earlier version ({run_id}); re-exported since"
        else:
            shown = run_id
        rows.append(
            {
                "day": day.isoformat(),
                "exported": _exported(state),
                "scanned": scan["status"].replace("_", " ") if scan else "no",
                "scanned_at": scan["scanned_at"] if scan else "",
                "triggered": "yes" if triggered else ("earlier version" if triggers else "no"),
                "published": shown,
            }
        )
    return rows


def _exported(state: PartitionState) -> str:
    if state.complete:
        return "complete"
    if state.export_in_progress:
        return "export in progress or interrupted"
    if state.problems:
        return "corrupt"
    if state.lacks_manifest:
        return "no manifest"
    return "incomplete"


def show_status(lake: Lake, days: int = 14, runs: int = 5, *, allow_manifestless: bool = False) -> None:
    reports = records.load_reports(lake, limit=runs)
    table = Table(
        "run", "status", "engine", "weeks", "rows read", "quarantined", "unknown keys", "seconds", title="Latest runs"
    )
    for r in reports:
        weeks = ", ".join(f"{w['yr_wk_num']}{'' if w['status'] == 'published' else ' ✗'}" for w in r.get("weeks", []))
        table.add_row(
            r["run_id"],
            r["status"],
            r["engine"],
            weeks,
            f"{sum(c['read'] for c in r.get('counts', [])):,}",
            f"{sum(c['quarantined'] for c in r.get('counts', [])):,}",
            # fact rows naming a store or product the dimension tables lack (kept; see the run's warnings)
            f"{sum(c.get('unknown_store', 0) + c.get('unknown_product', 0) for c in r.get('counts', [])):,}",
            f"{sum(r.get('durations_s', {}).values()):.1f}",
        )
    if reports:
        console.out.print(table)
    else:
        console.out.print("No runs yet.")
    for r in reports:
        if r["status"] != "success":
            console.out.print(f"Run {r['run_id']} {r['status']}: {records.failure_reason(r)}", markup=False)
    for alert in records.load_alerts(lake):
        console.out.print(f"Late ({alert.get('late_at')}): {alert.get('message')}", markup=False)
    rows = day_status(lake, days, allow_manifestless=allow_manifestless)
    day_table = Table(
        "day", "exported", "triggered", "published (run)", title=f"Last {len(rows)} day(s) in the raw zone"
    )
    for row in rows:
        day_table.add_row(row["day"], row["exported"], row["triggered"], row["published"])
    console.out.print(day_table if rows else "No raw partitions yet.")
