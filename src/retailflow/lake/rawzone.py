"""The raw zone's completeness rules (a fixed contract, shared by the scan and the transformation).

A partition ``raw/dt=D`` is complete when its five files (``<table>.csv`` or ``<table>.csv.gz``) exist and
are non-empty; a header-only fact file is an empty day, which is valid. When ``_manifest.json`` exists,
every file must match it (bytes and sha256), or the partition is corrupt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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

    @property
    def exists(self) -> bool:
        return bool(self.files) or self.has_manifest

    @property
    def complete(self) -> bool:
        return not self.missing and not self.problems

    def describe(self) -> str:
        where = layout.raw_partition(self.day)
        if self.complete:
            return f"{where} is complete ({'manifest verified' if self.has_manifest else 'no manifest'})."
        parts = []
        if self.missing:
            parts.append("missing " + ", ".join(f"{t}.csv[.gz]" for t in self.missing))
        if self.problems:
            parts.append("corrupt: " + "; ".join(self.problems))
        return f"{where} is not ready: {'; '.join(parts)}."


def inspect_partition(lake: Lake, day: dt.date, verify_hashes: bool = True) -> PartitionState:
    """Check one raw partition against the contract (reads every file once when hashes are verified)."""
    folder = layout.raw_partition(day)
    listing = {name: size for name, size in lake.listdir(folder).items() if not layout.is_temporary(name)}
    state = PartitionState(day=day)

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

    if layout.MANIFEST_NAME in listing:
        state.has_manifest = True
        raw = lake.read_bytes(f"{folder}/{layout.MANIFEST_NAME}")
        state.version = manifest_mod.digest(raw)
        try:
            entries = manifest_mod.parse(raw)
        except ValueError as exc:
            state.problems.append(f"{layout.MANIFEST_NAME} is unreadable ({exc})")
            return state
        for name, entry in entries.items():
            if name not in listing:
                state.problems.append(f"{name} is listed in the manifest but absent")
            elif listing[name] != entry.bytes:
                state.problems.append(f"{name} has {listing[name]} bytes, the manifest says {entry.bytes}")
            elif verify_hashes and file_sha256(lake, f"{folder}/{name}") != entry.sha256:
                state.problems.append(f"{name} does not match its sha256 in the manifest")
        for name in state.files.values():
            if name not in entries:
                state.problems.append(f"{name} is not in the manifest")
    elif state.complete:
        # No manifest (an outside producer): the partition's version is the hash of its files' hashes.
        lines = sorted(f"{name}:{file_sha256(lake, f'{folder}/{name}')}" for name in state.files.values())
        state.version = manifest_mod.digest("\n".join(lines).encode())
    return state


def file_sha256(lake: Lake, relative: str) -> str:
    digest = hashlib.sha256()
    with lake.open(relative, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def raw_days(lake: Lake) -> list[dt.date]:
    """The days that have a raw partition folder, oldest first."""
    days = (layout.day_of_raw_partition(name) for name in lake.subdirs(layout.RAW))
    return sorted(d for d in days if d is not None)
