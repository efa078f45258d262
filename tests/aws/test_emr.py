"""The pipeline on EMR, against the local EMR API: the artifact uploaded to S3, a cluster created, the
step (spark-submit of the real driver) run by the step executor, the week published, the cluster
terminated. The requests themselves are pure and checked field by field."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from retailflow.config import Settings
from retailflow.errors import RetailflowError
from retailflow.orchestration.dag import driver_path
from retailflow.orchestration.emr import (
    Artifact,
    cluster_request,
    run_on_emr,
    step_request,
    upload_artifact,
)
from retailflow.pipeline.records import Selection
from tests.aws.emrsteps import StepExecutor
from tests.transform.lakebuilder import LakeBuilder, weekly_rows, write_worked_example

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = Artifact(
    "s3://art/retailflow/retailflow-0.1.0-py3-none-any.whl",
    "s3://art/retailflow/retailflow_spark_job.py",
    "s3://art/retailflow/bootstrap.sh",
)


def test_the_step_is_spark_submit_of_the_driver_over_the_lake():
    settings = Settings(lake="s3://lake-bucket/retail", spark_conf="spark.sql.shuffle.partitions=400")
    step = step_request(settings, ARTIFACT, Selection.of([dt.date(2026, 1, 5)]))
    assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert step["HadoopJarStep"]["Args"] == [
        "spark-submit", "--deploy-mode", "cluster", "--conf", "spark.sql.shuffle.partitions=400",
        ARTIFACT.driver, "--lake", "s3://lake-bucket/retail", "--date", "2026-01-05",
    ]  # fmt: skip
    assert step_request(settings, ARTIFACT, Selection())["HadoopJarStep"]["Args"][-1] == "--all"
    days = Selection.of([dt.date(2026, 1, 5), dt.date(2026, 1, 14)])
    assert step_request(settings, ARTIFACT, days)["HadoopJarStep"]["Args"][-4:] == [
        "--from",
        "2026-01-05",
        "--to",
        "2026-01-14",
    ]


def test_the_cluster_installs_the_wheel_and_stays_for_its_steps():
    settings = Settings(emr_instance_count=3, emr_log_uri="s3://logs/emr/")
    request = cluster_request(settings, ARTIFACT)
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    assert [g["InstanceCount"] for g in request["Instances"]["InstanceGroups"]] == [1, 2]
    assert request["BootstrapActions"][0]["ScriptBootstrapAction"] == {
        "Path": ARTIFACT.bootstrap,
        "Args": [ARTIFACT.wheel],
    }
    assert request["Applications"] == [{"Name": "Spark"}] and request["LogUri"] == "s3://logs/emr/"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """What `make spark-artifact` builds: the wheel and the driver."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (out / "retailflow_spark_job.py").write_bytes(driver_path().read_bytes())
    return out


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_a_week_runs_as_an_emr_step_end_to_end(aws, dist, tmp_path):
    aws.bucket("art")
    local = write_worked_example(LakeBuilder(tmp_path / "lake"))
    settings = Settings(lake="s3://lake-bucket/retail", artifact_uri="s3://art/retailflow")
    artifact = upload_artifact(settings, dist)
    assert aws.client("s3").head_object(Bucket="art", Key="retailflow/bootstrap.sh")["ContentLength"] > 0

    with StepExecutor(aws, {settings.lake: local.root}, tmp_path) as executor:
        outcome = run_on_emr(settings, Selection.of([dt.date(2026, 1, 5)]), artifact, poll_s=0.5, timeout_s=900)
    assert outcome.state == "COMPLETED"
    assert "--master" in executor.commands[0] and str(local.root) in executor.commands[0]
    assert [r["yr_wk_num"] for r in weekly_rows(local)] and local.week_file(202602).exists()  # the driver published
    [cluster] = aws.client("emr").list_clusters()["Clusters"]
    assert cluster["Id"] == outcome.cluster_id and cluster["Status"]["State"] in ("TERMINATING", "TERMINATED")


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_a_failing_step_is_one_clear_error_and_the_cluster_still_ends(aws, dist, tmp_path):
    aws.bucket("art")
    empty = tmp_path / "empty-lake"
    empty.mkdir()
    settings = Settings(lake="s3://lake-bucket/none", artifact_uri="s3://art/retailflow")
    artifact = upload_artifact(settings, dist)
    with StepExecutor(aws, {settings.lake: empty}, tmp_path), pytest.raises(RetailflowError, match="ended FAILED"):
        run_on_emr(settings, Selection.of([dt.date(2026, 1, 5)]), artifact, poll_s=0.5, timeout_s=900)
    [cluster] = aws.client("emr").list_clusters()["Clusters"]
    assert cluster["Status"]["State"] in ("TERMINATING", "TERMINATED")
