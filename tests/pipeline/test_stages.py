"""The pipeline's stages one by one, as an orchestrator runs them: each in a fresh process, handed only
the JSON of the previous stage's record. The result must be byte for byte what ``pipeline.run`` writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retailflow.errors import DataQualityError
from retailflow.pipeline import check, compute, from_json, plan_weeks, run, to_json
from retailflow.pipeline.records import Checked, Computed, Planned, Published, Selection
from tests.transform.lakebuilder import LakeBuilder, published_files, sale, write_edge_cases, write_messy_inputs
from tests.transform.lakebuilder import settings as built


def _stage(lake_url: str, stage: str, *args: str, stdin: str = "") -> str:
    env = {**os.environ, "RETAILFLOW_LAKE": lake_url, "RETAILFLOW_ALLOW_MANIFESTLESS": "true"}  # built lakes
    done = subprocess.run(
        [sys.executable, "-m", "retailflow.pipeline", stage, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _lake(path: Path) -> LakeBuilder:
    return write_messy_inputs(write_edge_cases(LakeBuilder(path)))


@pytest.mark.slow
def test_stages_in_separate_processes_publish_what_run_publishes(tmp_path):
    chained = _lake(tmp_path / "chained")
    staged = _lake(tmp_path / "staged")
    run(built(chained.url, quarantine_threshold=1.0), None)

    env_lake = staged.url
    os.environ["RETAILFLOW_QUARANTINE_THRESHOLD"] = "1.0"
    try:
        planned = _stage(env_lake, "plan", "--all")
        computed = _stage(env_lake, "compute", stdin=planned)
        assert not (staged.root / "curated").exists(), "compute must not publish anything"
        checked = _stage(env_lake, "check", stdin=computed)
        published = _stage(env_lake, "publish", stdin=checked)
        _stage(env_lake, "catalog")
        (tmp_path / "published.json").write_text(published)
        report = json.loads(_stage(env_lake, "report", str(tmp_path / "published.json"), stdin=planned))
    finally:
        del os.environ["RETAILFLOW_QUARANTINE_THRESHOLD"]

    assert published_files(staged.root) == published_files(chained.root)
    assert len(published_files(staged.root)) > 5
    assert from_json(Published, published).weeks == tuple(
        sorted(w.yr_wk_num for w in from_json(Planned, planned).weeks)
    )
    saved = json.loads((staged.root / "_state" / "runs" / f"{report['report']}.json").read_text())
    assert saved["status"] == "success"
    assert not list((staged.root / "_staging").glob("*")), "publish leaves no staging behind"


def test_records_round_trip_through_json(tmp_path):
    lake = write_edge_cases(LakeBuilder(tmp_path / "lake"))
    settings = built(lake.url)
    planned = plan_weeks(settings, Selection.of([dt.date(2026, 1, 5)]))
    assert from_json(Planned, to_json(planned)) == planned
    computed = compute(settings, planned)
    assert from_json(Computed, to_json(computed)) == computed
    checked = check(settings, computed)
    assert from_json(Checked, to_json(checked)) == checked
    assert checked.passing == (202602,)


def test_strict_check_is_a_quality_gate(tmp_path):
    lake = write_edge_cases(LakeBuilder(tmp_path / "lake"))
    lake.day("2026-01-07", sales=[sale(999, 1, 10, "2026-01-07", "x", "1.00", "1.00")])
    settings = built(lake.url)
    computed = compute(settings, plan_weeks(settings, Selection.of([dt.date(2026, 1, 7)])))
    assert check(settings, computed).failing  # recorded, not raised
    with pytest.raises(DataQualityError, match="week 202602: .*quarantined"):
        check(settings, computed, strict=True)


NOISY_STAGE = """
import os, sys
from retailflow.pipeline import __main__ as cli, stages

def noisy_catalog(settings):
    os.write(1, b"  40% |#####     | (a progress bar drawn on file descriptor 1)\\n")
    print("and a stray print")
    return "catalog/retailflow.duckdb"

stages.refresh_catalog = noisy_catalog
sys.exit(cli.main(["catalog"]))
"""


def test_a_stage_writes_nothing_but_its_record_on_stdout(tmp_path):
    """DuckDB draws its progress bar on file descriptor 1 during a long query: it must not reach the record."""
    env = {**os.environ, "RETAILFLOW_LAKE": str(tmp_path / "lake")}
    done = subprocess.run([sys.executable, "-c", NOISY_STAGE], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"catalog": "catalog/retailflow.duckdb"}
    assert "progress bar" in done.stderr and "stray print" in done.stderr
