"""A step executor for the local EMR API: moto keeps EMR steps RUNNING forever, so this thread (inside
the test process, where the moto server's backends live) runs each RUNNING step's command for real and
marks it COMPLETED or FAILED.

What it runs is the step's own spark-submit command, with the two things a laptop lacks replaced: the
driver script is downloaded from S3, and ``--deploy-mode cluster`` becomes ``--master local[2]``;
``--lake s3://...`` is mapped to a local folder (pyspark has no s3:// filesystem here). It checks the
cluster's bootstrap action too: the wheel it installs must be in S3 and be retailflow's wheel (the package
itself is already installed in this environment).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

SPARK_SUBMIT = Path(sys.executable).with_name("spark-submit")


class StepExecutor:
    def __init__(self, aws, lakes: dict[str, Path], workdir: Path):
        self.aws, self.lakes, self.workdir = aws, lakes, workdir
        self.commands: list[list[str]] = []
        self.done: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> StepExecutor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        from moto.emr.models import emr_backends

        while not self._stop.wait(0.5):
            for account in list(emr_backends.values()):
                for backend in list(account.values()):
                    for cluster in list(backend.clusters.values()):
                        for step in list(cluster.steps):
                            if step.state == "RUNNING" and step.id not in self.done:
                                self.done.add(step.id)
                                self._run(cluster, step)

    def _run(self, cluster, step) -> None:
        step.start_date_time = dt.datetime.now(dt.UTC)
        try:
            self._check_bootstrap(cluster)
            done = subprocess.run(self._command(step.args), capture_output=True, text=True, timeout=900, env=_env())
            step.state = "COMPLETED" if done.returncode == 0 else "FAILED"
            step.last_state_change_reason = (done.stderr.strip().splitlines() or [""])[-1][:500]
        except Exception as exc:  # the step fails; the test sees why
            step.state, step.last_state_change_reason = "FAILED", f"{type(exc).__name__}: {exc}"[:500]
        step.end_date_time = dt.datetime.now(dt.UTC)

    def _command(self, args: list[str]) -> list[str]:
        assert args[0] == "spark-submit", args
        command, rest = [str(SPARK_SUBMIT), "--master", "local[2]"], list(args[1:])
        while rest:
            arg = rest.pop(0)
            if arg == "--deploy-mode":
                rest.pop(0)  # cluster mode needs a cluster
            elif arg.startswith("s3://") and arg.endswith(".py"):
                command.append(str(self._download(arg)))
            elif arg == "--lake":
                command += ["--lake", str(self.lakes[rest.pop(0)])]
            else:
                command.append(arg)
        self.commands.append(command)
        return command

    def _download(self, uri: str) -> Path:
        bucket, _, key = uri[len("s3://") :].partition("/")
        target = self.workdir / Path(key).name
        target.write_bytes(self.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        return target

    def _check_bootstrap(self, cluster) -> None:
        [action] = cluster.bootstrap_actions
        bucket, _, key = action.args[0][len("s3://") :].partition("/")
        wheel = self.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        names = zipfile.ZipFile(io.BytesIO(wheel)).namelist()
        assert "retailflow/pipeline/spark_job.py" in names, "the bootstrap action installs no retailflow wheel"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        RETAILFLOW_ALLOW_MANIFESTLESS="true",  # the test lakes are built by hand, without manifests
    )
    return env
