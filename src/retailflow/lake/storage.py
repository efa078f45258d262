"""Lake storage: every read and write of lake paths goes through here (fsspec), so a local folder and
s3://bucket/prefix run the same code. Writes are atomic: data goes to a temporary name in the target
folder and is renamed (locally) or copied into place (object stores, where a PUT is atomic per object).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import fsspec
from fsspec.core import url_to_fs

from retailflow.errors import LakeError
from retailflow.lake.layout import TMP_PREFIX
from retailflow.redact import redact_text, redact_url

if TYPE_CHECKING:
    from retailflow.config import Settings

_LAKE_HINT = "Pass --lake a folder (created on first export) or s3://bucket/prefix, or set RETAILFLOW_LAKE."


def check_lake_url(url: str) -> None:
    """Refuse, with one line, a lake setting that cannot name a lake: empty, blank, padded with spaces, or
    holding a control character (a stray newline from a script, a NUL)."""
    shown = repr(redact_url(url))
    if not url.strip():
        raise LakeError(f"The lake setting is {'empty' if not url else 'blank'} ({shown}).", _LAKE_HINT)
    if url != url.strip():
        raise LakeError(
            f"The lake {shown} starts or ends with whitespace.",
            "Remove the spaces (check the quoting of --lake, RETAILFLOW_LAKE or lake in retailflow.toml).",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise LakeError(f"The lake {shown} contains a control character.", _LAKE_HINT)
    if "://" in url and not url.split("://", 1)[1].strip("/"):
        raise LakeError(f"The lake URL {shown} names no folder or bucket.", _LAKE_HINT)


def normalize_url(url: str) -> str:
    """Local paths become absolute (so engines and the catalog see the same place); URLs stay as they are.
    The local root is resolved once, here: a lake folder reached through a symbolic link is fine, a link
    inside the lake is not (see ``Lake``)."""
    check_lake_url(url)
    if "://" in url and not url.startswith("file://"):
        return url.rstrip("/")
    path = url[len("file://") :] if url.startswith("file://") else url
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError, ValueError) as exc:  # a link loop, a name too long, an unknown ~user
        raise LakeError(f"The lake {path!r} is not a usable path: {exc}.", _LAKE_HINT) from None


S3_SCHEMES = ("s3", "s3a")


def is_s3(url: str) -> bool:
    """Whether a lake URL names S3 (``s3://`` or ``s3a://``)."""
    return "://" in url and url.partition("://")[0].lower() in S3_SCHEMES


def storage_options(settings: Settings, url: str | None = None) -> dict[str, Any]:
    """The fsspec options of the lake ``url`` (default: ``settings.lake``) that come from settings: for an
    S3 lake the endpoint and region of ``aws_endpoint_url`` / ``aws_region`` (retailflow.aws); nothing
    else. Credentials are never options: s3fs (botocore) takes them from the standard AWS chain."""
    url = settings.lake if url is None else url
    if is_s3(url):
        from retailflow.aws import s3_storage_options

        return s3_storage_options(settings)
    return {}


def open_lake(settings: Settings, url: str | None = None) -> Lake:
    """The lake the settings name (or ``url``, with the settings' storage options): the one way every
    command, stage and handler builds a ``Lake`` from settings."""
    url = settings.lake if url is None else url
    return Lake(url, **storage_options(settings, url))


def _base(name: str) -> str:
    """The last component of an fsspec entry's name."""
    return name.rstrip("/").rsplit("/", 1)[-1]


class Lake:
    """A lake root. ``url`` is what is shown and what engines are given: a password or secret query value in
    the URL is ``***`` there (retailflow.redact); the filesystem object holds the real credentials, so a
    path built from ``url`` still opens through it (DuckDB reads through the registered ``fs``).

    Symbolic links: the root may be reached through one (it is resolved once), but a link inside a local
    lake (a raw partition, a file, curated/, _state/...) is refused with one line by every command, because
    the query connection only reads what really lies inside the lake (retailflow.catalog.query).
    """

    def __init__(self, url: str, **storage_options: Any):
        real_url = normalize_url(url)
        self.url = redact_url(real_url)
        self.fs: fsspec.AbstractFileSystem
        try:
            self.fs, self.root = url_to_fs(real_url, **storage_options)
        except ImportError as exc:
            raise LakeError(
                f"The lake {self.url} needs a package that is not installed: {redact_text(str(exc))}.",
                "Install it into retailflow's environment, or choose another --lake.",
            ) from None
        except Exception as exc:  # unknown scheme, bad options, a server that does not answer
            reason = redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            raise LakeError(
                f"Cannot open the lake {self.url}: {reason}.", "Check --lake (a folder or s3://bucket/prefix)."
            ) from None
        self.root = self.root.rstrip("/")
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self._root_checked = False

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
        self.check_root()
        self._check_components(relative, leaf_folder=False)
        return self.fs.exists(self.path(relative))

    def listdir(self, relative: str) -> dict[str, int]:
        """Names and sizes (bytes) of the files directly in a folder; {} when it does not exist."""
        entries = self._entries(relative)
        return {_base(e["name"]): int(e.get("size") or 0) for e in entries if e["type"] == "file"}

    def subdirs(self, relative: str) -> list[str]:
        """Names of the folders directly in a folder, sorted; [] when it does not exist."""
        return sorted(_base(e["name"]) for e in self._entries(relative) if e["type"] == "directory")

    # -- validation: what makes a lake unusable, each as one line -----------------------------------
    def check_root(self) -> None:
        """Raise a LakeError when a local root cannot be a lake: it is a file, lies under a file, or cannot
        be read. A root that does not exist yet is fine (the first export creates it). An object store's
        bucket must exist: retailflow never creates buckets (the stack does, with its settings)."""
        if self._root_checked:
            return
        if not self.is_local:
            self._check_bucket()
            self._root_checked = True
            return
        root = Path(self.root)
        try:
            mode = os.stat(root).st_mode
        except FileNotFoundError:
            return  # not created yet; checked again next time
        except NotADirectoryError:
            blocker = next((p for p in root.parents if p.exists() and not p.is_dir()), root.parent)
            raise LakeError(f"The lake {root} cannot exist: {blocker} is a file, not a folder.", _LAKE_HINT) from None
        except PermissionError:
            raise LakeError(
                f"Cannot reach the lake {root}: permission denied on a folder above it.",
                "Give the user running retailflow access to every folder on the way, or choose another --lake.",
            ) from None
        if not stat.S_ISDIR(mode):
            raise LakeError(f"The lake {root} is a file, not a folder.", _LAKE_HINT)
        if not os.access(root, os.R_OK | os.X_OK):
            raise self._unreadable("")
        self._root_checked = True

    def _check_bucket(self) -> None:
        bucket = self.root.split("/", 1)[0]
        try:
            exists = self.fs.exists(bucket)
        except PermissionError:
            return  # listing buckets may be denied while the lake itself is readable: let the first read tell
        except OSError as exc:
            raise LakeError(
                f"Cannot reach the lake {self.url}: {exc}.", "Check the endpoint, network and credentials."
            ) from None
        if not exists:
            raise LakeError(
                f"The bucket of the lake {self.url} does not exist.",
                "Create it (deploy/aws/template.yaml does, with versioning and encryption), or fix --lake.",
            )

    def _entries(self, relative: str) -> list[dict[str, Any]]:
        """The entries of a folder ([] when it does not exist); links and files-for-folders refused."""
        self.check_root()
        self._check_components(relative, leaf_folder=True)
        path = self.path(relative)
        try:
            entries = self.fs.ls(path, detail=True, refresh=True)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise self._not_a_folder(relative) from None
        except PermissionError:
            raise self._unreadable(relative) from None
        except OSError as exc:
            raise LakeError(
                f"Cannot list {self.uri(relative)}: {redact_text(exc.strerror or str(exc))}.",
                "Check the lake's storage and permissions, then run the command again.",
            ) from None
        if len(entries) == 1 and entries[0]["type"] == "file" and entries[0]["name"].rstrip("/") == path.rstrip("/"):
            raise self._not_a_folder(relative)  # fsspec lists a file as itself
        for entry in entries:
            if entry.get("islink"):
                raise self._symlink(f"{relative}/{_base(entry['name'])}".lstrip("/"))
        return entries

    def _check_components(self, relative: str, leaf_folder: bool) -> None:
        """Local lakes: on the way from the root to ``relative``, refuse a symbolic link, and a file where
        a folder belongs (every component but the last; the last too when ``leaf_folder``)."""
        if not self.is_local or not relative.strip("/"):
            return
        parts = relative.strip("/").split("/")
        for i in range(len(parts)):
            rel = "/".join(parts[: i + 1])
            current = self.path(rel)
            if os.path.islink(current):
                raise self._symlink(rel)
            if not os.path.lexists(current):
                return
            if (i < len(parts) - 1 or leaf_folder) and not os.path.isdir(current):
                raise self._not_a_folder(rel)

    def _not_a_folder(self, relative: str) -> LakeError:
        culprit = relative
        if self.is_local:  # name the component that is a file, not the path below it
            parts = relative.strip("/").split("/")
            culprit = next(
                (
                    "/".join(parts[: i + 1])
                    for i in range(len(parts))
                    if os.path.lexists(self.path("/".join(parts[: i + 1])))
                    and not os.path.isdir(self.path("/".join(parts[: i + 1])))
                ),
                relative,
            )
        return LakeError(
            f"The lake is inconsistent: {self.uri(culprit)} is a file where retailflow keeps a folder.",
            "Move or rename that file (the lake's layout is in README.md, 'The contracts'), then run again.",
        )

    def _symlink(self, relative: str) -> LakeError:
        try:
            target = f" (to {os.readlink(self.path(relative))})"
        except OSError:
            target = ""
        return LakeError(
            f"{self.uri(relative)} is a symbolic link{target}; retailflow does not follow links inside a lake.",
            "Replace the link with the real folder or file (move or copy it into the lake), then run again.",
        )

    def _unreadable(self, relative: str) -> LakeError:
        where = f"the lake folder {self.uri(relative)}" if relative else f"the lake {self.url}"
        return LakeError(
            f"Cannot read {where}: permission denied.",
            "Give the user running retailflow read access (chmod -R u+rX), or choose another --lake.",
        )

    def read_bytes(self, relative: str) -> bytes:
        return self.fs.cat_file(self.path(relative))

    def read_json(self, relative: str) -> Any:
        return json.loads(self.read_bytes(relative))

    def open(self, relative: str, mode: str = "rb") -> BinaryIO:
        return self.fs.open(self.path(relative), mode)

    # -- writing -----------------------------------------------------------------------------------
    def makedirs(self, relative: str) -> None:
        if not self.is_local:  # object stores have no folders (and s3fs would create a missing bucket)
            return
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
        self.check_root()
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
        self.check_root()
        self._check_components("_state", leaf_folder=True)
        probe = f"_state/{TMP_PREFIX}probe-{uuid.uuid4().hex[:8]}"
        try:
            self.makedirs("_state")
            self.fs.pipe_file(self.path(probe), b"")
            self.remove(probe)
        except PermissionError:
            raise self._unwritable("") from None
        except OSError as exc:
            reason = redact_text(exc.strerror or str(exc))
            raise LakeError(f"Cannot write to the lake {self.url}: {reason}.", "Choose a writable --lake.") from None

    def _unwritable(self, relative: str) -> LakeError:
        return LakeError(
            f"Cannot write to the lake at {self.uri(relative)}: permission denied.",
            "Choose a writable --lake (or RETAILFLOW_LAKE), or fix the folder's permissions.",
        )

    # -- exclusive creation: claims and leases (lake/lease.py) ---------------------------------------
    def create_exclusive(self, relative: str, data: bytes) -> bool:
        """Create a file only if nothing has that name yet: True when this call created it, False when it
        existed. Of concurrent callers exactly one gets True, and nobody ever reads it half-written.

        Locally the data is written under a temporary name and hard-linked into place (``link`` fails
        when the name exists, like ``O_EXCL``). On S3 it is a conditional PUT (``If-None-Match: *``,
        s3fs ``mode="create"``); other object stores get fsspec's ``mode="create"``, which is only as
        atomic as the store makes it."""
        self.makedirs(relative.rpartition("/")[0])
        if self.is_local:
            return self._create_exclusive_local(self.path(relative), self.path(self.temp_name(relative)), data)
        return self._create_exclusive_remote(self.path(relative), data)

    @staticmethod
    def _create_exclusive_local(path: str, tmp: str, data: bytes) -> bool:
        import errno
        import os

        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            except OSError as exc:  # a filesystem without hard links: O_EXCL, written in place
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _create_exclusive_remote(self, path: str, data: bytes) -> bool:
        import errno

        try:
            self.fs.pipe_file(path, data, mode="create")
        except FileExistsError:  # s3fs: 412 Precondition Failed on If-None-Match
            return False
        except OSError as exc:
            cause = getattr(getattr(exc, "__cause__", None), "response", None) or {}
            code = cause.get("Error", {}).get("Code", "")
            # 409 ConditionalRequestConflict: another conditional write of the same key won the race.
            if exc.errno == errno.EBUSY or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True
