"""Exports that die, and partitions without a manifest (issue 9, class 9). An export killed at any step
never leaves a partition that the scan calls complete unless it really is (entirely the old export or
entirely the new one); a partition with no manifest is complete only where outside producers are allowed
(``allow_manifestless``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from retailflow.config import Settings
from retailflow.errors import ExitCode, RetailflowError
from retailflow.export import export_days
from retailflow.lake import Lake, layout
from retailflow.lake.rawzone import inspect_partition
from retailflow.pipeline import RunFailed, run
from retailflow.readiness.scan import DEADLINE_MISSED, NOT_READY, READY, TRIGGERED, scan_day
from retailflow.readiness.triggers import NoTrigger
from retailflow.source import open_source
from retailflow.source.duckdb_source import url_of
from retailflow.status import day_status
from retailflow.tables import ALL_TABLES, INVENTORY
from tests.cli.clitools import make_invoker
from tests.conftest import DAY
from tests.faults import run_script
from tests.rawfiles import write_partition

NOW = dt.datetime(2026, 1, 6, 3, 0, tzinfo=dt.UTC)
DATA_FILES = sorted(f"{t.name}.csv.gz" for t in ALL_TABLES)

# An export that dies (os._exit: nothing runs after it) right before its ``kill_at``-th lake operation
# (writes, renames, removals); kill_at 0 lets it finish. It prints the operations it got through.
KILLED_EXPORT = r"""
import datetime as dt, os, sys
from retailflow.export import export_days
from retailflow.lake.storage import Lake
from retailflow.source import open_source

lake_url, source_url, day, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
steps = []

def counted(name):
    real = getattr(Lake, name)
    def step(self, *args, **kwargs):
        mode = args[1] if len(args) > 1 else kwargs.get("mode", "rb")
        if name == "open" and "w" not in mode:
            return real(self, *args, **kwargs)
        steps.append(f"{name} {args[0]}")
        if len(steps) == kill_at:
            print("\n".join(steps[:-1]), flush=True)
            os._exit(137)
        return real(self, *args, **kwargs)
    setattr(Lake, name, step)

for name in ("write_bytes", "commit", "remove", "open", "create_exclusive"):
    counted(name)
source = open_source(source_url)
export_days(source, Lake(lake_url), [dt.date.fromisoformat(day)], threads=1)
print("\n".join(steps))
"""


def file_hashes(partition: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in partition.iterdir() if p.name in DATA_FILES}


def manifest_files(partition: Path) -> dict:
    return json.loads((partition / layout.MANIFEST_NAME).read_text())["files"]


class CountingTrigger:
    name = "counting"
    records = True

    def __init__(self):
        self.fired = []

    def fire(self, day, version):
        self.fired.append(version)
        return {}


def export_killed(lake: Lake, source_url: str, kill_at: int, cwd: Path) -> list[str]:
    done = run_script(KILLED_EXPORT, lake.url, source_url, DAY.isoformat(), str(kill_at), cwd=cwd)
    assert done.returncode == (137 if kill_at else 0), done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def versions(tmp_path_factory, source_db, other_source_db) -> dict:
    """DAY exported from the session's source (the old version, as a lake to copy) and from the other
    source (the new version): their files' hashes and manifests."""
    root = tmp_path_factory.mktemp("export-versions")
    out = {}
    for name, db in (("old", source_db), ("new", other_source_db)):
        src = open_source(url_of(db))
        try:
            export_days(src, Lake(str(root / name)), [DAY])
        finally:
            src.close()
        partition = root / name / layout.raw_partition(DAY)
        out[name] = {"root": root / name, "hashes": file_hashes(partition), "files": manifest_files(partition)}
    assert out["old"]["hashes"]["sales.csv.gz"] != out["new"]["hashes"]["sales.csv.gz"]
    return out


def judge(lake: Lake, versions: dict, partition: Path) -> list[str]:
    """What the scan says of the partition, with and without allow_manifestless; fails on any complete
    partition that is not wholly one export. Returns which versions were seen complete."""
    seen = []
    for allow in (False, True):
        state = inspect_partition(lake, DAY, allow_manifestless=allow)
        trigger = CountingTrigger()
        outcome = scan_day(lake, DAY, trigger, now=NOW, allow_manifestless=allow)
        assert (outcome.status == TRIGGERED) == state.complete, outcome.message
        if not state.complete:
            assert trigger.fired == [] and outcome.exit_code == ExitCode.NOT_READY
            continue
        hashes = file_hashes(partition)
        whole = [
            name
            for name in ("old", "new")
            if name in versions and hashes == versions[name]["hashes"]
            if manifest_files(partition) == versions[name]["files"]
        ]
        assert whole, (
            f"a complete partition that is not one whole export: {sorted(p.name for p in partition.iterdir())}"
        )
        seen += whole
        lake.remove(layout.triggers(DAY), recursive=True)  # the next judgement fires afresh
    return seen


