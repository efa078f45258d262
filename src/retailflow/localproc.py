"""Helpers for the local servers retailflow starts (Superset, Airflow): private files, a free port on the
loopback interface, and processes identified beyond their pid.

A pid alone names a process only while it lives: once it exits, the kernel may give the number to another
one. So a started process is recorded as (pid, start time) — the start time in clock ticks since boot, from
``/proc/<pid>/stat`` — and a recorded process is signalled only while both still match. Where there is no
``/proc`` (macOS) the start time is None and the pid has to do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

HOST = "127.0.0.1"  # loopback only
TMP_PREFIX = "_tmp."  # in-flight files, as retailflow.lake.layout.TMP_PREFIX (not imported: it loads the lake)


# -- private files ------------------------------------------------------------------------------------


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable in between)."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def private_dir(path: Path) -> Path:
    """Create the folder (and its parents) if needed; make it readable by its owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


# -- ports --------------------------------------------------------------------------------------------


def port_free(port: int, host: str = HOST) -> bool:
    """Nothing listens on host:port (a server binding it with SO_REUSEADDR would succeed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# -- processes ----------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3, the state, first); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[-1].split()


def has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot), None if it is gone or there is no /proc."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 of stat


def is_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    if has_proc():
        fields = _stat_fields(pid)
        return fields is not None and fields[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def same_process(pid: int, started: int | None) -> bool:
    """The process recorded as (pid, start time) still runs: alive, and not a later process given its pid."""
    if not is_alive(pid):
        return False
    if started is None or not has_proc():
        return True
    return start_time(pid) == started


def process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is not None:
        return int(fields[2])  # field 5 of stat
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def pids_with_env(name: str, value: str) -> list[int]:
    """Live processes (of this user: others' environments are unreadable) whose environment holds
    ``name=value``. Empty without /proc."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in _proc_pids():
        if entry == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0") and is_alive(entry):
            found.append(entry)
    return found


def _proc_pids() -> Iterator[int]:
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                yield int(entry)


def signal_group(pid: int, started: int | None, sig: int) -> bool:
    """Send sig to the process group led by the recorded process, if that process still runs and leads its
    group; else to nothing. True if sent."""
    if not same_process(pid, started):
        return False
    try:
        if process_group(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def descendants(pids: Iterable[int]) -> list[tuple[int, int | None]]:
    """Every live descendant of these processes, as (pid, start time), found through the parent pids of
    /proc (empty without it). A process that renames itself (setproctitle) may have overwritten its
    environment: its parent still names it."""
    children: dict[int, list[int]] = {}
    for pid in _proc_pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(pid)  # field 4 of stat: the parent
    found, todo = [], list(pids)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in (p for p, _ in found):
                found.append((child, start_time(child)))
                todo.append(child)
    return found


def _signal(pid: int, started: int | None, sig: int) -> None:
    if same_process(pid, started):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_all(
    groups: Iterable[tuple[int, int | None]],
    marker: tuple[str, str] | None = None,
    timeout: float = 20.0,
    reap=None,
) -> None:
    """Stop recorded processes and everything they started: SIGTERM to each recorded (pid, start time)'s
    process group and to each of its descendants (some leave the group), then after ``timeout`` SIGKILL to
    those, and to every process still carrying the ``marker`` environment variable (name, value). A recorded
    pid whose start time no longer matches is another process: never signalled. ``reap()``, if given,
    collects exited children of this process (so they do not linger as zombies)."""
    groups = [(pid, started) for pid, started in groups if same_process(pid, started)]
    tree = descendants(pid for pid, _ in groups)  # before any signal: a parent that exits orphans its children

    def marked() -> list[tuple[int, int | None]]:
        return [(pid, start_time(pid)) for pid in pids_with_env(*marker)] if marker is not None else []

    def left() -> list[int]:
        if reap is not None:
            reap()
        return sorted({pid for pid, started in groups + tree + marked() if same_process(pid, started)})

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        for pid, started in groups:
            signal_group(pid, started, sig)
        for pid, started in tree + marked():
            _signal(pid, started, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not left():
                return
            time.sleep(0.2)
    remaining = left()
    if remaining:
        raise OSError(f"processes {', '.join(map(str, remaining))} did not stop")


def rss_bytes(pids: Iterable[int]) -> int:
    """The resident memory of these processes together (0 without /proc)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total
