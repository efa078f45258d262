"""Where everything lives in the lake, relative to its root. Pure functions: no IO.

raw/dt=YYYY-MM-DD/{sales,inventory,store,product,calendar}.csv[.gz], _manifest.json
raw/dt=YYYY-MM-DD/_export_in_progress.json    while an export writes the partition (or once it was killed)
curated/weekly_sales_inventory/yr_wk_num=YYYYWW/part-0.parquet
curated/{store,product,calendar}/part-0.parquet
quarantine/dt=YYYY-MM-DD/<table>.parquet
typed/dt=YYYY-MM-DD/<table>.<fingerprint>[.rejects].parquet   a day's facts parsed and checked row by row
catalog/retailflow.duckdb
dashboard/index.html
_state/triggers/dt=YYYY-MM-DD/<manifest sha256>.json
_state/claims/dt=YYYY-MM-DD/<manifest sha256>/<generation>.json   a scan's claim to trigger that version
_state/lease/writer/<generation>.json   the lake's writer lease: one run at a time (lake/lease.py)
_state/staging/<run id>.json      who owns a run's staging, and until when
_state/scans/dt=YYYY-MM-DD.json
_state/runs/<run id>.json
_staging/<run id>/...             a run's output before it is published (swept when its run is gone)
"""

from __future__ import annotations

import datetime as dt
import re

RAW = "raw"
CURATED = "curated"
QUARANTINE = "quarantine"
TYPED = "typed"
STATE = "_state"
STAGING = "_staging"
MANIFEST_NAME = "_manifest.json"
TMP_PREFIX = "_tmp."  # in-flight files: ignored by every reader, swept by the next writer
WEEKLY_TABLE = "weekly_sales_inventory"
PART_FILE = "part-0.parquet"  # one file per partition: replacing it is a single atomic rename or PUT

_RAW_PARTITION = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


def raw_partition(day: dt.date) -> str:
    return f"{RAW}/dt={day.isoformat()}"


def raw_file(day: dt.date, table: str, gzip: bool = True) -> str:
    return f"{raw_partition(day)}/{table}.csv{'.gz' if gzip else ''}"


def manifest(day: dt.date) -> str:
    return f"{raw_partition(day)}/{MANIFEST_NAME}"


def day_of_raw_partition(name: str) -> dt.date | None:
    """The day of a raw partition folder name like 'dt=2026-11-21' (None for anything else)."""
    match = _RAW_PARTITION.match(name.rstrip("/").rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def triggers(day: dt.date) -> str:
    return f"{STATE}/triggers/dt={day.isoformat()}"


def trigger_record(day: dt.date, manifest_hash: str) -> str:
    return f"{triggers(day)}/{manifest_hash}.json"


def scan_record(day: dt.date) -> str:
    """The latest scan of a day: when, and what it found."""
    return f"{STATE}/scans/dt={day.isoformat()}.json"


def runs() -> str:
    return f"{STATE}/runs"


def run_report(run_id: str) -> str:
    return f"{runs()}/{run_id}.json"


def staging(run_id: str) -> str:
    """Where a run stages its output before publishing it."""
    return f"{STAGING}/{run_id}"


def dashboard() -> str:
    """The self-contained HTML dashboard."""
    return "dashboard/index.html"


def curated_table(table: str) -> str:
    return f"{CURATED}/{table}"


def weekly_partition(yr_wk_num: int) -> str:
    return f"{CURATED}/{WEEKLY_TABLE}/yr_wk_num={yr_wk_num}"


def quarantine_file(day: dt.date, table: str) -> str:
    return f"{QUARANTINE}/dt={day.isoformat()}/{table}.parquet"


def typed_partition(day: dt.date) -> str:
    """The typed zone's folder of one day (transform/typed_zone.py)."""
    return f"{TYPED}/dt={day.isoformat()}"


def typed_file(day: dt.date, table: str, fingerprint: str, rejects: bool = False) -> str:
    return f"{typed_partition(day)}/{table}.{fingerprint}{'.rejects' if rejects else ''}.parquet"


def catalog() -> str:
    return "catalog/retailflow.duckdb"


def is_temporary(name: str) -> bool:
    return name.rsplit("/", 1)[-1].startswith(TMP_PREFIX)


def superset_state() -> str:
    """The local Superset's own folder: its settings, metadata database, admin password, pid and log."""
    return f"{STATE}/superset"


# -- exports in progress, claims and leases (lake/lease.py) -----------------------------------------------

EXPORT_MARKER_NAME = "_export_in_progress.json"  # written first and removed last by `retailflow export`


def export_marker(day: dt.date) -> str:
    """The marker of an export of ``day`` that is in progress, or was interrupted."""
    return f"{raw_partition(day)}/{EXPORT_MARKER_NAME}"


def trigger_claim(day: dt.date, version: str) -> str:
    """The slot (a folder of generation files) a scan claims before it triggers ``day``'s ``version``."""
    return f"{STATE}/claims/dt={day.isoformat()}/{version}"


def writer_lease() -> str:
    """The slot of the lake's writer lease: one run writes the lake at a time."""
    return f"{STATE}/lease/writer"


def staging_owners() -> str:
    return f"{STATE}/staging"


def staging_owner(run_id: str) -> str:
    """Who owns ``_staging/<run id>/`` and until when (the staging sweep leaves live owners' staging alone)."""
    return f"{staging_owners()}/{run_id}.json"


def stage_records(run_id: str) -> str:
    """The records an orchestrated run's tasks hand each other (planned.json, computed.json, ...): kept
    outside ``_staging/`` because publishing removes the staging folder."""
    return f"{STATE}/stages/{run_id}"


def stage_record(run_id: str, stage: str) -> str:
    return f"{stage_records(run_id)}/{stage}.json"


def alerts() -> str:
    """Deadline alerts of orchestrated runs (``retailflow status`` shows them)."""
    return f"{STATE}/alerts"
