"""Superset on an S3 lake's DuckDB catalog, for real: a lake built locally, copied to the local S3 (moto),
published there with the DuckDB engine (the catalog written to ``s3://.../catalog/retailflow.duckdb``), then
``server.up`` for that S3 lake with its state folder under $RETAILFLOW_SUPERSET_HOME (tmp). The bundle's
database is an in-memory DuckDB; the ``superset_config.py`` hook attaches the S3 catalog on every new
connection (httpfs by file path, a temporary secret from the Superset process's AWS credential chain). A
chart's query through Superset's API returns the total ``retailflow query`` gives on the S3 lake, and no
credential is in the bundle or the config.

Needs .venv-superset with duckdb-extension-httpfs (`make superset`). Fiscal weeks: 202602 = 2026-01-04..10,
202603 = 2026-01-11..17.
"""

from __future__ import annotations

import io
import os
import secrets
import zipfile

import pytest

from retailflow.catalog.query import run_query
from retailflow.config import Settings
from retailflow.dashboard import panels
from retailflow.dashboard.superset import server
from retailflow.lake import Lake
from tests.awsserver import REGION
from tests.catalog.test_build import week_data
from tests.dashboard.test_superset import free_port, headline
from tests.transform.lakebuilder import LakeBuilder, run_lake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("superset")]

BUCKET = "rf-superset"
LAKE = f"s3://{BUCKET}/retail"


@pytest.fixture(scope="module")
def local_aws(aws_server, tmp_path_factory):
    """The local AWS API, emptied, with this process's environment pointing AWS clients at it (module-wide),
    and Superset's state of S3 lakes under a tmp folder."""
    aws_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in aws_server.env.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.delenv(name, raising=False)
        for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):  # values nothing could mistake: never written
            patch.setenv(name, f"rf-{name.lower()}-{secrets.token_hex(8)}")
        home = tmp_path_factory.mktemp("superset-home")
        patch.setenv(server.HOME_ENV, str(home))  # tests see it only in module fixtures (conftest drops it)
        yield aws_server, home
    aws_server.reset()


@pytest.fixture(scope="module")
def published(local_aws, tmp_path_factory) -> str:
    """Two weeks of raw days copied to the S3 lake and published there (DuckDB engine)."""
    aws, _ = local_aws
    local = LakeBuilder(tmp_path_factory.mktemp("superset-s3") / "lake")
    local.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    local.day("2026-01-12", **week_data("2026-01-12", "1.00"))
    aws.bucket(BUCKET)
    s3 = aws.client("s3")
    for path in sorted(p for p in local.root.rglob("*") if p.is_file()):
        s3.put_object(Bucket=BUCKET, Key=f"retail/{path.relative_to(local.root).as_posix()}", Body=path.read_bytes())
    assert run_lake(LAKE).status == "success"
    return LAKE


@pytest.fixture(scope="module")
def superset(local_aws, published) -> server.ServerInfo:
    aws, _ = local_aws
    settings = Settings(lake=published, aws_region=REGION, aws_endpoint_url=aws.endpoint)
    try:
        yield server.up(published, port=free_port(), password=secrets.token_urlsafe(12), settings=settings)
    finally:
        server.down(published)


@pytest.fixture(scope="module")
def api(superset) -> server.SupersetClient:
    return server.SupersetClient(superset.url, superset.username, superset.password).login()


def test_the_state_lives_outside_the_lake(superset, local_aws, monkeypatch):
    _, home = local_aws
    monkeypatch.setenv(server.HOME_ENV, str(home))
    assert superset.state_dir == server.state_dir(LAKE) and superset.state_dir.parent == home
    assert superset.state_dir.name.startswith(f"{BUCKET}-")
    assert server.status(LAKE)["running"]


def test_no_credentials_in_the_bundle_or_the_config(superset):
    with zipfile.ZipFile(io.BytesIO((superset.state_dir / "bundle.zip").read_bytes())) as zf:
        text = "".join(zf.read(name).decode() for name in zf.namelist())
    assert "duckdb:///:memory:" in text
    config = (superset.state_dir / "superset_config.py").read_text()
    assert f"{LAKE}/catalog/retailflow.duckdb" in config
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        value = os.environ[name]
        assert value not in text and value not in config


def test_the_headline_charts_read_the_s3_catalog(api):
    charts = {c["uuid"]: c for c in api.get("/api/v1/chart/?q=(columns:!(id,uuid),page_size:100)")["result"]}
    names, rows = run_query(Lake(LAKE), panels.headline_sql(), {"week": 202603})  # as `retailflow query`
    expected = dict(zip(names, rows[0], strict=True))
    assert float(expected["sales_amt"]) > 0
    shown = headline(api, charts, 202603)
    assert set(shown) == set(panels.HEADLINE)
    for name, value in shown.items():
        assert value == pytest.approx(float(expected[name]) if expected[name] is not None else None), name
