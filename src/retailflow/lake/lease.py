"""Exclusive, expiring ownership in the lake: the writer lease (one run writes a lake at a time), the scan's
trigger claims (one scan fires each partition version), and the owner records of runs' staging folders.

A *slot* is a folder of generation files, ``<slot>/0000000001.json``, ``0000000002.json``, ...; the highest
generation says who holds the slot. It changes only by creating the next generation with
``Lake.create_exclusive`` (a hard link on a local disk, a conditional PUT on S3), so of two processes that
both find generation n free or stale, exactly one creates n+1 and the other finds the winner and backs off.
Older generations are pruned; a process that recreates a pruned (lower) generation finds a higher one
right after, and backs off too.

A record (JSON):

    state                       "held", or "released" (then ``outcome`` says what came of it)
    owner                       a random id of this acquisition
    purpose                     what holds it: "run <run id>", "scan of 2026-01-05 (local)"
    host, pid, pid_ns, pid_start  the holding process (pid_start guards against a reused pid)
    since, renewed_at, expires_at  ISO times (UTC); ``expires`` is the same as epoch seconds
    process_bound               false for records that outlive their process (a staged, unpublished run)

A held record is live until it expires or, seen from the same host (and pid namespace), until its process
is gone. The holder renews it while it works (``Lease.keep_alive()``: a heartbeat thread, every third of
the time to live). A released, expired or dead holder's slot is taken by the next acquirer, which then
says whom it took over (``Lease.takeover``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from retailflow.errors import LakeError
from retailflow.lake import layout
from retailflow.lake.storage import Lake

HELD = "held"
RELEASED = "released"
_GENERATION = re.compile(r"^(\d{10})\.json$")
_ATTEMPTS = 8  # rounds of one acquisition (each lost only to another acquirer that won)


# -- the process --------------------------------------------------------------------------------------


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


HOST = socket.gethostname()
PID_NS = _pid_namespace()


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a Linux process from /proc; None elsewhere or when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), fields[19].decode()  # fields 3 (state) and 22 (starttime)
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def process_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` of this machine runs (and is the one that started at ``start``)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill would terminate it; only the expiry tells
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, started = stat
    if state in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    return start is None or started == start


def same_machine(record: dict[str, Any]) -> bool:
    return record.get("host") == HOST and record.get("pid_ns") == PID_NS


# -- records ------------------------------------------------------------------------------------------


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def new_record(purpose: str, ttl_s: float, *, process_bound: bool = True, **extra: Any) -> dict[str, Any]:
    """A held record of this process, live for ``ttl_s`` seconds unless renewed."""
    now = time.time()
    pid = os.getpid()
    return {
        "state": HELD,
        "owner": uuid.uuid4().hex,
        "purpose": purpose,
        "host": HOST,
        "pid": pid,
        "pid_ns": PID_NS,
        "pid_start": process_start(pid),
        "since": _iso(now),
        "renewed_at": _iso(now),
        "expires": now + ttl_s,
        "expires_at": _iso(now + ttl_s),
        "ttl_s": ttl_s,
        "process_bound": process_bound,
        **extra,
    }


def renewed(record: dict[str, Any], ttl_s: float) -> dict[str, Any]:
    now = time.time()
    return {**record, "renewed_at": _iso(now), "expires": now + ttl_s, "expires_at": _iso(now + ttl_s)}


def stale_reason(record: dict[str, Any], now: float | None = None) -> str | None:
    """None while ``record`` is live; otherwise why it is not (a phrase: "it expired at ...")."""
    if record.get("state") == RELEASED:
        return "it was released"
    if record.get("state") != HELD:
        return "its record is unreadable"
    try:
        expires = float(record["expires"])
        pid = int(record.get("pid") or 0)
    except (KeyError, TypeError, ValueError):
        return "its record is unreadable"
    if (time.time() if now is None else now) >= expires:
        return f"it expired at {record.get('expires_at') or _iso(expires)}"
    if record.get("process_bound", True) and same_machine(record) and not process_alive(pid, record.get("pid_start")):
        return f"its process (pid {pid} on {record.get('host')}) is gone"
    return None


def read_record(lake: Lake, relative: str) -> dict[str, Any] | None:
    """A single record file (a staging owner); None when absent, a non-live stand-in when unreadable."""
    try:
        raw = lake.read_bytes(relative)
    except FileNotFoundError:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return {"state": "unreadable"}
    return record if isinstance(record, dict) else {"state": "unreadable"}


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class Holder:
    """The live holder of a slot, as its record says."""

    record: dict[str, Any]
    generation: int

    @property
    def purpose(self) -> str:
        return str(self.record.get("purpose") or "an unknown owner")

    @property
    def host(self) -> str:
        return str(self.record.get("host") or "?")

    @property
    def pid(self) -> int:
        try:
            return int(self.record.get("pid") or 0)
        except (TypeError, ValueError):
            return 0

    @property
    def since(self) -> str:
        return str(self.record.get("since") or "?")

    @property
    def expires_at(self) -> str:
        return str(self.record.get("expires_at") or "?")

    def describe(self) -> str:
        return f"{self.purpose} (host {self.host}, pid {self.pid}, since {self.since})"


class SlotBusy(LakeError):
    """A slot is held by a live owner (``holder``)."""

    def __init__(self, holder: Holder, message: str | None = None, hint: str | None = None):
        super().__init__(message or f"Held by {holder.describe()}.", hint)
        self.holder = holder


# -- slots --------------------------------------------------------------------------------------------


def _path(slot: str, generation: int) -> str:
    return f"{slot}/{generation:010d}.json"


def generations(lake: Lake, slot: str) -> list[int]:
    return sorted(int(m.group(1)) for name in lake.listdir(slot) if (m := _GENERATION.match(name)))


def current(lake: Lake, slot: str) -> tuple[int, dict[str, Any] | None]:
    """The slot's highest generation and its record ((0, None) for a slot never taken)."""
    for _ in range(_ATTEMPTS):
        found = generations(lake, slot)
        if not found:
            return 0, None
        record = read_record(lake, _path(slot, found[-1]))
        for _ in range(3):  # only a store without atomic creation shows a record being written: wait for it
            if record is None or record.get("state") != "unreadable":
                break
            time.sleep(0.05)
            record = read_record(lake, _path(slot, found[-1]))
        if record is not None:
            return found[-1], record
        # pruned while we looked (a newer generation exists): look again
    raise LakeError(f"{lake.uri(slot)} changes too fast to be read.", "Try again.")


