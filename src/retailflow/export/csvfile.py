"""Writing Arrow batches as the raw zone's CSV: upper-case header, \\N for NULL, gzip, hashed on the fly."""

from __future__ import annotations

import gzip
import hashlib
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from retailflow.lake.manifest import FileEntry
from retailflow.tables import NULL_TOKEN


class _CountingHasher:
    """A write-only file that hashes and counts the (compressed) bytes passing to the real file."""

    def __init__(self, target: BinaryIO):
        self.target = target
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.bytes += view.nbytes
        return self.target.write(view)

    def flush(self) -> None:
        self.target.flush()


def write_csv(batches: pa.RecordBatchReader, target: BinaryIO, gzip_level: int | None) -> FileEntry:
    """Stream batches into ``target`` as CSV (gzipped unless gzip_level is None); return rows/bytes/sha256."""
    hasher = _CountingHasher(target)
    schema = pa.schema([f.with_name(f.name.upper()) for f in batches.schema])
    # mtime=0: identical data gives identical files (and hashes), whenever it is exported.
    stream = gzip.GzipFile(fileobj=hasher, mode="wb", compresslevel=gzip_level, mtime=0) if gzip_level else hasher
    rows = 0
    options = pacsv.WriteOptions(
        include_header=True, null_string=NULL_TOKEN, quoting_style="needed", quoting_header="none"
    )
    with pacsv.CSVWriter(stream, schema, write_options=options) as writer:
        for batch in batches:
            rows += batch.num_rows
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
    if gzip_level:
        stream.close()  # writes the gzip trailer; leaves the target open
    return FileEntry(rows=rows, bytes=hasher.bytes, sha256=hasher.sha256.hexdigest())
