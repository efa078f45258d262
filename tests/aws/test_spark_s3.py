"""Spark on an S3 lake. pyspark alone has no s3:// filesystem (EMR and Databricks bring theirs), so a
local run says so in one line; through a FUSE mount of the bucket (s3fs, against the local S3 API) the
Spark engine runs, and the catalog is then rebuilt on the s3:// URL and agrees with DuckDB."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from retailflow.catalog import build_catalog, run_query
from retailflow.config import Settings
from retailflow.errors import LakeError
from retailflow.lake import Lake
from retailflow.pipeline import run
from retailflow.transform.spark_engine import SparkEngine
from tests.transform.lakebuilder import LakeBuilder, run_lake, weekly_rows, write_worked_example

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]
BUCKET = "spark-lake"


@pytest.fixture
def mounted(aws, tmp_path):
    """The bucket mounted at a local folder through s3fs (FUSE), unmounted afterwards."""
    if shutil.which("s3fs") is None or not os.path.exists("/dev/fuse"):
        pytest.skip("needs s3fs (FUSE): apt-get install s3fs")
    aws.bucket(BUCKET)
    password_file = tmp_path / "s3fs-passwd"
    password_file.write_text("testing:testing\n")  # the local API's fake credentials
    password_file.chmod(0o600)
    mount = tmp_path / "mnt"
    mount.mkdir()
    subprocess.run(
        ["s3fs", BUCKET, str(mount), "-o", f"url={aws.endpoint}", "-o", "use_path_request_style"]
        + ["-o", f"passwd_file={password_file}", "-o", "dbglevel=err"],
        check=True,
        timeout=30,
    )
    deadline = time.monotonic() + 10
    while not os.path.ismount(mount) and time.monotonic() < deadline:
        time.sleep(0.1)
    yield mount
    subprocess.run(["fusermount", "-u", str(mount)], check=False, timeout=30)


def test_spark_on_an_s3_lake_says_what_to_do_in_one_line(mounted, spark):
    write_worked_example(LakeBuilder(mounted / "lake"))  # written through the mount: objects in the bucket
    settings = Settings(lake=f"s3://{BUCKET}/lake", allow_manifestless=True)
    with pytest.raises(LakeError, match="no filesystem for s3:// lakes") as info:
        run(settings, None, engine=SparkEngine(session=spark))
    assert "mount the bucket" in str(info.value) and "\n" not in str(info.value)


def test_spark_runs_through_a_mounted_bucket_and_the_catalog_reads_s3(mounted, spark, tmp_path):
    on_s3 = write_worked_example(LakeBuilder(mounted / "lake"))
    local = write_worked_example(LakeBuilder(tmp_path / "local"))
    run_lake(on_s3.url, None, engine=SparkEngine(session=spark))
    run_lake(local.url, None)
    assert weekly_rows(on_s3) == weekly_rows(local)

    lake = Lake(f"s3://{BUCKET}/lake")
    build_catalog(lake)
    _, rows = run_query(lake, "SELECT SUM(total_sales_amt) FROM weekly_sales_inventory")
    assert rows == [(sum(r["total_sales_amt"] for r in weekly_rows(local)),)]
    assert rows[0][0] > Decimal(0)
    assert Path(mounted / "lake" / "catalog" / "retailflow.duckdb").exists()
