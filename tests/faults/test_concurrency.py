"""Overlapping scans and runs, and the ones that die (issue 9, classes 7 and 8). Real processes on a real
local lake: scans trigger a partition version exactly once; runs of one lake take turns on its writer
lease; staging belongs to its run until that run is gone."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import pytest

from retailflow.config import Settings
from retailflow.dates import date_range
from retailflow.errors import ExitCode, LakeError
from retailflow.export import export_days
from retailflow.lake import Lake, layout, lease
from retailflow.lake.lease import SlotBusy
from retailflow.lake.state import load_reports, new_run_id
from retailflow.pipeline import check, compute, plan_weeks, publish, run
from retailflow.pipeline.records import Selection
from retailflow.pipeline.stages import ORPHAN_GRACE_S, own_staging, sweep_staging
from retailflow.readiness.scan import ALREADY_TRIGGERED, IN_PROGRESS, TRIGGERED, scan_day
from tests.conftest import DAY, SPEC
from tests.faults import Held, clean_env, one_line, retailflow, run_script, start_together
from tests.transform.lakebuilder import published_files

NOW = dt.datetime(2026, 1, 6, 3, 0, tzinfo=dt.UTC)
ROUNDS = 5

# A scan whose trigger appends to a file (so every fire is counted across processes) and takes a while.
SCAN = r"""
import datetime as dt, json, os, sys, time
from retailflow.lake import Lake
from retailflow.readiness.scan import scan_day

class Appends:
    name = "appends"
    records = True
    def fire(self, day, version):
        with open(sys.argv[3], "a") as log:
            log.write(f"{os.getpid()} {version}\n")
        time.sleep(0.3)
        return {"pid": os.getpid()}

lake = Lake(sys.argv[1])
wait_for_go()
outcome = scan_day(lake, dt.date.fromisoformat(sys.argv[2]), Appends(), now=dt.datetime.now(dt.UTC))
print(json.dumps(outcome.as_dict()))
"""

# A scan killed while its trigger fires: it leaves its claim behind.
KILLED_SCAN = r"""
import datetime as dt, os, sys
from retailflow.lake import Lake
from retailflow.readiness.scan import scan_day

class Dies:
    name = "dies"
    records = True
    def fire(self, day, version):
        os._exit(137)

scan_day(Lake(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), Dies(), now=dt.datetime.now(dt.UTC))
"""

# The retailflow command, started together with others.
CLI = r"""
from retailflow.cli.root import main
wait_for_go()
main()
"""

# A process that holds the lake's writer lease (renewing it) until it is killed, or releases it after a while.
HOLD_WRITER = r"""
import sys, time
from retailflow.lake import Lake
from retailflow.lake.lease import take_writer_lease
writer = take_writer_lease(Lake(sys.argv[1]), "run 20260106T030000000000Z-holder", ttl_s=float(sys.argv[2]), wait_s=0)
print("held", flush=True)
with writer.keep_alive():
    time.sleep(float(sys.argv[3]))