@pytest.mark.slow
def test_a_reexport_killed_at_any_step_never_looks_complete_unless_it_is(tmp_path, versions, other_source_db):
    new_url = url_of(other_source_db)
    probe = Lake(str(tmp_path / "probe"))
    shutil.copytree(versions["old"]["root"], probe.path())
    steps = export_killed(probe, new_url, 0, tmp_path)
    assert any(s.endswith(layout.EXPORT_MARKER_NAME) for s in steps) and len(steps) > 15

    seen = {}
    for kill_at in range(1, len(steps) + 1):
        lake = Lake(str(tmp_path / f"lake{kill_at}"))
        shutil.copytree(versions["old"]["root"], lake.path())
        done = export_killed(lake, new_url, kill_at, tmp_path)
        partition = Path(lake.path(layout.raw_partition(DAY)))
        marked = lake.exists(layout.export_marker(DAY))
        seen[kill_at] = judge(lake, versions, partition)
        if marked:
            assert seen[kill_at] == [], (kill_at, done)  # once the marker is there, never complete
        # The next export of the day repairs whatever was left.
        src = open_source(new_url)
        try:
            export_days(src, lake, [DAY])
        finally:
            src.close()
        assert inspect_partition(lake, DAY).complete
        assert file_hashes(partition) == versions["new"]["hashes"]
        assert sorted(p.name for p in partition.iterdir()) == sorted([*DATA_FILES, layout.MANIFEST_NAME])
    assert seen[1] == ["old", "old"]  # killed before it touched anything: the old partition, whole
    assert all(v in ([], ["old", "old"]) for v in seen.values())


@pytest.mark.slow
def test_a_first_export_killed_at_any_step_is_never_complete(tmp_path, versions, other_source_db):
    new_url = url_of(other_source_db)
    steps = export_killed(Lake(str(tmp_path / "probe")), new_url, 0, tmp_path)
    for kill_at in range(1, len(steps) + 1):
        lake = Lake(str(tmp_path / f"lake{kill_at}"))
        export_killed(lake, new_url, kill_at, tmp_path)
        if Path(lake.path(layout.raw_partition(DAY))).exists():
            assert judge(lake, versions, Path(lake.path(layout.raw_partition(DAY)))) == []


def test_the_kill_the_issue_reported_five_files_and_no_manifest(tmp_path, versions, other_source_db):
    """Killed right before the manifest: all five new files, no manifest (3 of 7 kills in the report)."""
    new_url = url_of(other_source_db)
    lake = Lake(str(tmp_path / "lake"))
    shutil.copytree(versions["old"]["root"], lake.path())
    steps = export_killed(Lake(str(tmp_path / "probe")), new_url, 0, tmp_path)
    before_manifest = next(i for i, s in enumerate(steps, 1) if s == f"write_bytes {layout.manifest(DAY)}")
    export_killed(lake, new_url, before_manifest, tmp_path)
    partition = Path(lake.path(layout.raw_partition(DAY)))
    assert file_hashes(partition) == versions["new"]["hashes"] and not (partition / layout.MANIFEST_NAME).exists()

    for allow in (False, True):
        outcome = scan_day(lake, DAY, CountingTrigger(), now=NOW, allow_manifestless=allow)
        assert outcome.status == NOT_READY
        assert "export in progress or interrupted" in outcome.message and "re-export the day" in outcome.message
    late = scan_day(lake, DAY, CountingTrigger(), now=NOW.replace(hour=9), deadline=dt.time(4, 30))
    assert late.status == DEADLINE_MISSED and late.exit_code == ExitCode.DEADLINE_MISSED
    assert day_status(lake, 14)[0]["exported"] == "export in progress or interrupted"


# -- exports that fail (an exception, not a kill) --------------------------------------------------------


def fail_on(monkeypatch, obj, name, when):
    real = getattr(obj, name)

    def failing(*args, **kwargs):
        if when(*args):
            raise OSError("network error")
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, failing)


def test_a_reexport_failing_before_its_commit_leaves_the_old_partition_ready(monkeypatch, source, lake, exported):
    fail_on(monkeypatch, source, "read_day", lambda table, day: table.name == INVENTORY.name)
    with pytest.raises(OSError):
        export_days(source, lake, [DAY])
    assert not lake.exists(layout.export_marker(DAY))
    state = inspect_partition(lake, DAY)
    assert state.complete and state.version == exported.manifest_sha256


def test_a_reexport_failing_in_its_commit_stays_interrupted_until_the_next_export(monkeypatch, source, lake, exported):
    with monkeypatch.context() as patch:
        fail_on(patch, lake, "commit", lambda tmp, relative: relative.endswith("/store.csv.gz"))
        with pytest.raises(OSError):
            export_days(source, lake, [DAY])
    assert lake.exists(layout.export_marker(DAY))
    assert not inspect_partition(lake, DAY, allow_manifestless=True).complete
    export_days(source, lake, [DAY])
    assert inspect_partition(lake, DAY).complete and not lake.exists(layout.export_marker(DAY))


