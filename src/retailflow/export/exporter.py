"""``retailflow export``: write each day's raw partition.

Per day: the day's sales and inventory and full snapshots of store, product and calendar, as
``<table>.csv.gz``, then ``_manifest.json``. Nothing is visible half-written:
0. ``_export_in_progress.json`` is written first: from now on the partition reads as "export in progress
   or interrupted", never as complete, until step 4 removes it;
1. every file is written under a temporary name (``_tmp.*``, ignored by readers);
2. the old manifest and the old sales file go, so the partition reads as incomplete (never as a
   complete mix of old and new files) while the new files move into place;
3. the four other files are renamed into place, then sales, then the manifest is written;
4. the marker is removed, last.
A failure before step 2 removes the temporary files and the marker (the old partition is untouched); a
failure or a kill after it leaves the marker, so the partition stays "interrupted" until the next export of
that day replaces it. A killed export also leaves stray ``_tmp.*`` files, which that export sweeps.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from retailflow.export.csvfile import write_csv
from retailflow.lake import layout
from retailflow.lake import manifest as manifest_mod
from retailflow.lake.manifest import FileEntry
from retailflow.lake.storage import Lake
from retailflow.redact import redact_url
from retailflow.source.base import Source
from retailflow.tables import ALL_TABLES, DIMENSION_TABLES, FACT_TABLES, SALES


@dataclass(frozen=True)
class ExportResult:
    day: dt.date
    files: dict[str, FileEntry]
    manifest_sha256: str

    @property
    def fact_rows(self) -> int:
        return sum(self.files[f"{t.name}.csv.gz"].rows for t in FACT_TABLES)


def export_days(
    source: Source,
    lake: Lake,
    days: list[dt.date],
    gzip_level: int = 1,
    on_day_done: Callable[[ExportResult], None] | None = None,
    threads: int = 2,
) -> list[ExportResult]:
    source.check(ALL_TABLES)
    lake.ensure_writable()
    # The dimension snapshots are the same for every day of one export: encode them once.
    dims = {}
    for table in DIMENSION_TABLES:
        buffer = io.BytesIO()
        entry = write_csv(source.read_all(table), buffer, gzip_level)
        dims[table.name] = (buffer.getvalue(), entry)
    # Days are independent; DuckDB and zlib release the GIL, so threads use every core.
    results = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(export_day, source, lake, day, dims, gzip_level) for day in days]
        try:
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                if on_day_done:
                    on_day_done(result)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return sorted(results, key=lambda r: r.day)


def export_day(
    source: Source, lake: Lake, day: dt.date, dims: dict[str, tuple[bytes, FileEntry]], gzip_level: int
) -> ExportResult:
    folder = layout.raw_partition(day)
    lake.makedirs(folder)
    lake.sweep_temporaries(folder)
    marker = layout.export_marker(day)
    interrupted_before = lake.exists(marker)  # an earlier export of this day was killed: it stays marked
    lake.write_json(marker, _marker(source, day))
    staged: dict[str, str] = {}  # final name -> temporary name
    entries: dict[str, FileEntry] = {}
    committing = False
    try:
        for table in FACT_TABLES:
            name = f"{table.name}.csv.gz"
            tmp = staged[name] = lake.temp_name(f"{folder}/{name}")
            with lake.open(tmp, "wb") as handle:
                entries[name] = write_csv(source.read_day(table, day), handle, gzip_level)
        for table_name, (data, entry) in dims.items():
            name = f"{table_name}.csv.gz"
            tmp = staged[name] = lake.temp_name(f"{folder}/{name}")
            with lake.open(tmp, "wb") as handle:
                handle.write(data)
            entries[name] = entry

        # Commit: make the partition incomplete, swap files in (sales last), the manifest, then the marker.
        committing = True
        for stale in (layout.MANIFEST_NAME, "sales.csv.gz", "sales.csv"):
            lake.remove(f"{folder}/{stale}")
        for table in ALL_TABLES:
            lake.remove(f"{folder}/{table.name}.csv")  # an outside producer's uncompressed variant
        for name in sorted(staged, key=lambda n: n == f"{SALES.name}.csv.gz"):
            lake.commit(staged[name], f"{folder}/{name}")
            del staged[name]  # only once it is in place: a failed commit's temporary is removed below
        manifest = manifest_mod.build(day, entries, source=redact_url(source.url), exported_at=dt.datetime.now(dt.UTC))
        data = manifest_mod.encode(manifest)
        lake.write_bytes(f"{folder}/{layout.MANIFEST_NAME}", data)
        lake.remove(marker)
        return ExportResult(day=day, files=entries, manifest_sha256=manifest_mod.digest(data))
    except BaseException:
        if not committing and not interrupted_before:
            lake.remove(marker)  # nothing of the partition was touched: it is what it was before
        raise
    finally:
        for tmp in staged.values():
            lake.remove(tmp)


def _marker(source: Source, day: dt.date) -> dict[str, object]:
    """What the in-progress marker says: which export, from where, since when (for whoever finds it)."""
    return {
        "dt": day.isoformat(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "source": redact_url(source.url),
    }
