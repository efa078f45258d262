"""The raw partition's ``_manifest.json``: each file's rows, bytes and sha256, and the export time.

Format (version 1):
    {"format": "retailflow-raw-manifest/1", "dt": "2026-11-21", "exported_at": "...Z", "source": "...",
     "files": {"sales.csv.gz": {"rows": 123, "bytes": 4567, "sha256": "..."}, ...}}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from retailflow.redact import redact_url

FORMAT = "retailflow-raw-manifest/1"


@dataclass(frozen=True)
class FileEntry:
    rows: int
    bytes: int
    sha256: str


def build(day: dt.date, files: dict[str, FileEntry], source: str, exported_at: dt.datetime) -> dict[str, Any]:
    """The manifest of a partition. ``source`` is recorded redacted (no password or secret parameter
    reaches the lake), whatever the caller passes."""
    return {
        "format": FORMAT,
        "dt": day.isoformat(),
        "exported_at": exported_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "source": redact_url(source),
        "files": {name: {"rows": e.rows, "bytes": e.bytes, "sha256": e.sha256} for name, e in sorted(files.items())},
    }


def encode(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse(data: bytes) -> dict[str, FileEntry]:
    """The file entries of a manifest; raises ValueError when it is not a manifest we can read."""
    doc = json.loads(data)
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        raise ValueError("no 'files' object")
    out = {}
    for name, entry in files.items():
        try:
            out[name] = FileEntry(int(entry["rows"]), int(entry["bytes"]), str(entry["sha256"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"entry for {name} lacks rows/bytes/sha256") from None
    return out
