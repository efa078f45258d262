"""The scan of one day: complete -> trigger once (remembered by manifest hash); not complete -> say what
is missing or corrupt; still not complete after the deadline -> an alert."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from retailflow.errors import ExitCode
from retailflow.lake import layout, state
from retailflow.lake.rawzone import PartitionState, inspect_partition
from retailflow.lake.storage import Lake
from retailflow.readiness.triggers import Trigger

TRIGGERED = "triggered"
ALREADY_TRIGGERED = "already_triggered"
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


def scan_day(
    lake: Lake, day: dt.date, trigger: Trigger, now: dt.datetime, deadline: dt.time | None = None
) -> ScanOutcome:
    """Scan ``day``'s partition at local time ``now`` (aware, in the business time zone).

    Whatever it finds is recorded as the day's latest scan (``retailflow status`` shows it)."""
    outcome = _scan(lake, day, trigger, now, deadline)
    state.save_scan(
        lake, day, {"date": day.isoformat(), "scanned_at": now.isoformat(timespec="seconds"), **outcome.as_dict()}
    )
    return outcome


def _scan(lake: Lake, day: dt.date, trigger: Trigger, now: dt.datetime, deadline: dt.time | None) -> ScanOutcome:
    partition = inspect_partition(lake, day)
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

    previous = state.load_trigger(lake, day, partition.version) if trigger.records else None
    if previous is not None:
        return ScanOutcome(
            day,
            ALREADY_TRIGGERED,
            f"{layout.raw_partition(day)} is unchanged since it was triggered at {previous.get('triggered_at')}: "
            "nothing to do.",
            partition,
        )
    details = trigger.fire(day, partition.version)
    if not trigger.records:
        return ScanOutcome(day, READY, f"{partition.describe()} Trigger '{trigger.name}': nothing started.", partition)
    state.save_trigger(
        lake,
        day,
        partition.version,
        {
            "date": day.isoformat(),
            "version": partition.version,
            "trigger": trigger.name,
            "triggered_at": now.isoformat(timespec="seconds"),
            "details": details,
        },
    )
    return ScanOutcome(
        day, TRIGGERED, f"{partition.describe()} Triggered a run ({trigger.name}).", partition, details=details
    )
