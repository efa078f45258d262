"""``retailflow scan``: is a day's raw partition complete? Trigger its run once
(retailflow.readiness does the work). Exits with the scan's code: 0, 3 not ready, 4 deadline missed."""

from __future__ import annotations

import datetime as dt
import json

import click

from retailflow import console
from retailflow.cli.options import date_option, from_option, lake_option, settings_of, to_option
from retailflow.config import TRIGGERS
from retailflow.dates import resolve_days
from retailflow.errors import ExitCode, RetailflowError


@click.command()
@lake_option
@date_option
@from_option
@to_option
@click.option("--deadline", help="HH:MM in the business time zone; not ready after it is an alert (exit 4).")
@click.option("--trigger", type=click.Choice(TRIGGERS), help="What a ready day triggers [default: local].")
@click.option("--now", "now_text", hidden=True, help="Pretend the local time is this ISO datetime (tests, drills).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (what the Lambda returns).")
@click.pass_context
def scan(ctx, lake, date, date_from, date_to, deadline, trigger, now_text, as_json):
    """Check whether a day's raw partition is complete, and trigger its run once.

    \b
    Without --date it checks the business day that just ended (see scan_days_back).
    Exit codes: 0 triggered or nothing to do, 3 not ready yet, 4 not ready after --deadline (alert).
    A partition is triggered once per manifest: scanning it again does nothing until it is re-exported.
    """
    from zoneinfo import ZoneInfo

    from rich.text import Text

    from retailflow.lake.storage import open_lake
    from retailflow.readiness.handler import run_scan

    settings = settings_of(ctx, lake=lake, deadline=deadline, trigger=trigger)
    now = None
    if now_text:
        try:
            now = dt.datetime.fromisoformat(now_text)
        except ValueError:
            raise RetailflowError(f"--now {now_text!r} is not an ISO datetime.") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=ZoneInfo(settings.timezone))
    days = resolve_days(date, date_from, date_to, allow_none=True) or [None]
    lake_obj = open_lake(settings)
    worst = ExitCode.OK
    for day in days:
        outcome = run_scan(settings, day=day, now=now, lake=lake_obj)
        if as_json:
            console.out.print_json(json.dumps(outcome.as_dict()))
        elif outcome.exit_code == ExitCode.OK:
            console.success(outcome.message)
        else:
            alert = outcome.exit_code == ExitCode.DEADLINE_MISSED
            console.info(Text(outcome.message, style="red" if alert else ""))
        worst = max(worst, outcome.exit_code)
    ctx.exit(int(worst))
