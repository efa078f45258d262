"""Superset on Glue + Athena for real: a lake published with ``catalog = "glue"`` into the local AWS API
(moto: Glue tables and partitions, an Athena that reports SUCCEEDED and returns queued canned rows, running
no SQL), ``server.up`` with those settings (the bundle's database is PyAthena's ``awsathena+rest://`` URL,
its datasets Trino SQL), then Superset's own connection test and a chart's query, both through PyAthena to
the local Athena API.

The Superset process gets fake credentials and the region in its environment (inherited from this process,
``process.superset_env``), but no ``AWS_ENDPOINT_URL``: it reaches the local API only through the
``endpoint_url`` the bundle's URL carries, and a URL pointing elsewhere fails the connection test.

Needs .venv-superset with PyAthena[SQLAlchemy] 2.x (`make superset`). Fiscal weeks: 202602 = 2026-01-04..10,
202603 = 2026-01-11..17.
"""

from __future__ import annotations

import io
import json
import secrets
import urllib.parse
import zipfile
from pathlib import Path

import pytest
import sqlglot

from retailflow.config import Settings
from retailflow.dashboard.superset import server
from retailflow.dashboard.superset.bundle import DASHBOARD_SLUG, DATABASE_NAME, chart_specs, dataset_specs
from retailflow.dashboard.superset.errors import SupersetError
from tests.aws.test_athena import executions, queue_results
from tests.awsserver import CREDENTIALS, REGION
from tests.catalog.test_build import week_data
from tests.dashboard.test_superset import chart_data, free_port
from tests.transform.lakebuilder import LakeBuilder, run_lake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("superset")]

DB = "retail_superset"
RESULTS = "athena-results"
OUTPUT = f"s3://{RESULTS}/superset/"


@pytest.fixture(scope="module")
def local_aws(aws_server):
    """The local AWS API, emptied, with this process's environment pointing AWS clients at it (module-wide)."""
    aws_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in aws_server.env.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.delenv(name, raising=False)
        yield aws_server, patch
    aws_server.reset()


@pytest.fixture(scope="module")
def published(local_aws, tmp_path_factory) -> LakeBuilder:
    """Two weeks published with ``catalog = "glue"``: tables and partitions in the local Glue."""
    aws, _ = local_aws
    aws.bucket(RESULTS)
    lake = LakeBuilder(tmp_path_factory.mktemp("superset-athena") / "lake")
    lake.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    lake.day("2026-01-12", **week_data("2026-01-12", "1.00"))
    assert run_lake(lake.url, catalog="glue", glue_database=DB).status == "success"
    return lake


@pytest.fixture(scope="module")
def settings(local_aws, published) -> Settings:
    aws, _ = local_aws
    return Settings(
        lake=published.url,
        catalog="glue",
        glue_database=DB,
        athena_output=OUTPUT,
        aws_region=REGION,
        aws_endpoint_url=aws.endpoint,
    )


@pytest.fixture(scope="module")
def superset(local_aws, published, settings) -> server.ServerInfo:
    """`server.up` with the Glue settings, started without AWS_ENDPOINT_URL; always stopped afterwards."""
    _, patch = local_aws
    patch.delenv("AWS_ENDPOINT_URL")  # Superset inherits the rest: credentials, region
    server.catalog_file(published.url).unlink()  # the run wrote one too: Superset on Athena needs none
    try:
        yield server.up(published.url, port=free_port(), password=secrets.token_urlsafe(12), settings=settings)
    finally:
        server.down(published.url)


@pytest.fixture(scope="module")
def api(superset) -> server.SupersetClient:
    return server.SupersetClient(superset.url, superset.username, superset.password).login()


@pytest.fixture(scope="module")
def database(api) -> dict:
    """The imported database's connection: id, database_name, backend, sqlalchemy_uri (password masked)."""
    query = urllib.parse.quote(f"(filters:!((col:database_name,opr:eq,value:{DATABASE_NAME})))")
    (found,) = api.get(f"/api/v1/database/?q={query}")["result"]
    return api.get(f"/api/v1/database/{found['id']}/connection")["result"]


def test_up_needs_no_duckdb_catalog(superset, published):
    assert not server.catalog_file(published.url).exists()


