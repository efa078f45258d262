"""The nightly DAG: its folder parses cleanly and does no work, and ``dag.test()`` runs it for real on the
DuckDB engine: a published week, a data-quality failure that keeps the old week, a day that is not ready."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from retailflow.lake import Lake
from retailflow.lake.state import load_reports
from tests.orchestration.dagrun import DAGS_FOLDER, airflow_env, migrate, run_dag
from tests.transform.lakebuilder import LakeBuilder, run_lake, write_messy_inputs

PARSE = r"""
import json, os, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag()
seconds = time.perf_counter() - started
dag = bag.dags.get("retailflow_nightly")
print("RESULT " + json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dag_ids),
    "seconds": seconds,
    "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids) if dag else [],
    "max_active_runs": dag.max_active_runs if dag else None,
    "retries": {t.task_id: t.retries for t in dag.tasks} if dag else {},
}))
"""

DUCKDB_EDGES = [
    ["compute", "gate"],
    ["gate", "publish"],
    ["plan", "compute"],
    ["plan", "gate"],
    ["publish", "register"],
    ["register", "refresh_dashboard"],
    ["verify", "plan"],
]


def _parse(tmp_path: Path, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PARSE],
        env=airflow_env(tmp_path / "home", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_the_dag_folder_parses_without_errors_and_touches_nothing(tmp_path):
    lake = tmp_path / "no-lake-here"
    parsed = _parse(tmp_path, RETAILFLOW_LAKE=str(lake))
    assert parsed["errors"] == {} and parsed["dags"] == ["retailflow_nightly"]
    assert parsed["edges"] == DUCKDB_EDGES and parsed["max_active_runs"] == 1
    assert set(parsed["retries"].values()) == {2}  # infrastructure errors; data errors fail at once (see below)
    assert not lake.exists(), "parsing the DAG must not touch the lake"
    print(f"DAG folder parse time: {parsed['seconds']:.2f}s")  # measured, reported; not a timed assertion
    assert sorted(p.name for p in DAGS_FOLDER.glob("*.py")) == ["retailflow_nightly.py"]


@pytest.mark.parametrize(
    ("engine", "extra", "edges"),
    [
        ("spark", {}, DUCKDB_EDGES),
        ("databricks", {}, DUCKDB_EDGES),
        (
            "emr",
            {},
            [
                ["add_step", "compute"],
                ["compute", "gate"],
                ["compute", "terminate_cluster"],
                ["create_cluster", "add_step"],
                ["create_cluster", "compute"],
                ["create_cluster", "terminate_cluster"],
                ["gate", "publish"],
                ["plan", "create_cluster"],
                ["plan", "gate"],
                ["publish", "register"],
                ["register", "refresh_dashboard"],
                ["verify", "plan"],
            ],
        ),
        (
            "emr",
            {"RETAILFLOW_EMR_CLUSTER_ID": "j-2AXXXXXXGAPLF"},
            [
                ["add_step", "compute"],
                ["compute", "gate"],
                ["gate", "publish"],
                ["plan", "add_step"],
                ["plan", "gate"],
                ["publish", "register"],
                ["register", "refresh_dashboard"],
                ["verify", "plan"],
            ],
        ),
    ],
)
def test_one_setting_moves_the_compute_step(tmp_path, engine, extra, edges):
    parsed = _parse(
        tmp_path,
        RETAILFLOW_LAKE="s3://lake/retail",
        RETAILFLOW_DAG_ENGINE=engine,
        RETAILFLOW_ARTIFACT_URI="s3://art/retailflow",
        **extra,
    )
    assert parsed["errors"] == {} and parsed["edges"] == edges


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """An Airflow home with its SQLite metadata database, shared by this module's DAG runs."""
    path = tmp_path_factory.mktemp("airflow-home")
    migrate(path)
    return path


def _week_lake(root: Path) -> LakeBuilder:
    return write_messy_inputs(LakeBuilder(root))  # week 202603: 2026-01-11 (messy) and 2026-01-12


