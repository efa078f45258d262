"""Shared fixtures: one small generated source database per test session (per xdist worker), and
fresh lakes per test. Real DuckDB and real files everywhere."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from retailflow.export import export_days
from retailflow.lake import Lake
from retailflow.source import open_source
from retailflow.source.duckdb_source import url_of
from retailflow.source.generate import GenerateSpec, generate

# Two whole fiscal weeks (Sunday 2026-01-04 .. Saturday 2026-01-17), 4 stores x 6 products.
SPEC = GenerateSpec(start=dt.date(2026, 1, 4), end=dt.date(2026, 1, 17), stores=4, products=6, seed=7)
DAY = dt.date(2026, 1, 5)  # a day inside SPEC's range
EMPTY_DAY = dt.date(2026, 2, 1)  # a day outside it: no sales, no inventory


@pytest.fixture(autouse=True)
def _no_retailflow_env(monkeypatch):
    """Tests see no RETAILFLOW_* variables of the machine they run on."""
    for name in list(os.environ):
        if name.startswith("RETAILFLOW_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def spec() -> GenerateSpec:
    return SPEC


@pytest.fixture(scope="session")
def day() -> dt.date:
    return DAY


@pytest.fixture(scope="session")
def empty_day() -> dt.date:
    return EMPTY_DAY


@pytest.fixture(scope="session")
def source_db(tmp_path_factory) -> Path:
    """The session's source database. Read it only (read_only connections); never write to it."""
    path = tmp_path_factory.mktemp("source") / "source.duckdb"
    generate(path, SPEC)
    return path


@pytest.fixture(scope="session")
def other_source_db(tmp_path_factory) -> Path:
    """Same days, stores and products as source_db but another seed: different facts."""
    path = tmp_path_factory.mktemp("other-source") / "source.duckdb"
    generate(path, GenerateSpec(SPEC.start, SPEC.end, stores=SPEC.stores, products=SPEC.products, seed=8))
    return path


@pytest.fixture(scope="session")
def source_url(source_db) -> str:
    return url_of(source_db)


@pytest.fixture(scope="session")
def source_con(source_db):
    """A read-only connection to the session's source database."""
    con = duckdb.connect(str(source_db), read_only=True)
    yield con
    con.close()


@pytest.fixture
def source(source_url):
    src = open_source(source_url)
    yield src
    src.close()


@pytest.fixture
def lake(tmp_path) -> Lake:
    """An empty local lake (its folder does not exist yet)."""
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def exported(source, lake):
    """``lake`` with DAY exported from the session's source; returns the ExportResult."""
    (result,) = export_days(source, lake, [DAY])
    return result


@pytest.fixture
def partition(lake, exported) -> Path:
    """The folder of DAY's exported partition."""
    return Path(lake.path(f"raw/dt={DAY.isoformat()}"))


@pytest.fixture(scope="session")
def spark():
    """One local[2] Spark session for the whole run (tests using it are grouped on one xdist worker)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    from retailflow.transform.spark_session import get_session

    # Small-data settings: Spark's fixed cost per job (code generation, shuffles) dominates on test lakes.
    session = get_session(
        "local[2]",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.adaptive.enabled": "false",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def aws_server():
    """One local AWS API server (moto, 127.0.0.1) per test worker; stopped at the end."""
    pytest.importorskip("moto")
    from tests import awsserver

    server = awsserver.start()
    yield server
    server.stop()


@pytest.fixture
def aws(aws_server, monkeypatch):
    """The local AWS API, empty, with the environment pointing every AWS client (boto3, s3fs) at it."""
    aws_server.reset()
    for name, value in aws_server.env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return aws_server
