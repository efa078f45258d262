"""Lake storage: every read and write of lake paths goes through here (fsspec), so a local folder and
s3://bucket/prefix run the same code. Writes are atomic: data goes to a temporary name in the target
folder and is renamed (locally) or copied into place (object stores, where a PUT is atomic per object).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
from fsspec.core import url_to_fs

from retailflow.errors import LakeError
from retailflow.lake.layout import TMP_PREFIX


def normalize_url(url: str) -> str:
    """Local paths become absolute (so engines and the catalog see the same place); URLs stay as they are."""
    if "://" in url and not url.startswith("file://"):
        return url.rstrip("/")
    path = url[len("file://") :] if url.startswith("file://") else url
    return str(Path(path).expanduser().resolve())


class Lake:
    def __init__(self, url: str, **storage_options: Any):
        self.url = normalize_url(url)
        self.fs: fsspec.AbstractFileSystem
        self.fs, self.root = url_to_fs(self.url, **storage_options)
        self.root = self.root.rstrip("/")
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    # -- paths -------------------------------------------------------------------------------------
    def path(self, relative: str = "") -> str:
        """The filesystem path (no protocol) of a lake-relative path."""
        return f"{self.root}/{relative}".rstrip("/") if relative else self.root

    def uri(self, relative: str = "") -> str:
        """The full URL of a lake-relative path, as an engine (DuckDB, Spark) wants it."""
        if self.is_local:
            return self.path(relative)
        return f"{self.url}/{relative}".rstrip("/") if relative else self.url

    # -- reading -----------------------------------------------------------------------------------
    def exists(self, relative: str) -> bool:
        return self.fs.exists(self.path(relative))

    def listdir(self, relative: str) -> dict[str, int]:
        """Names and sizes (bytes) of the files directly in a folder; {} when it does not exist."""
        try:
            entries = self.fs.ls(self.path(relative), detail=True, refresh=True)
        except FileNotFoundError:
            return {}
        return {
            e["name"].rstrip("/").rsplit("/", 1)[-1]: int(e.get("size") or 0) for e in entries if e["type"] == "file"
        }

    def subdirs(self, relative: str) -> list[str]:
        try:
            entries = self.fs.ls(self.path(relative), detail=True, refresh=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory")

    def read_bytes(self, relative: str) -> bytes:
        return self.fs.cat_file(self.path(relative))

    def read_json(self, relative: str) -> Any:
        return json.loads(self.read_bytes(relative))

    def open(self, relative: str, mode: str = "rb") -> BinaryIO:
        return self.fs.open(self.path(relative), mode)

    # -- writing -----------------------------------------------------------------------------------
    def makedirs(self, relative: str) -> None:
        try:
            self.fs.makedirs(self.path(relative), exist_ok=True)
        except PermissionError:
            raise self._unwritable(relative) from None
        except OSError as exc:
            raise LakeError(f"Cannot create {self.uri(relative)}: {exc.strerror or exc}.") from None

    def temp_name(self, relative: str) -> str:
        """A temporary sibling of a lake path: same folder, so the final rename stays within it."""
        folder, _, name = relative.rpartition("/")
        return (
            f"{folder}/{TMP_PREFIX}{uuid.uuid4().hex[:12]}.{name}"
            if folder
            else f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}.{name}"
        )

    @contextlib.contextmanager
    def atomic_writer(self, relative: str) -> Iterator[BinaryIO]:
        """Write a file under a temporary name, then move it into place; on error nothing is left behind."""
        self.makedirs(relative.rpartition("/")[0])  # "" is the root itself
        tmp = self.temp_name(relative)
        try:
            with self.fs.open(self.path(tmp), "wb") as handle:
                yield handle
            self.commit(tmp, relative)
        except PermissionError:
            self.remove(tmp)
            raise self._unwritable(relative) from None
        except BaseException:
            self.remove(tmp)
            raise

    def write_bytes(self, relative: str, data: bytes) -> None:
        with self.atomic_writer(relative) as handle:
            handle.write(data)

    def write_json(self, relative: str, value: Any) -> None:
        self.write_bytes(relative, (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode())

    def commit(self, tmp: str, relative: str) -> None:
        """Move a finished temporary file to its final name (an atomic replace on local disks)."""
        self.fs.mv(self.path(tmp), self.path(relative))

    def remove(self, relative: str, recursive: bool = False) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(relative), recursive=recursive)

    def sweep_temporaries(self, folder: str) -> None:
        """Remove what an interrupted writer left in a folder."""
        for name in self.listdir(folder):
            if name.startswith(TMP_PREFIX):
                self.remove(f"{folder}/{name}")

    def ensure_writable(self) -> None:
        """Fail early, with a clear message, when the lake cannot be written."""
        probe = f"_state/{TMP_PREFIX}probe-{uuid.uuid4().hex[:8]}"
        try:
            self.makedirs("_state")
            self.fs.pipe_file(self.path(probe), b"")
            self.remove(probe)
        except PermissionError:
            raise self._unwritable("") from None
        except (OSError, NotADirectoryError) as exc:
            if isinstance(exc, LakeError):
                raise
            raise LakeError(f"Cannot write to the lake {self.url}: {exc}.", "Choose a writable --lake.") from None

    def _unwritable(self, relative: str) -> LakeError:
        return LakeError(
            f"Cannot write to the lake at {self.uri(relative)}: permission denied.",
            "Choose a writable --lake (or RETAILFLOW_LAKE), or fix the folder's permissions.",
        )