@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
def test_a_triggered_run_publishes_the_week_on_duckdb(home, tmp_path):
    lake = _week_lake(tmp_path / "lake")
    run = run_dag(
        home,
        {"date": "2026-01-12", "manifest_version": None},
        RETAILFLOW_LAKE=lake.url,
        RETAILFLOW_ALLOW_MANIFESTLESS="true",
        RETAILFLOW_QUARANTINE_THRESHOLD="1.0",
    )
    assert run.state == "success", run.log[-5000:]
    assert {t: s["state"] for t, s in run.tasks.items()} == dict.fromkeys(
        ["verify", "plan", "compute", "gate", "publish", "register", "refresh_dashboard"], "success"
    )
    assert lake.week_file(202603).is_file()
    assert (lake.root / "catalog" / "retailflow.duckdb").is_file() and (
        lake.root / "dashboard" / "index.html"
    ).is_file()
    [report] = load_reports(Lake(lake.url))
    assert report["status"] == "success" and [w["yr_wk_num"] for w in report["weeks"]] == [202603]
    leftovers = [p for p in (lake.root / "_staging").rglob("*")] + [p for p in (lake.root / "_state").rglob("stages/*")]
    assert leftovers == [] and not list((lake.root / "_state" / "staging").glob("*.json"))


@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
def test_a_data_quality_failure_fails_at_once_keeps_the_old_week_and_says_why(home, tmp_path):
    lake = _week_lake(tmp_path / "lake")
    run_lake(lake.url, ["2026-01-12"], quarantine_threshold=1.0)  # last night's good publication
    before = lake.week_file(202603).read_bytes()

    run = run_dag(
        home,
        {"date": "2026-01-12"},
        RETAILFLOW_LAKE=lake.url,
        RETAILFLOW_ALLOW_MANIFESTLESS="true",
        RETAILFLOW_QUARANTINE_THRESHOLD="0.01",  # the messy day quarantines more than 1% of its rows
    )
    assert run.state == "failed"
    assert run.tasks["gate"] == {"state": "failed", "try_number": 1}  # no retry of a data-quality failure
    assert run.tasks["publish"]["state"] == "upstream_failed"
    assert lake.week_file(202603).read_bytes() == before
    latest = load_reports(Lake(lake.url))[0]
    assert latest["status"] == "failed" and "task gate:" in latest["error"] and "quarantined" in latest["error"]
    assert not list((lake.root / "_staging").glob("*"))

    status = subprocess.run(
        [str(Path(sys.executable).with_name("retailflow")), "status", "--lake", lake.url],
        capture_output=True,
        text=True,
        timeout=120,
        env=airflow_env(home),
    )
    said = " ".join(status.stdout.split())
    assert status.returncode == 0 and f"Run {latest['run_id']} failed: task gate: week 202603:" in said
    assert "quarantined" in said


@pytest.mark.slow
@pytest.mark.xdist_group("airflow")
def test_a_day_that_is_not_ready_fails_fast_with_the_scans_reason(home, tmp_path):
    lake = _week_lake(tmp_path / "lake")
    (lake.root / "raw" / "dt=2026-01-12" / "inventory.csv.gz").unlink()
    run = run_dag(home, {"date": "2026-01-12"}, RETAILFLOW_LAKE=lake.url, RETAILFLOW_ALLOW_MANIFESTLESS="true")
    assert run.state == "failed"
    assert run.tasks["verify"] == {"state": "failed", "try_number": 1}
    assert "inventory" in run.log and not (lake.root / "curated").exists()


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_the_spark_engine_runs_the_compute_step_with_spark_submit(tmp_path):
    home = tmp_path / "airflow"
    migrate(home)
    lake = _week_lake(tmp_path / "lake")
    run = run_dag(
        home,
        {"date": "2026-01-12"},
        RETAILFLOW_LAKE=lake.url,
        RETAILFLOW_ALLOW_MANIFESTLESS="true",
        RETAILFLOW_QUARANTINE_THRESHOLD="1.0",
        RETAILFLOW_DAG_ENGINE="spark",
        AIRFLOW_CONN_SPARK_DEFAULT=json.dumps({"conn_type": "spark", "host": "local[2]"}),
    )
    assert run.state == "success", run.log[-5000:]
    assert "spark-submit --master local[2]" in run.log and "--stage compute --run-id" in run.log
    [report] = load_reports(Lake(lake.url))
    assert report["status"] == "success" and report["engine"] == "spark"
    assert lake.week_file(202603).is_file()