writer.release()
"""

# A run (another process) in the middle of its work: it owns its staging, holding a staged file.
HOLD_STAGING = r"""
import sys, time
from retailflow.lake import Lake, layout
from retailflow.pipeline.stages import own_staging
lake, run_id = Lake(sys.argv[1]), sys.argv[2]
own_staging(lake, run_id, 600)
lake.write_bytes(f"{layout.staging(run_id)}/pass-1/weekly.parquet", b"staged")
print("staged", flush=True)
time.sleep(600)
"""


class CountingTrigger:
    name = "counting"
    records = True

    def __init__(self):
        self.fired: list[tuple[dt.date, str]] = []

    def fire(self, day, version):
        self.fired.append((day, version))
        return {"fired": len(self.fired)}


@pytest.fixture(scope="module")
def exported_template(tmp_path_factory, source_db) -> Path:
    """A lake with DAY exported (with its manifest): copied for each round."""
    from retailflow.source import open_source
    from retailflow.source.duckdb_source import url_of

    root = tmp_path_factory.mktemp("template") / "lake"
    src = open_source(url_of(source_db))
    try:
        export_days(src, Lake(str(root)), [DAY])
    finally:
        src.close()
    return root


def copy_lake(template: Path, to: Path) -> Lake:
    shutil.copytree(template, to)
    return Lake(str(to))


def version_of(lake: Lake) -> str:
    from retailflow.lake.rawzone import inspect_partition

    return inspect_partition(lake, DAY).version


def trigger_records(lake: Lake) -> list[str]:
    return sorted(lake.listdir(layout.triggers(DAY)))


def plant_claim(lake: Lake, version: str, **fields) -> None:
    record = {"state": lease.HELD, "purpose": "a scan of 2026-01-05 (local)", "host": "elsewhere", "pid": 4242}
    record |= {"since": "2026-01-06T08:00:00+00:00", "expires": time.time() + 600, "expires_at": "soon"} | fields
    lake.write_json(f"{layout.trigger_claim(DAY, version)}/0000000001.json", record)


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- class 7: scans ---------------------------------------------------------------------------------------


def test_two_scans_at_the_same_moment_trigger_one_run(exported_template, tmp_path):
    for round_ in range(ROUNDS):
        lake = copy_lake(exported_template, tmp_path / f"lake{round_}")
        fires = tmp_path / f"fires{round_}.log"
        done = start_together(SCAN, [[lake.url, DAY.isoformat(), fires]] * 2, tmp_path)

        assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
        outcomes = sorted((json.loads(d.stdout) for d in done), key=lambda o: o["status"] != TRIGGERED)
        assert outcomes[0]["status"] == TRIGGERED
        assert outcomes[1]["status"] in (IN_PROGRESS, ALREADY_TRIGGERED), outcomes[1]
        assert outcomes[1]["exit_code"] == 0
        if outcomes[1]["status"] == IN_PROGRESS:  # it says who is triggering it
            assert "being triggered right now" in outcomes[1]["message"]
            assert outcomes[1]["details"]["claimed_by"]["pid"] == outcomes[0]["details"]["pid"]
        version = version_of(lake)
        assert fires.read_text().splitlines() == [f"{outcomes[0]['details']['pid']} {version}"]
        assert trigger_records(lake) == [f"{version}.json"]


def test_two_scan_commands_with_the_local_trigger_start_one_run(exported_template, tmp_path):
    lake = copy_lake(exported_template, tmp_path / "lake")
    argv = ["scan", "--lake", lake.url, "--date", DAY.isoformat(), "--json"]
    done = start_together(CLI, [argv, argv], tmp_path)

    assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
    statuses = sorted(json.loads(d.stdout)["status"] for d in done)
    assert statuses in ([ALREADY_TRIGGERED, TRIGGERED], [IN_PROGRESS, TRIGGERED])
    (report,) = load_reports(lake)  # one run
    assert report["status"] == "success"
    assert trigger_records(lake) == [f"{version_of(lake)}.json"]


def test_a_claim_left_by_a_killed_scan_is_taken_over_by_the_next_scan(exported_template, tmp_path):
    lake = copy_lake(exported_template, tmp_path / "lake")
    killed = run_script(KILLED_SCAN, lake.url, DAY.isoformat(), cwd=tmp_path)
    assert killed.returncode == 137, killed.stderr
    version = version_of(lake)
    (claim,) = lake.listdir(layout.trigger_claim(DAY, version))
    left = lake.read_json(f"{layout.trigger_claim(DAY, version)}/{claim}")
    assert left["state"] == lease.HELD and trigger_records(lake) == []

    trigger = CountingTrigger()
    outcome = scan_day(lake, DAY, trigger, now=NOW)

    assert outcome.status == TRIGGERED and len(trigger.fired) == 1
    assert "took over" in outcome.message and f"pid {left['pid']}" in outcome.message and "is gone" in outcome.message
    record = lake.read_json(layout.trigger_record(DAY, version))
    assert record["claim"]["took_over"]["pid"] == left["pid"]
    again = scan_day(lake, DAY, trigger, now=NOW)
    assert again.status == ALREADY_TRIGGERED and len(trigger.fired) == 1


def test_an_expired_claim_of_another_host_is_taken_over(exported_template, tmp_path):
    lake = copy_lake(exported_template, tmp_path / "lake")
    plant_claim(lake, version_of(lake), expires=time.time() - 5, expires_at="2026-01-06T08:02:00+00:00")
    outcome = scan_day(lake, DAY, CountingTrigger(), now=NOW)
    assert outcome.status == TRIGGERED
    assert "host elsewhere" in outcome.message and "expired at 2026-01-06T08:02:00+00:00" in outcome.message


def test_a_live_claim_is_a_clear_status_not_an_error(exported_template, tmp_path):
    lake = copy_lake(exported_template, tmp_path / "lake")
    plant_claim(lake, version_of(lake), expires_at="2026-01-06T08:04:00+00:00")
    trigger = CountingTrigger()
    outcome = scan_day(lake, DAY, trigger, now=NOW)
    assert outcome.status == IN_PROGRESS and outcome.exit_code == ExitCode.OK and trigger.fired == []
    assert "host elsewhere, pid 4242, since 2026-01-06T08:00:00+00:00" in outcome.message
    assert "2026-01-06T08:04:00+00:00" in outcome.message
    assert lake.read_json(layout.scan_record(DAY))["status"] == IN_PROGRESS

    done = retailflow("scan", "--lake", lake.url, "--date", DAY.isoformat(), "--trigger", "local", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "being triggered right now" in done.stderr
    assert load_reports(lake) == []  # nothing ran


def test_two_scans_taking_over_the_same_dead_claim_give_one_winner(exported_template, tmp_path):
    for round_ in range(ROUNDS):
        lake = copy_lake(exported_template, tmp_path / f"lake{round_}")
        version = version_of(lake)
        plant_claim(lake, version, host=lease.HOST, pid_ns=lease.PID_NS, pid=dead_pid())
        fires = tmp_path / f"fires{round_}.log"
        done = start_together(SCAN, [[lake.url, DAY.isoformat(), fires]] * 2, tmp_path)

        assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
        statuses = sorted(json.loads(d.stdout)["status"] for d in done)
        assert statuses in ([ALREADY_TRIGGERED, TRIGGERED], [IN_PROGRESS, TRIGGERED])
        assert len(fires.read_text().splitlines()) == 1
        assert trigger_records(lake) == [f"{version}.json"]


# -- class 8: runs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_weeks_template(tmp_path_factory, source_db) -> Path:
    """Two whole fiscal weeks exported: the raw zone two runs compete over."""
    from retailflow.source import open_source
    from retailflow.source.duckdb_source import url_of

    root = tmp_path_factory.mktemp("two-weeks") / "lake"
    src = open_source(url_of(source_db))
    try:
        export_days(src, Lake(str(root)), date_range(SPEC.start, SPEC.end))
    finally:
        src.close()
    return root


@pytest.mark.slow
def test_two_runs_at_once_take_turns_and_publish_what_one_run_publishes(two_weeks_template, tmp_path):
    reference = copy_lake(two_weeks_template, tmp_path / "reference")
    run(Settings(lake=reference.url), None)
    lake = copy_lake(two_weeks_template, tmp_path / "lake")

    argv = ["run", "--lake", lake.url, "--all"]
    done = start_together(CLI, [argv, argv], tmp_path)

    assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
    assert sum("Waiting up to 300s for the lake's writer lease, held by run " in d.stderr for d in done) == 1
    files = published_files(Path(lake.path()))
    assert files == published_files(Path(reference.path())) and len(files) == 5  # 2 weeks, 3 dimensions
    # Run ids carry microseconds and are taken once the lease is held: the order the runs wrote in.
    # (started_at has whole seconds: a quick first run and the second can share one.)
    first, second = sorted(load_reports(lake), key=lambda r: r["run_id"])
    assert first["status"] == second["status"] == "success"
    assert first["finished_at"] <= second["started_at"]  # one after the other, never together
    assert list(Path(lake.path(layout.STAGING)).iterdir()) == []
    assert sorted(lake.listdir(layout.writer_lease())) == ["0000000004.json"]  # taken twice, released twice
    assert lake.read_json(f"{layout.writer_lease()}/0000000004.json")["state"] == lease.RELEASED


def test_a_run_refuses_at_once_naming_the_holder_with_lease_wait_0(two_weeks_template, tmp_path):
    lake = copy_lake(two_weeks_template, tmp_path / "lake")
    with Held(HOLD_WRITER, lake.url, "60", "600", cwd=tmp_path) as holder:
        started = time.monotonic()
        done = retailflow("run", "--lake", lake.url, "--all", cwd=tmp_path, env=clean_env(RETAILFLOW_LEASE_WAIT_S="0"))
        assert done.returncode == 1, done.stderr
        assert time.monotonic() - started < 20
        assert one_line(done.stderr) and done.stderr.startswith("Error: The lake ")
        error = done.stderr.splitlines()[0]
        for fragment in ("run 20260106T030000000000Z-holder", f"host {lease.HOST}", f"pid {holder.pid}", "since"):
            assert fragment in error, (fragment, error)
        assert "lease_wait_s" in done.stderr and "RETAILFLOW_LEASE_WAIT_S" in done.stderr
    assert load_reports(lake) == [] and not Path(lake.path("curated")).exists()


def test_a_run_waits_a_bounded_time(two_weeks_template, tmp_path):
    lake = copy_lake(two_weeks_template, tmp_path / "lake")
    with Held(HOLD_WRITER, lake.url, "60", "600", cwd=tmp_path):
        started = time.monotonic()
        with pytest.raises(SlotBusy) as busy:
            run(Settings(lake=lake.url, lease_wait_s=1), None)
        assert 0.9 < time.monotonic() - started < 15
    assert isinstance(busy.value, LakeError) and busy.value.exit_code == ExitCode.ERROR
    assert "(waited 1s)" in str(busy.value)


def test_a_waiting_run_goes_ahead_when_the_holder_is_done(two_weeks_template, tmp_path):
    lake = copy_lake(two_weeks_template, tmp_path / "lake")
    # Held long enough that the run (a new process: imports first) surely finds it held, even on a busy machine.
    with Held(HOLD_WRITER, lake.url, "60", "10", cwd=tmp_path):
        done = retailflow("run", "--lake", lake.url, "--date", DAY.isoformat(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Waiting up to 300s for the lake's writer lease, held by run 20260106T030000000000Z-holder" in done.stderr
    assert "took over" not in done.stderr  # it was released, not taken over
    (report,) = load_reports(lake)
    assert report["status"] == "success" and report["warnings"][:1] != ["took over"]


def test_the_stale_lease_of_a_dead_run_is_taken_over_with_a_warning(two_weeks_template, tmp_path):
    lake = copy_lake(two_weeks_template, tmp_path / "lake")
    holder = Held(HOLD_WRITER, lake.url, "60", "600", cwd=tmp_path)
    holder.kill()  # a run killed with -9: its lease stays, naming a pid that is gone

    done = retailflow(
        "run", "--lake", lake.url, "--date", DAY.isoformat(), cwd=tmp_path, env=clean_env(RETAILFLOW_LEASE_WAIT_S="0")
    )

    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if line.startswith("!") and "took over" in line]
    assert len(warning) == 1
    assert f"pid {holder.pid}" in warning[0] and "is gone" in warning[0] and "writer lease was stale" in warning[0]
    (report,) = load_reports(lake)
    assert report["status"] == "success" and "took over" in report["warnings"][0]


def test_an_expired_lease_of_another_host_is_taken_over(two_weeks_template, tmp_path):
    lake = copy_lake(two_weeks_template, tmp_path / "lake")
    lake.write_json(
        f"{layout.writer_lease()}/0000000001.json",
        {"state": lease.HELD, "purpose": "run X", "host": "emr-node-7", "pid": 99, "since": "yesterday"}
        | {"expires": time.time() - 1, "expires_at": "2026-01-06T08:30:00+00:00"},
    )
    report = run(Settings(lake=lake.url, lease_wait_s=0), [DAY])
    assert "host emr-node-7" in report.warnings[0] and "expired at 2026-01-06T08:30:00+00:00" in report.warnings[0]


def test_a_run_never_sweeps_the_staging_of_a_live_run(two_weeks_template, tmp_path):
    lake = copy_lake(two_weeks_template, tmp_path / "lake")
    other = new_run_id()
    staged = Path(lake.path(f"{layout.staging(other)}/pass-1/weekly.parquet"))
    with Held(HOLD_STAGING, lake.url, other, cwd=tmp_path):
        report = run(Settings(lake=lake.url), [DAY])
        assert report.status == "success"
        assert staged.read_bytes() == b"staged"  # the other run's work is intact
    run(Settings(lake=lake.url), [DAY])  # that run is gone now: its staging is swept
    assert not staged.exists() and not lake.exists(layout.staging_owner(other))


def test_an_orchestrated_run_between_compute_and_publish_survives_another_run(two_weeks_template, tmp_path):
    """The first engineer's report: a second run swept the first's staging, which then failed (exit 70)."""
    lake = copy_lake(two_weeks_template, tmp_path / "lake")
    settings = Settings(lake=lake.url)
    computed = compute(settings, plan_weeks(settings, Selection.of([DAY])))  # one task, then the next...
    owner = lake.read_json(layout.staging_owner(computed.planned.run_id))
    assert owner["process_bound"] is False and owner["expires"] > time.time() + 3600

    run(settings, None)  # ...while another run does everything

    published = publish(settings, check(settings, computed))  # the orchestrator's next tasks
    assert published.weeks == (202602,)
    assert list(Path(lake.path(layout.STAGING)).iterdir()) == []


# -- the sweep's rules, one by one -------------------------------------------------------------------------


def stage(lake: Lake, run_id: str) -> Path:
    lake.write_bytes(f"{layout.staging(run_id)}/pass-1/weekly.parquet", b"staged")
    return Path(lake.path(layout.staging(run_id)))


def test_sweep_rules(lake):
    now = dt.datetime.now(dt.UTC)
    live, mine = new_run_id(), new_run_id()
    own_staging(lake, live, 60)  # this process, renewing: live
    own_staging(lake, mine, 60)
    expired, dead, retained = new_run_id(), new_run_id(), new_run_id()
    lake.write_json(layout.staging_owner(expired), lease.new_record("run x", 60) | {"expires": time.time() - 1})
    lake.write_json(layout.staging_owner(dead), lease.new_record("run y", 60) | {"pid": dead_pid()})
    lake.write_json(layout.staging_owner(retained), lease.new_record("run z", 3600, process_bound=False))
    young = new_run_id(now - dt.timedelta(seconds=60))  # no owner record: its age decides
    old = new_run_id(now - dt.timedelta(seconds=ORPHAN_GRACE_S + 60))
    for run_id in (live, mine, expired, dead, retained, young, old, "not-a-run-id"):
        stage(lake, run_id)
    lake.write_json(layout.staging_owner("gone-and-expired"), {"state": lease.HELD, "expires": 0})

    swept = sweep_staging(lake, keep=mine)

    assert sorted(swept) == sorted([expired, dead, old, "not-a-run-id"])
    assert sorted(lake.subdirs(layout.STAGING)) == sorted([live, mine, retained, young])
    assert not lake.exists(layout.staging_owner("gone-and-expired"))
    assert not lake.exists(layout.staging_owner(dead)) and lake.exists(layout.staging_owner(live))
