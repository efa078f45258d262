"""The lake's own records under ``_state/``: what ran, what was scanned, what was triggered.

- run reports, ``_state/runs/<run id>.json``: one per run, failed ones included (``retailflow status``);
- scan records, ``_state/scans/dt=D.json``: the latest scan of a day and what it found;
- trigger records, ``_state/triggers/dt=D/<version>.json``: a partition version that was triggered;
- trigger claims, ``_state/claims/dt=D/<version>/``, the writer lease, ``_state/lease/writer/``, and
  staging owners, ``_state/staging/<run id>.json``: who is doing what right now (lake/lease.py).

Readiness, the pipeline, status and the dashboard all read and write them here, so none of them needs
another's module to know what happened.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from retailflow.lake import layout
from retailflow.lake.storage import Lake

SUCCESS = "success"
PARTIAL = "partial"  # some weeks published, some failed
FAILED = "failed"


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    # Microseconds, so that run ids sort in time order even for runs started within the same second.
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:6]}"


def run_started(run_id: str) -> dt.datetime | None:
    """When a run started, from its id (None for an id that is not one of ``new_run_id``'s)."""
    try:
        return dt.datetime.strptime(run_id.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@dataclass
class WeekResult:
    yr_wk_num: int
    days: list[str]
    status: str = "pending"  # published | failed
    rows: int | None = None
    totals: dict[str, str] | None = None  # input sums of sales_qty, sales_amt, sales_cost (exact, as text)
    errors: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    run_id: str
    engine: str
    request: dict[str, Any]
    started_at: str
    status: str = "running"
    finished_at: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)  # day, manifest/version hash
    weeks: list[WeekResult] = field(default_factory=list)
    counts: list[dict[str, Any]] = field(default_factory=list)  # day, table, read, used, duplicates, quarantined
    dimensions: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    durations_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, lake: Lake) -> str:
        path = layout.run_report(self.run_id)
        lake.write_json(path, self.to_dict())
        return path


def load_reports(lake: Lake, limit: int | None = None) -> list[dict[str, Any]]:
    """Run reports, newest first (run ids sort by time)."""
    names = sorted((n for n in lake.listdir(layout.runs()) if n.endswith(".json")), reverse=True)
    return [_read_report(lake, n) for n in names[:limit]]


def _read_report(lake: Lake, name: str) -> dict[str, Any]:
    """A report, or, when it cannot be read (damaged, cut short), a stand-in that says so: one bad file
    must not hide every other run from ``status``."""
    try:
        report = lake.read_json(f"{layout.runs()}/{name}")
        if isinstance(report, dict) and "run_id" in report:
            return report
    except ValueError:
        pass
    unreadable = {"run_id": name.removesuffix(".json"), "status": "unreadable report", "engine": "?"}
    return unreadable | {"weeks": [], "counts": [], "inputs": [], "durations_s": {}}


def load_alerts(lake: Lake, limit: int = 5) -> list[dict[str, Any]]:
    """Deadline alerts of orchestrated runs (orchestration.tasks.record_late), newest first."""
    found = []
    for name in lake.listdir(layout.alerts()):
        if name.endswith(".json") and not layout.is_temporary(name):
            try:
                alert = lake.read_json(f"{layout.alerts()}/{name}")
            except (ValueError, FileNotFoundError):
                continue
            if isinstance(alert, dict):
                found.append(alert)
    return sorted(found, key=lambda a: str(a.get("late_at")), reverse=True)[:limit]


def failure_reason(report: dict[str, Any]) -> str:
    """Why a run did not publish everything: its error, else its weeks' reasons."""
    reasons = [str(report["error"])] if report.get("error") else []
    reasons += [e for w in report.get("weeks", []) for e in w.get("errors", []) if e not in reasons]
    return " ".join(reasons) or "no reason recorded"


def save_scan(lake: Lake, day: dt.date, record: dict[str, Any]) -> None:
    lake.write_json(layout.scan_record(day), record)


def load_scan(lake: Lake, day: dt.date) -> dict[str, Any] | None:
    path = layout.scan_record(day)
    return lake.read_json(path) if lake.exists(path) else None


def load_trigger(lake: Lake, day: dt.date, version: str) -> dict[str, Any] | None:
    path = layout.trigger_record(day, version)
    return lake.read_json(path) if lake.exists(path) else None


def save_trigger(lake: Lake, day: dt.date, version: str, record: dict[str, Any]) -> None:
    lake.write_json(layout.trigger_record(day, version), record)


def triggered_versions(lake: Lake, day: dt.date) -> list[str]:
    """The partition versions of ``day`` that were ever triggered."""
    return [name.removesuffix(".json") for name in lake.listdir(layout.triggers(day)) if name.endswith(".json")]
