"""Reading a raw file's header row: the first line only, through the lake's filesystem."""

from __future__ import annotations

import csv
import io
import zlib

from retailflow.errors import LakeError
from retailflow.lake.storage import Lake

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
