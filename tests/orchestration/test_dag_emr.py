"""The DAG on the EMR engine, end to end against the local AWS API: the amazon provider's operators create
a cluster, add the compute step, wait for it and terminate the cluster; the step (run for real by the step
executor: spark-submit of the driver, ``--stage compute``) computes the planned week, and the DAG's own
tasks check and publish it."""

from __future__ import annotations

import pytest

from retailflow.config import Settings
from retailflow.lake import Lake
from retailflow.lake.state import load_reports
from retailflow.orchestration.emr import upload_artifact
from tests.aws.emrsteps import StepExecutor
from tests.aws.test_emr import dist  # noqa: F401 (the fixture: the wheel and the driver)
from tests.orchestration.dagrun import migrate, run_dag
from tests.transform.lakebuilder import LakeBuilder, write_worked_example


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_the_emr_engine_creates_a_cluster_runs_the_step_and_terminates_it(aws, dist, tmp_path):  # noqa: F811
    aws.bucket("art")
    lake = write_worked_example(LakeBuilder(tmp_path / "lake"))
    settings = Settings(lake=lake.url, artifact_uri="s3://art/retailflow")
    upload_artifact(settings, dist)
    home = tmp_path / "airflow"
    migrate(home)

    with StepExecutor(aws, {lake.url: lake.root}, tmp_path) as executor:
        run = run_dag(
            home,
            {"date": "2026-01-05"},
            **aws.env,
            RETAILFLOW_LAKE=lake.url,
            RETAILFLOW_DAG_ENGINE="emr",
            RETAILFLOW_ARTIFACT_URI=settings.artifact_uri,
            RETAILFLOW_ALLOW_MANIFESTLESS="true",
        )
    assert run.state == "success", (executor.commands, run.log[-3000:])
    assert {t: s["state"] for t, s in run.tasks.items() if t != "compute"} == dict.fromkeys(
        ["verify", "plan", "create_cluster", "add_step", "terminate_cluster", "gate", "publish", "register"]
        + ["refresh_dashboard"],
        "success",
    )
    [command] = executor.commands
    assert command[-6:-1] == ["--lake", str(lake.root), "--stage", "compute", "--run-id"]
    [cluster] = aws.client("emr").list_clusters()["Clusters"]
    assert cluster["Status"]["State"] in ("TERMINATING", "TERMINATED")
    [step] = aws.client("emr").list_steps(ClusterId=cluster["Id"])["Steps"]
    assert step["Status"]["State"] == "COMPLETED"
    assert lake.week_file(202602).is_file()  # computed by the step's driver, published by the DAG
    [report] = load_reports(Lake(lake.url))
    assert report["status"] == "success" and report["engine"] == "spark"
