"""The readiness Lambda's zip (deploy/aws/build_lambda.py), run the way Lambda runs it.

The zip is built, unzipped into a folder (Lambda's /var/task), and its handler is called by a fresh
interpreter of a clean venv that has only boto3 (what the Lambda Python runtime provides), with the task
folder first on sys.path, the schedules' events from the template, and the local S3 API (moto) holding an
exported lake. Slow: it builds the zip and the venv (both from pip's cache once it is warm).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from retailflow.export import export_days
from retailflow.lake import Lake
from tests.deploy import ROOT, load_template

# One worker builds the zip and the venv once for the module (with xdist --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lambda-artifact")]

BUCKET = "lambda-lake"
PREFIX = "retail"
FORBIDDEN = ("duckdb", "pyarrow", "pyspark", "rich", "click", "boto3", "botocore", "s3transfer", "numpy", "pandas")

RUNNER = """
import json, sys
task_root, event = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, task_root)  # Lambda: /var/task first, then the runtime's own packages (boto3)


class Context:  # what Lambda passes; the handler does not use it
    function_name = "retailflow-readiness"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self):
        return 120_000


from retailflow.readiness.handler import handler

try:
    result = {"result": handler(event, Context())}
except Exception as exc:  # Lambda reports it as errorType / errorMessage and counts an Error
    result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
result["loaded"] = {
    name: getattr(sys.modules.get(name), "__file__", None)
    for name in ("retailflow", "s3fs", "aiobotocore", "botocore", "boto3", "duckdb", "pyarrow", "rich", "click")
    if name in sys.modules
}
print(json.dumps(result, default=str))
"""


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "retailflow-readiness-lambda.zip"
    build = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "aws" / "build_lambda.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert f"{out}:" in build.stdout and "bytes" in build.stdout  # it prints the zip's size
    return out


@pytest.fixture(scope="module")
def task_root(lambda_zip, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(lambda_zip) as zf:
        zf.extractall(root)
    return root


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory) -> Path:
    """A clean venv with only boto3 (and its dependencies), at the constraints' versions."""
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check"]
        + ["--constraint", str(ROOT / "constraints.txt"), "boto3"],
        check=True,
        timeout=600,
    )
    return python


@pytest.fixture
def s3_lake(aws, source, day) -> Lake:
    """``day`` exported into a bucket of the local S3 API, at s3://BUCKET/PREFIX."""
    aws.bucket(BUCKET)
    lake = Lake(f"s3://{BUCKET}/{PREFIX}")
    lake.fs.invalidate_cache()
    export_days(source, lake, [day])
    return lake