def test_a_failed_export_of_an_interrupted_partition_keeps_it_interrupted(monkeypatch, source, lake, exported):
    (Path(lake.path(layout.raw_partition(DAY))) / layout.MANIFEST_NAME).unlink()
    lake.write_json(layout.export_marker(DAY), {"pid": 1})  # a killed export's leftovers
    fail_on(monkeypatch, source, "read_day", lambda table, day: table.name == INVENTORY.name)
    with pytest.raises(OSError):
        export_days(source, lake, [DAY])
    assert lake.exists(layout.export_marker(DAY))
    assert not inspect_partition(lake, DAY, allow_manifestless=True).complete


def test_the_marker_says_who_is_exporting(monkeypatch, source, lake):
    seen = {}
    real_commit = Lake.commit

    def commit(self, tmp, relative):
        if relative.endswith("sales.csv.gz"):
            seen.update(self.read_json(layout.export_marker(DAY)))
        return real_commit(self, tmp, relative)

    monkeypatch.setattr(Lake, "commit", commit)
    export_days(source, lake, [DAY])
    assert seen["dt"] == DAY.isoformat() and seen["pid"] > 0 and seen["host"] and seen["started_at"]
    assert seen["source"] == source.url


# -- partitions without a manifest ----------------------------------------------------------------------


def test_a_manifestless_partition_is_complete_only_with_the_setting(lake, tmp_path):
    write_partition(tmp_path / "lake", DAY)  # an outside producer's: five .csv files, no manifest

    outcome = scan_day(lake, DAY, CountingTrigger(), now=NOW)
    assert outcome.status == NOT_READY and outcome.exit_code == ExitCode.NOT_READY
    assert "no _manifest.json" in outcome.message and "allow_manifestless = true" in outcome.message
    assert "RETAILFLOW_ALLOW_MANIFESTLESS=true" in outcome.message
    assert day_status(lake, 14)[0]["exported"] == "no manifest"

    trigger = CountingTrigger()
    allowed = scan_day(lake, DAY, trigger, now=NOW, allow_manifestless=True)
    assert allowed.status == TRIGGERED and len(trigger.fired) == 1
    assert "complete (no manifest)" in allowed.message
    assert day_status(lake, 14, allow_manifestless=True)[0]["exported"] == "complete"


def test_the_scan_command_says_what_to_do_about_a_missing_manifest(tmp_path, monkeypatch):
    write_partition(tmp_path / "lake", DAY)
    invoke = make_invoker(tmp_path, monkeypatch)
    args = ("scan", "--lake", str(tmp_path / "lake"), "--date", DAY.isoformat(), "--trigger", "none")

    refused = invoke(*args)
    assert refused.exit_code == 3
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "no _manifest.json" in lines[0] and "RETAILFLOW_ALLOW_MANIFESTLESS=true" in lines[0]

    accepted = invoke(*args, env={"RETAILFLOW_ALLOW_MANIFESTLESS": "true"})
    assert accepted.exit_code == 0, accepted.output
    assert "complete (no manifest)" in accepted.stderr

    bad = invoke(*args, env={"RETAILFLOW_ALLOW_MANIFESTLESS": "sure"})
    assert bad.exit_code == 1 and "RETAILFLOW_ALLOW_MANIFESTLESS" in bad.stderr and "Traceback" not in bad.output


def test_the_run_command_over_manifestless_partitions(tmp_path, monkeypatch):
    from tests.transform.lakebuilder import LakeBuilder, inv, sale

    built = LakeBuilder(tmp_path / "lake")
    built.day("2026-01-05", sales=[sale(1, 248, 5889, "2026-01-05", 1, "2.00", "1.00")])
    built.day("2026-01-06", inventory=[inv("2026-01-06", 248, 5889, 3, 0, 0)])
    invoke = make_invoker(tmp_path, monkeypatch)

    refused = invoke("run", "--lake", built.url, "--all")
    assert refused.exit_code == 1 and refused.stderr.startswith("Error: ")
    assert "allow_manifestless" in refused.stderr
    with pytest.raises(RetailflowError, match="RETAILFLOW_ALLOW_MANIFESTLESS=true") as failed:
        run(Settings(lake=built.url), None)
    assert not isinstance(failed.value, RunFailed) and not built.week_file(202602).exists()

    accepted = invoke("run", "--lake", built.url, "--date", "2026-01-05", env={"RETAILFLOW_ALLOW_MANIFESTLESS": "1"})
    assert accepted.exit_code == 0, accepted.output
    assert built.week_file(202602).exists()


def test_trigger_none_reports_a_manifestless_partition_ready_only_with_the_setting(lake, tmp_path):
    write_partition(tmp_path / "lake", DAY, gzip=True)
    assert scan_day(lake, DAY, NoTrigger(), now=NOW).status == NOT_READY
    assert scan_day(lake, DAY, NoTrigger(), now=NOW, allow_manifestless=True).status == READY
