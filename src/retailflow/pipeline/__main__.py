"""One pipeline stage in its own process, as an orchestrator's task runs it.

    python -m retailflow.pipeline plan --date 2026-01-05 > planned.json
    python -m retailflow.pipeline compute < planned.json > computed.json
    python -m retailflow.pipeline check   < computed.json > checked.json
    python -m retailflow.pipeline publish < checked.json > published.json
    python -m retailflow.pipeline catalog
    python -m retailflow.pipeline report  < planned.json [published.json ...]

Settings come from retailflow.toml and RETAILFLOW_* (RETAILFLOW_LAKE, RETAILFLOW_ENGINE, ...). Each stage
reads the previous stage's record (JSON) on stdin and writes its own on stdout; nothing else is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from retailflow.config import load_settings
from retailflow.errors import RetailflowError
from retailflow.pipeline import records, stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retailflow.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=["plan", "compute", "check", "publish", "catalog", "report"])
    parser.add_argument("--date")
    parser.add_argument("--from", dest="date_from")
    parser.add_argument("--to", dest="date_to")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--strict", action="store_true", help="check: fail when any week fails its checks")
    parser.add_argument("results", nargs="*", type=Path, help="report: the later stages' records (JSON files)")
    args = parser.parse_args(argv)
    record_out = _stdout_for_the_record_only()
    try:
        settings = load_settings()
        if args.stage == "plan":
            selection = records.Selection.from_flags(args.date, args.date_from, args.date_to, args.all)
            result = stages.plan_weeks(settings, selection)
        elif args.stage == "compute":
            result = stages.compute(settings, records.from_json(records.Planned, sys.stdin.read()))
        elif args.stage == "check":
            result = stages.check(settings, records.from_json(records.Computed, sys.stdin.read()), strict=args.strict)
        elif args.stage == "publish":
            result = stages.publish(settings, records.from_json(records.Checked, sys.stdin.read()))
        elif args.stage == "catalog":
            result = {"catalog": stages.refresh_catalog(settings)}
        else:
            planned = records.from_json(records.Planned, sys.stdin.read())
            results = [records.from_json(records.Published, path.read_text()) for path in args.results]
            result = {"report": stages.write_report(settings, planned, results).run_id}
    except RetailflowError as exc:
        print(f"retailflow: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    print(records.to_json(result), file=record_out, flush=True)
    return 0


def _stdout_for_the_record_only():
    """Standard output carries the record and nothing else: whatever else writes to file descriptor 1 (DuckDB
    draws its progress bar there during a long query) goes to standard error instead."""
    sys.stdout.flush()
    record_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return record_out


if __name__ == "__main__":
    sys.exit(main())
