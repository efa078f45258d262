"""Reading a raw file's header row: the first line only, through the lake's filesystem."""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass

from retailflow.errors import LakeError
from retailflow.lake.rawformat import map_columns
from retailflow.lake.storage import Lake
from retailflow.tables import Table

HEADER_BYTES = 64 << 10


def read_header(lake: Lake, relative: str) -> list[str]:
    """The column names of a raw CSV file (gzip or plain, BOM or not), without reading the whole file."""
    try:
        with lake.open(relative, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except FileNotFoundError:
        raise LakeError(f"{relative} does not exist.", "Re-export the day.") from None
    if relative.endswith(".gz"):
        try:
            head = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(head, HEADER_BYTES)
        except zlib.error:
            raise LakeError(f"{relative} is not a valid gzip file.", "Re-export the day, or fix the file.") from None
    text = head.decode("utf-8-sig", errors="replace")
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        raise LakeError(f"{relative} has no header row.", "Raw files need a header row naming their columns.")
    return next(csv.reader(io.StringIO(first_line)))


@dataclass(frozen=True)
class HeaderGroup:
    """Raw files with the same header: one engine read covers them all."""

    relatives: list[str]
    n_columns: int
    positions: dict[str, int]  # contract column -> its 0-based position in these files


def group_by_header(lake: Lake, table: Table, relatives: list[str]) -> list[HeaderGroup]:
    """Every engine's raw reader starts here, so all map columns alike: by name (any case, any order,
    extra columns ignored), then read by position. Fails, naming the file, when a column is missing."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for relative in relatives:
        header = tuple(read_header(lake, relative))
        map_columns(table, list(header), relative)
        groups.setdefault(header, []).append(relative)
    out = []
    for header, members in groups.items():
        mapping = map_columns(table, list(header), members[0])
        first_position = {name: i for i, name in reversed(list(enumerate(header)))}
        out.append(HeaderGroup(members, len(header), {c: first_position[mapping[c]] for c in table.column_names}))
    return out