def invoke(python: Path, task_root: Path, aws, event: dict, **settings: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(task_root.parent),
        **aws.env,
        "RETAILFLOW_LAKE": f"s3://{BUCKET}/{PREFIX}",
        **settings,
    }
    runner = task_root.parent / "runner.py"
    runner.write_text(RUNNER)
    done = subprocess.run(
        [str(python), "-I", str(runner), str(task_root), json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        cwd=task_root,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def schedule_inputs() -> dict[str, dict]:
    """The events the two schedules send, by cron expression (from deploy/aws/template.yaml)."""
    return {
        r["Properties"]["ScheduleExpression"]: json.loads(r["Properties"]["Target"]["Input"])
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    }


def s3_keys(aws, prefix: str) -> dict[str, bytes]:
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_zip_holds_the_handler_and_only_light_dependencies(lambda_zip):
    with zipfile.ZipFile(lambda_zip) as zf:
        names = zf.namelist()
        unzipped = sum(i.file_size for i in zf.infolist())
    tops = {n.split("/", 1)[0] for n in names}
    assert "retailflow/readiness/handler.py" in names
    assert {"fsspec", "s3fs", "aiobotocore", "aiohttp", "tzdata"} <= tops
    for name in FORBIDDEN:
        assert name not in tops and f"{name}.py" not in tops, f"{name} is shipped"
    # Only what the readiness path imports: no engine, pipeline, catalog, CLI or dashboard.
    for package in ("transform", "pipeline", "catalog", "cli", "dashboard", "export", "source", "publish"):
        assert not any(n.startswith(f"retailflow/{package}/") for n in names), package
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyc"))]  # pure Python: any runtime, any CPU
    assert lambda_zip.stat().st_size < 10 * 2**20  # Lambda allows 50 MiB zipped, 250 MiB unzipped
    assert unzipped < 50 * 2**20


def test_the_0330_schedule_finds_a_complete_partition(s3_lake, day, lambda_zip, task_root, runtime_python, aws):
    inputs = schedule_inputs()
    event = {**inputs["cron(30 3 * * ? *)"], "date": day.isoformat()}  # a re-scan of a known day
    out = invoke(runtime_python, task_root, aws, event, RETAILFLOW_TRIGGER="none")

    assert "errorType" not in out, out
    result = out["result"]
    manifest = s3_keys(aws, f"{PREFIX}/raw/dt={day.isoformat()}/_manifest.json")
    (manifest_bytes,) = manifest.values()
    assert result["status"] == "ready" and result["exit_code"] == 0
    assert result["missing"] == [] and result["problems"] == []
    assert result["version"] == hashlib.sha256(manifest_bytes).hexdigest()

    # The scan record is in the lake (what `retailflow status` shows); trigger 'none' records no trigger.
    scan = json.loads(s3_keys(aws, f"{PREFIX}/_state/scans/dt={day.isoformat()}.json").popitem()[1])
    assert scan["status"] == "ready" and scan["version"] == result["version"]
    assert s3_keys(aws, f"{PREFIX}/_state/triggers/") == {}
    assert not [k for k in s3_keys(aws, f"{PREFIX}/") if "/_tmp." in k]  # no temporaries left behind

    # The code came from the zip, boto3/botocore from the runtime, and nothing heavy was imported.
    loaded = out["loaded"]
    assert loaded["retailflow"].startswith(str(task_root)) and loaded["s3fs"].startswith(str(task_root))
    assert not loaded["botocore"].startswith(str(task_root))
    assert not {"duckdb", "pyarrow", "rich", "click"} & set(loaded)


def test_the_0300_schedule_scans_yesterday_and_reports_it_missing(s3_lake, lambda_zip, task_root, runtime_python, aws):
    event = schedule_inputs()["cron(0 3 * * ? *)"]
    assert event == {}  # exactly what the schedule sends: the day that just ended in New York
    out = invoke(runtime_python, task_root, aws, event, RETAILFLOW_TRIGGER="none")

    result = out["result"]
    assert result["status"] == "not_ready" and result["exit_code"] == 3
    assert "has not arrived yet" in result["message"]
    scan = json.loads(s3_keys(aws, f"{PREFIX}/_state/scans/dt={result['date']}.json").popitem()[1])
    assert scan["status"] == "not_ready"


def test_a_missed_deadline_is_a_function_error(s3_lake, empty_day, lambda_zip, task_root, runtime_python, aws):
    event = {"date": empty_day.isoformat(), "deadline": "00:00"}  # any time of day is past 00:00
    out = invoke(runtime_python, task_root, aws, event, RETAILFLOW_TRIGGER="none")

    assert out["errorType"] == "DeadlineMissedError"
    assert "ALERT" in out["errorMessage"] and empty_day.isoformat() in out["errorMessage"]
    scan = json.loads(s3_keys(aws, f"{PREFIX}/_state/scans/dt={empty_day.isoformat()}.json").popitem()[1])
    assert scan["status"] == "deadline_missed"


def test_the_airflow_trigger_runs_in_the_lambda_runtime(s3_lake, day, lambda_zip, task_root, runtime_python, aws):
    """trigger=airflow as in production: the credentials from Secrets Manager, the stopped Airflow host
    woken through EC2 (boto3 from the runtime, both on the local AWS API), the DAG run started over HTTP
    (urllib) at a stand-in for Airflow's API, once."""
    from tests.readiness import airflow_server
    from tests.readiness.airflow_server import PASSWORD, USERNAME

    aws.client("secretsmanager").create_secret(
        Name="retailflow/airflow", SecretString=json.dumps({"username": USERNAME, "password": PASSWORD})
    )
    ec2 = aws.client("ec2")
    (instance,) = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"]
    ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    fake, server = airflow_server.start()
    try:
        settings = {
            "RETAILFLOW_TRIGGER": "airflow",
            "RETAILFLOW_AIRFLOW_URL": fake.url,
            "RETAILFLOW_AIRFLOW_SECRET_ID": "retailflow/airflow",
            "RETAILFLOW_AIRFLOW_WAKE_INSTANCE": instance["InstanceId"],
        }
        first = invoke(runtime_python, task_root, aws, {"date": day.isoformat()}, **settings)
        second = invoke(runtime_python, task_root, aws, {"date": day.isoformat()}, **settings)
    finally:
        airflow_server.stop(server)

    assert "errorType" not in first, first
    assert first["result"]["status"] == "triggered", first
    details = first["result"]["details"]
    assert details["state"] == "queued" and details["woke"]["started"] is True
    assert details["dag_run_id"] == f"retailflow__{day.isoformat()}__{first['result']['version'][:16]}"
    assert second["result"]["status"] == "already_triggered"
    assert [r.status for r in fake.of("trigger")] == [200]
    state = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "running"
    assert PASSWORD not in json.dumps(first) and first["loaded"]["retailflow"].startswith(str(task_root))
