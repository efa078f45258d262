"""The raw zone's completeness rules (a fixed contract, shared by the scan, the transformation and status).

A partition ``raw/dt=D`` is complete when its five files (``<table>.csv`` or ``<table>.csv.gz``) exist and
are non-empty (a header-only fact file is an empty day, which is valid), no export of it is in progress or
was interrupted (``_export_in_progress.json``), and its ``_manifest.json`` exists and every file matches it
(bytes and sha256; a mismatch is corrupt). A partition without a manifest is an interrupted export or an
outside producer's (a Snowflake ``COPY INTO``): it counts as complete only where the ``allow_manifestless``
setting says that outside producers write this lake.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from dataclasses import dataclass, field

from retailflow.lake import layout
from retailflow.lake import manifest as manifest_mod
from retailflow.lake.storage import Lake
from retailflow.tables import ALL_TABLES

HASH_CHUNK = 4 << 20


@dataclass
class PartitionState:
    day: dt.date
    files: dict[str, str] = field(default_factory=dict)  # table -> file name in the partition
    missing: list[str] = field(default_factory=list)  # tables with no file
    problems: list[str] = field(default_factory=list)  # human-readable reasons the partition is corrupt
    has_manifest: bool = False
    version: str | None = None  # sha256 of the manifest (or of the files, when there is none)
    export_in_progress: bool = False  # an export's marker: it is writing the partition, or was killed
    manifestless_allowed: bool = False  # the allow_manifestless setting this partition was judged by
    rows: dict[str, int] | None = None  # table -> data rows its manifest records (None: no manifest)

    @property
    def exists(self) -> bool:
        return bool(self.files) or self.has_manifest or self.export_in_progress

    @property
    def lacks_manifest(self) -> bool:
        """All five files are there, but no manifest, and the settings do not accept that."""
        return (
            not self.missing
            and not self.problems
            and not self.has_manifest
            and not self.export_in_progress
            and not self.manifestless_allowed
        )

    @property
    def complete(self) -> bool:
        return not self.missing and not self.problems and not self.export_in_progress and not self.lacks_manifest

    def describe(self) -> str:
        where = layout.raw_partition(self.day)
        if self.complete:
            return f"{where} is complete ({'manifest verified' if self.has_manifest else 'no manifest'})."
        if self.export_in_progress:
            return (
                f"{where} is not ready: export in progress or interrupted ({layout.EXPORT_MARKER_NAME} is there): "
                "if no export of this day is running, re-export the day (retailflow export --date ...)."
            )
        if self.lacks_manifest:
            return (
                f"{where} is not ready: it has all five files but no {layout.MANIFEST_NAME}, which retailflow "
                "export writes last, so it may be an interrupted export. Re-export the day, or, if an outside "
                "producer writes this lake without manifests, set allow_manifestless = true "
                "(RETAILFLOW_ALLOW_MANIFESTLESS=true)."
            )
        parts = []
        if self.missing:
            parts.append("missing " + ", ".join(f"{t}.csv[.gz]" for t in self.missing))
        if self.problems:
            parts.append("corrupt: " + "; ".join(self.problems))
        return f"{where} is not ready: {'; '.join(parts)}."


def inspect_partition(
    lake: Lake, day: dt.date, verify_hashes: bool = True, *, allow_manifestless: bool = False
) -> PartitionState:
    """Check one raw partition against the contract (reads every file once when hashes are verified).

    ``allow_manifestless``: whether a partition with all its files and no manifest is complete (an outside
    producer's); off, it is not, since an export killed before its manifest leaves just that."""
    folder = layout.raw_partition(day)
    listing = {name: size for name, size in lake.listdir(folder).items() if not layout.is_temporary(name)}
    state = PartitionState(day=day, manifestless_allowed=allow_manifestless)
    state.export_in_progress = layout.EXPORT_MARKER_NAME in listing

    for table in ALL_TABLES:
        present = [n for n in (f"{table.name}.csv.gz", f"{table.name}.csv") if n in listing]
        if not present:
            state.missing.append(table.name)
        elif len(present) > 1:
            state.problems.append(f"both {present[0]} and {present[1]} exist (remove one)")
        elif listing[present[0]] == 0:
            state.problems.append(f"{present[0]} is empty (0 bytes)")
        else:
            state.files[table.name] = present[0]

    try:
        _check_manifest(lake, state, folder, listing, verify_hashes)
    except FileNotFoundError:  # a file went away while it was read: an export is replacing the partition
        state.export_in_progress = True
    return state


def _check_manifest(lake: Lake, state: PartitionState, folder: str, listing: dict[str, int], verify_hashes: bool):
    if layout.MANIFEST_NAME in listing:
        state.has_manifest = True
        raw = lake.read_bytes(f"{folder}/{layout.MANIFEST_NAME}")
        state.version = manifest_mod.digest(raw)
        verify = verify_hashes and not state.export_in_progress  # not complete anyway: spare the reads
        try:
            entries = manifest_mod.parse(raw)
        except ValueError as exc:
            state.problems.append(f"{layout.MANIFEST_NAME} is unreadable ({exc})")
            return
        by_file = {name: table for table, name in state.files.items()}
        state.rows = {by_file[name]: entry.rows for name, entry in entries.items() if name in by_file}
        for name, entry in entries.items():
            if name not in listing:
                state.problems.append(f"{name} is listed in the manifest but absent")
            elif listing[name] != entry.bytes:
                state.problems.append(f"{name} has {listing[name]} bytes, the manifest says {entry.bytes}")
            elif verify and file_sha256(lake, f"{folder}/{name}") != entry.sha256:
                state.problems.append(f"{name} does not match its sha256 in the manifest")
        for name in state.files.values():
            if name not in entries:
                state.problems.append(f"{name} is not in the manifest")
    elif state.complete:
        # No manifest (an outside producer, allowed): the partition's version is the hash of its files' hashes.
        # Nothing vouches for the files' ends, so each gzip stream must end with its trailer (CRC and length):
        # a file cut at a row boundary would otherwise read as a shorter, valid file.
        lines = []
        for name in sorted(state.files.values()):
            sha, problem = file_sha256_checked(lake, f"{folder}/{name}")
            if problem:
                state.problems.append(f"{name} {problem} (re-deliver it)")
            lines.append(f"{name}:{sha}")
        if not state.problems:
            state.version = manifest_mod.digest("\n".join(lines).encode())


def file_sha256(lake: Lake, relative: str) -> str:
    return file_sha256_checked(lake, relative, check_gzip=False)[0]


def file_sha256_checked(lake: Lake, relative: str, check_gzip: bool = True) -> tuple[str, str | None]:
    """The file's sha256 and, for a .gz file, what is wrong with its gzip stream (None when it is whole):
    one read of the file does both."""
    digest = hashlib.sha256()
    gzip_check = GzipCheck() if check_gzip and relative.endswith(".gz") else None
    with lake.open(relative, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            if gzip_check:
                gzip_check.feed(chunk)
    return digest.hexdigest(), gzip_check.problem() if gzip_check else None


class GzipCheck:
    """Decompresses a gzip stream (all its members) only to check it: it must end exactly with a member's
    trailer, whose CRC-32 and length zlib verifies. Output is discarded a bounded piece at a time."""

    OUTPUT_STEP = 1 << 20

    def __init__(self) -> None:
        self._stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._error: str | None = None
        self._bytes_in = 0

    def feed(self, data: bytes) -> None:
        self._bytes_in += len(data)
        while data and self._error is None:
            if self._stream.eof:  # the next member of a multi-member file
                self._stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            try:
                self._stream.decompress(data, self.OUTPUT_STEP)
            except zlib.error as exc:
                self._error = f"is not a valid gzip file ({exc})"
                return
            data = self._stream.unconsumed_tail or self._stream.unused_data

    def problem(self) -> str | None:
        if self._error:
            return self._error
        if not self._stream.eof:
            return "is cut short: its gzip stream ends without its trailer"
        return None


def raw_days(lake: Lake) -> list[dt.date]:
    """The days that have a raw partition folder, oldest first."""
    days = (layout.day_of_raw_partition(name) for name in lake.subdirs(layout.RAW))
    return sorted(d for d in days if d is not None)
