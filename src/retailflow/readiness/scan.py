"""The scan of one day: complete -> trigger once (remembered by manifest hash); not complete -> say what
is missing or corrupt; still not complete after the deadline -> an alert."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from retailflow.errors import ExitCode
from retailflow.lake import layout
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
    lake: Lake, day: dt.date, trigger: Trigger, now: dt.datetime, deadline: tuple[int, int] | None = None
) -> ScanOutcome:
    """Scan ``day``'s partition at local time ``now`` (aware, in the business time zone).

    Whatever it finds is recorded as the day's latest scan (``retailflow status`` shows it)."""
    outcome = _scan(lake, day, trigger, now, deadline)
    lake.write_json(
        layout.scan_record(day),
        {"date": day.isoformat(), "scanned_at": now.isoformat(timespec="seconds"), **outcome.as_dict()},
    )
    return outcome


def _scan(
    lake: Lake, day: dt.date, trigger: Trigger, now: dt.datetime, deadline: tuple[int, int] | None
) -> ScanOutcome:
    state = inspect_partition(lake, day)
    if not state.complete:
        message = state.describe() if state.exists else f"{layout.raw_partition(day)} has not arrived yet."
        if deadline and (now.hour, now.minute) >= deadline:
            return ScanOutcome(
                day,
                DEADLINE_MISSED,
                f"ALERT: past the {deadline[0]:02d}:{deadline[1]:02d} deadline and {message[0].lower()}{message[1:]} "
                "Check the nightly export job, then re-run it for this day.",
                state,
            )
        return ScanOutcome(day, NOT_READY, message + " The next scan will look again.", state)

    record_path = layout.trigger_record(day, state.version)
    if trigger.records and lake.exists(record_path):
        previous = lake.read_json(record_path)
        return ScanOutcome(
            day,
            ALREADY_TRIGGERED,
            f"{layout.raw_partition(day)} is unchanged since it was triggered at {previous.get('triggered_at')}: "
            "nothing to do.",
            state,
        )
    details = trigger.fire(day, state.version)
    if not trigger.records:
        return ScanOutcome(day, READY, f"{state.describe()} Trigger '{trigger.name}': nothing started.", state)
    lake.write_json(
        record_path,
        {
            "date": day.isoformat(),
            "version": state.version,
            "trigger": trigger.name,
            "triggered_at": now.isoformat(timespec="seconds"),
            "details": details,
        },
    )
    return ScanOutcome(day, TRIGGERED, f"{state.describe()} Triggered a run ({trigger.name}).", state, details=details)
