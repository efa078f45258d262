"""The scan of one day: complete -> trigger once (remembered by manifest hash); not complete -> say what
is missing or corrupt; still not complete after the deadline -> an alert.

Exactly once, also when scans overlap (two schedulers, a retried Lambda): before firing, a scan claims the
partition version (``_state/claims/dt=D/<version>/``, lake/lease.py: an exclusive create, so of two scans
only one gets it), re-checks the trigger record, fires, records the trigger, then releases the claim with
its outcome. A scan that finds a live claim says so (``in_progress``, exit 0) and fires nothing. A claim
whose scan died (its process is gone, seen from its host, or its claim expired) is taken over by the next
scan, which fires and says whom it took over from. A scan killed between firing and recording leaves a
claim that is taken over and fired again: at least once, then, rather than never.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from retailflow.errors import ExitCode
from retailflow.lake import layout, lease, state
from retailflow.lake.rawzone import PartitionState, inspect_partition
from retailflow.lake.storage import Lake
from retailflow.readiness.triggers import Trigger

TRIGGERED = "triggered"
ALREADY_TRIGGERED = "already_triggered"
IN_PROGRESS = "in_progress"  # another scan holds the claim and is triggering it right now
READY = "ready"  # complete, but the trigger does not record (trigger 'none')
NOT_READY = "not_ready"
DEADLINE_MISSED = "deadline_missed"


@dataclass
class ScanOutcome:
    day: dt.date
    status: str
    message: str
    partition: PartitionState
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        return {NOT_READY: ExitCode.NOT_READY, DEADLINE_MISSED: ExitCode.DEADLINE_MISSED}.get(self.status, ExitCode.OK)

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "status": self.status,
            "message": self.message,
            "missing": self.partition.missing,
            "problems": self.partition.problems,
            "version": self.partition.version,
            "exit_code": int(self.exit_code),
            **({"details": self.details} if self.details else {}),
        }


CLAIM_TTL_S = 120.0  # the default; settings.lease_ttl_s


def scan_day(
    lake: Lake,
    day: dt.date,
    trigger: Trigger,
    now: dt.datetime,
    deadline: dt.time | None = None,
    *,
    allow_manifestless: bool = False,
    claim_ttl_s: float = CLAIM_TTL_S,
) -> ScanOutcome:
    """Scan ``day``'s partition at local time ``now`` (aware, in the business time zone).

    ``allow_manifestless``: a partition without a manifest may be complete (settings.allow_manifestless);
    ``claim_ttl_s``: how long the trigger claim lives without renewal (settings.lease_ttl_s).
    Whatever it finds is recorded as the day's latest scan (``retailflow status`` shows it)."""
    outcome = _scan(lake, day, trigger, now, deadline, allow_manifestless, claim_ttl_s)
    state.save_scan(
        lake, day, {"date": day.isoformat(), "scanned_at": now.isoformat(timespec="seconds"), **outcome.as_dict()}
    )
    return outcome


def _scan(
    lake: Lake,
    day: dt.date,
    trigger: Trigger,
    now: dt.datetime,
    deadline: dt.time | None,
    allow_manifestless: bool,
    claim_ttl_s: float,
) -> ScanOutcome:
    partition = inspect_partition(lake, day, allow_manifestless=allow_manifestless)
    if not partition.complete:
        message = partition.describe() if partition.exists else f"{layout.raw_partition(day)} has not arrived yet."
        if deadline is not None and (now.hour, now.minute) >= (deadline.hour, deadline.minute):
            return ScanOutcome(
                day,
                DEADLINE_MISSED,
                f"ALERT: past the {deadline:%H:%M} deadline and {message[0].lower()}{message[1:]} "
                "Check the nightly export job, then re-run it for this day.",
                partition,
            )
        return ScanOutcome(day, NOT_READY, message + " The next scan will look again.", partition)

    if not trigger.records:
        trigger.fire(day, partition.version)
        return ScanOutcome(day, READY, f"{partition.describe()} Trigger '{trigger.name}': nothing started.", partition)
    if (previous := state.load_trigger(lake, day, partition.version)) is not None:
        return _already_triggered(day, partition, previous)

    claim = lease.try_acquire(
        lake, layout.trigger_claim(day, partition.version), f"a scan of {day} ({trigger.name})", claim_ttl_s
    )
    if isinstance(claim, lease.Holder):
        return ScanOutcome(
            day,
            IN_PROGRESS,
            f"{layout.raw_partition(day)} is being triggered right now by {claim.describe()}: nothing to do. "
            f"If that scan dies, a later scan takes over (its claim expires at {claim.expires_at} unless renewed).",
            partition,
            details={"claimed_by": _holder(claim)},
        )
    try:
        with claim.keep_alive():
            # Another scan may have fired and recorded it between our look and our claim.
            previous = state.load_trigger(lake, day, partition.version)
            if previous is None:
                details = trigger.fire(day, partition.version)
                record = {
                    "date": day.isoformat(),
                    "version": partition.version,
                    "trigger": trigger.name,
                    "triggered_at": now.isoformat(timespec="seconds"),
                    "details": details,
                }
                if claim.takeover:
                    record["claim"] = {"took_over": _holder(claim.took_over), "reason": claim.took_over_reason}
                state.save_trigger(lake, day, partition.version, record)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # released, the next scan retries at once; else once it expires
            claim.release({"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise
    claim.release({"status": TRIGGERED if previous is None else ALREADY_TRIGGERED})
    if previous is not None:
        return _already_triggered(day, partition, previous)
    took_over = f" It {claim.takeover}." if claim.takeover else ""
    return ScanOutcome(
        day,
        TRIGGERED,
        f"{partition.describe()} Triggered a run ({trigger.name}).{took_over}",
        partition,
        details=details,
    )


def _already_triggered(day: dt.date, partition: PartitionState, previous: dict[str, Any]) -> ScanOutcome:
    return ScanOutcome(
        day,
        ALREADY_TRIGGERED,
        f"{layout.raw_partition(day)} is unchanged since it was triggered at {previous.get('triggered_at')}: "
        "nothing to do.",
        partition,
    )


def _holder(holder: lease.Holder | None) -> dict[str, Any]:
    if holder is None:
        return {}
    return {"purpose": holder.purpose, "host": holder.host, "pid": holder.pid, "since": holder.since}