def _prune(lake: Lake, slot: str, below: int) -> None:
    for generation in generations(lake, slot):
        if generation < below:
            lake.remove(_path(slot, generation))


class Lease:
    """A held slot. ``renew()`` while working (or ``with lease.keep_alive():``), ``release()`` at the end.

    ``lost`` turns true when a renewal finds that another process took the slot over (this one stalled
    past its expiry): the holder should stop writing."""

    def __init__(
        self,
        lake: Lake,
        slot: str,
        generation: int,
        record: dict[str, Any],
        ttl_s: float,
        took_over: Holder | None = None,
        took_over_reason: str | None = None,
    ):
        self.lake, self.slot, self.generation, self.record, self.ttl_s = lake, slot, generation, record, ttl_s
        self.took_over, self.took_over_reason = took_over, took_over_reason
        self.lost = False
        self.released = False
        self._lock = threading.Lock()

    @property
    def takeover(self) -> str | None:
        """What this acquisition replaced, as a clause ("... whose process is gone"), or None."""
        if self.took_over is None:
            return None
        return f"took over from {self.took_over.describe()}: {self.took_over_reason}"

    def annotate(self, **fields: Any) -> None:
        """Add to the record (what the holder turned out to be, e.g. its run id), written at once."""
        with self._lock:
            self.record = {**self.record, **fields}
        self.renew()

    def renew(self) -> bool:
        """Push the expiry ``ttl_s`` ahead; False (and ``lost``) when another process holds the slot now."""
        with self._lock:
            if self.released or self.lost:
                return not self.lost
            if generations(self.lake, self.slot)[-1:] != [self.generation]:
                self.lost = True
                return False
            record = renewed(self.record, self.ttl_s)
            self.lake.write_json(_path(self.slot, self.generation), record)
            self.record = record
            if generations(self.lake, self.slot)[-1:] != [self.generation]:
                self.lost = True
            return not self.lost

    def release(self, outcome: dict[str, Any] | None = None) -> None:
        """Free the slot (the next acquirer takes it at once), recording ``outcome``."""
        with self._lock:
            if self.released:
                return
            self.released = True
            if self.lost:
                return
            now = time.time()
            record = {**self.record, "state": RELEASED, "released_at": _iso(now), "outcome": outcome}
            if self.lake.create_exclusive(_path(self.slot, self.generation + 1), _encode(record)):
                _prune(self.lake, self.slot, below=self.generation + 1)
            else:
                self.lost = True  # taken over meanwhile: that holder's record stays

    @property
    def interval_s(self) -> float:
        return max(self.ttl_s / 3, 0.05)

    @contextlib.contextmanager
    def keep_alive(self, *also: Callable[[], object]) -> Iterator[Lease]:
        """Renew every third of the time to live in a daemon thread while the block runs; ``also`` are
        more renewals to do on each beat (a staging owner record). A storage hiccup is retried at the next
        beat: the time to live allows two missed beats."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.interval_s):
                for renewal in (self.renew, *also):
                    with contextlib.suppress(Exception):
                        renewal()

        thread = threading.Thread(target=beat, name=f"lease {self.slot}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()


def try_acquire(
    lake: Lake, slot: str, purpose: str, ttl_s: float, *, process_bound: bool = True, **extra: Any
) -> Lease | Holder:
    """Take ``slot`` if it is free, released or stale (a Lease), else return its live Holder."""
    for attempt in range(_ATTEMPTS):
        generation, record = current(lake, slot)
        reason = None
        if record is not None:
            reason = stale_reason(record)
            if reason is None:
                return Holder(record, generation)
        mine = new_record(purpose, ttl_s, process_bound=process_bound, **extra)
        target = generation + 1
        if lake.create_exclusive(_path(slot, target), _encode(mine)):
            if generations(lake, slot)[-1] == target:
                stale = record is not None and record.get("state") != RELEASED
                lease = Lease(
                    lake,
                    slot,
                    target,
                    mine,
                    ttl_s,
                    took_over=Holder(record, generation) if stale else None,
                    took_over_reason=reason if stale else None,
                )
                _prune(lake, slot, below=target)
                return lease
            lake.remove(_path(slot, target))  # a pruned generation made again: a newer one exists
        time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))  # lost a race: look again
    raise LakeError(f"Could not take {lake.uri(slot)}: it changed hands {_ATTEMPTS} times meanwhile.", "Try again.")


def acquire(
    lake: Lake,
    slot: str,
    purpose: str,
    ttl_s: float,
    wait_s: float,
    *,
    on_wait: Callable[[Holder], None] | None = None,
    poll_s: float = 1.0,
    **extra: Any,
) -> Lease:
    """Take ``slot``, waiting up to ``wait_s`` seconds for a live holder to release it (or to die, or to
    expire); ``on_wait(holder)`` is called once when waiting starts. Raises SlotBusy when time is up."""
    deadline = time.monotonic() + max(wait_s, 0)
    waiting = False
    while True:
        got = try_acquire(lake, slot, purpose, ttl_s, **extra)
        if isinstance(got, Lease):
            return got
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SlotBusy(got)
        if not waiting and on_wait is not None:
            on_wait(got)
        waiting = True
        time.sleep(min(poll_s * random.uniform(0.8, 1.2), remaining))


# -- the lake's writer lease --------------------------------------------------------------------------


def take_writer_lease(
    lake: Lake,
    purpose: str,
    *,
    ttl_s: float,
    wait_s: float,
    on_wait: Callable[[Holder], None] | None = None,
    **extra: Any,
) -> Lease:
    """The lake's writer lease (one run writes a lake at a time), waiting up to ``wait_s`` for a live
    holder. Raises SlotBusy, one line naming the holder and what to do, when time is up."""
    try:
        return acquire(lake, layout.writer_lease(), purpose, ttl_s, wait_s, on_wait=on_wait, **extra)
    except SlotBusy as busy:
        h = busy.holder
        waited = f" (waited {wait_s:g}s)" if wait_s > 0 else ""
        raise SlotBusy(
            h,
            f"The lake {lake.url} is being written by {h.purpose} on host {h.host}, pid {h.pid}, "
            f"since {h.since}{waited}.",
            "Let it finish and run again, or wait longer with lease_wait_s (RETAILFLOW_LEASE_WAIT_S). If that "
            "process hangs, stop it: a dead holder's lease is taken over at once from its own host, and by any "
            f"host once it expires (at {h.expires_at} unless renewed).",
        ) from None