def test_the_imported_database_is_athena_at_the_local_api_without_credentials(superset, database, local_aws):
    aws, _ = local_aws
    assert database["backend"] == "awsathena"
    uri = urllib.parse.urlsplit(database["sqlalchemy_uri"])
    assert uri.scheme == "awsathena+rest" and uri.hostname == f"athena.{REGION}.amazonaws.com"
    assert uri.username in (None, "") and uri.password is None
    query = urllib.parse.parse_qs(uri.query)
    assert query == {"work_group": ["primary"], "s3_staging_dir": [OUTPUT], "endpoint_url": [aws.endpoint]}
    assert uri.path == f"/{DB}"
    # No credentials anywhere in the bundle `up` imported.
    with zipfile.ZipFile(io.BytesIO((superset.state_dir / "bundle.zip").read_bytes())) as zf:
        text = "".join(zf.read(name).decode() for name in zf.namelist())
    assert not any(value in text for value in CREDENTIALS.values())
    # Superset got the credentials from its environment, and no endpoint there.
    pid = server.status(superset.state_dir.parents[1])["pid"]
    environ = Path(f"/proc/{pid}/environ")
    if environ.exists():
        names = {item.split(b"=", 1)[0].decode() for item in environ.read_bytes().split(b"\0") if item}
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= names
        assert "AWS_ENDPOINT_URL" not in names


def test_the_datasets_are_imported_on_the_glue_database(api, database):
    answer = api.get("/api/v1/dataset/?q=(columns:!(table_name,schema,database.id,sql),page_size:100)")
    datasets = {d["table_name"]: d for d in answer["result"]}
    assert set(datasets) == set(dataset_specs())
    for dataset in datasets.values():
        assert dataset["schema"] == DB and dataset["database"]["id"] == database["id"]
        sqlglot.parse_one(dataset["sql"], read="trino")
    assert api.get(f"/api/v1/dashboard/{DASHBOARD_SLUG}")["result"]["slug"] == DASHBOARD_SLUG


def test_supersets_connection_test_reaches_the_local_athena(api, database, local_aws):
    aws, _ = local_aws
    before = {e["QueryExecutionId"] for e in executions(aws)}
    answer = api.post(
        "/api/v1/database/test_connection/",
        {"database_name": DATABASE_NAME, "sqlalchemy_uri": database["sqlalchemy_uri"]},
    )
    assert answer == {"message": "OK"}
    (ping,) = [e for e in executions(aws) if e["QueryExecutionId"] not in before]
    assert ping["Query"].strip().upper() == "SELECT 1"
    assert ping["WorkGroup"] == "primary"
    assert ping["QueryExecutionContext"]["Database"] == DB
    assert ping["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)


def test_the_connection_test_fails_for_another_endpoint(api, database, local_aws):
    """The endpoint in the URL is what Superset uses: a closed port fails the test (it is no other route)."""
    aws, _ = local_aws
    closed = f"http://127.0.0.1:{free_port()}"
    uri = database["sqlalchemy_uri"].replace(urllib.parse.quote(aws.endpoint, safe=""), urllib.parse.quote(closed))
    assert uri != database["sqlalchemy_uri"]
    with pytest.raises(SupersetError, match="Could not connect to the endpoint URL"):
        api.post("/api/v1/database/test_connection/", {"database_name": "elsewhere", "sqlalchemy_uri": uri})


def test_a_chart_queries_athena_with_the_datasets_trino_sql(api, local_aws):
    """A headline chart's query goes through PyAthena to the local Athena as Trino SQL over the Glue
    database, and Superset shows the row Athena returns (canned: the local Athena runs no SQL)."""
    aws, _ = local_aws
    charts = {c["uuid"]: c for c in api.get("/api/v1/chart/?q=(columns:!(id,uuid),page_size:100)")["result"]}
    spec = next(s for s in chart_specs() if s.panel.chart == "kpi" and s.viz_type == "big_number_total")
    (metric,) = spec.metrics
    before = {e["QueryExecutionId"] for e in executions(aws)}
    queue_results(aws, ([(metric, "double")], [(1234.5,)]))
    (row,) = chart_data(api, charts[spec.uuid]["id"], [{"col": "yr_wk_num", "op": "==", "val": 202603}])
    assert row[metric] == 1234.5
    (query,) = [e for e in executions(aws) if e["QueryExecutionId"] not in before]
    assert query["QueryExecutionContext"]["Database"] == DB
    sql = query["Query"]
    tree = sqlglot.parse_one(sql, read="trino")
    assert "202603" in sql and json.dumps(metric)[1:-1] in sql
    assert {t.name for t in tree.find_all(sqlglot.exp.Table)} & {
        "weekly_sales_inventory",
        "weekly_sales_inventory_enriched",
    }
