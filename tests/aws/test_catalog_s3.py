"""The catalog of an S3 lake, opened by other tools: it holds only views over ``s3://`` paths; another
process opens it with DuckDB's httpfs extension (loaded by file path, never downloaded) and a temporary S3
secret from the standard AWS credential chain, through ``retailflow.catalog.connect(settings)`` or the SQL
``retailflow catalog --print-setup`` prints. No secret is ever written to the lake or printed. And
``retailflow query`` stays sandboxed to the lake's curated/ and quarantine/ prefixes on S3."""

from __future__ import annotations

import json
import sys
import uuid

import duckdb
import pytest

from retailflow.config import Settings
from retailflow.lake import layout
from tests.cli.clitools import assert_one_line_error, make_invoker
from tests.faults import clean_env, run_script

BUCKET = "rf-catalog"
LAKE = f"s3://{BUCKET}/retail"
TOTAL = "SELECT COUNT(*) AS n, SUM(total_sales_amt) AS s FROM weekly_sales_inventory"


@pytest.fixture
def secret(monkeypatch) -> str:
    """Credentials no test could mistake for anything else: they must never reach the lake or the output."""
    value = f"rf-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", value)
    monkeypatch.setenv("AWS_SESSION_TOKEN", f"rf-token-{uuid.uuid4().hex}")
    return value


@pytest.fixture
def published(aws, secret, tmp_path, monkeypatch, source_url):
    """Two days exported to an S3 lake and published (the catalog rebuilt by the run); the CLI invoker."""
    aws.bucket(BUCKET)
    cli = make_invoker(tmp_path, monkeypatch)
    for args in (("export", "--source", source_url, "--from", "2026-01-04", "--to", "2026-01-05"), ("run", "--all")):
        result = cli(*args, "--lake", LAKE)
        assert result.exit_code == 0, result.output
    return cli


def query_json(cli, sql: str) -> list[dict]:
    result = cli("query", "--lake", LAKE, sql, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def lake_objects(aws) -> dict[str, bytes]:
    s3 = aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


CONNECT = r"""
import json
from retailflow.catalog import connect
from retailflow.config import load_settings

con = connect(load_settings())
rows = con.execute("SELECT COUNT(*) AS n, SUM(total_sales_amt) AS s FROM weekly_sales_inventory").fetchall()
enriched = con.execute("SELECT COUNT(DISTINCT store_desc) FROM weekly_sales_inventory_enriched").fetchone()[0]
secrets = con.execute("SELECT persistent, storage FROM duckdb_secrets()").fetchall()
print(json.dumps({"rows": [[r[0], float(r[1])] for r in rows], "stores": enriched, "secrets": secrets}))
"""

# Another DuckDB client: the printed setup, credentials filled in by the tool itself (here: from its env).
PLAIN_DUCKDB = r"""
import json, os, sys
import duckdb

setup = sys.stdin.read()
setup = setup.replace("<AWS_ACCESS_KEY_ID>", os.environ["AWS_ACCESS_KEY_ID"])
setup = setup.replace("<AWS_SECRET_ACCESS_KEY>", os.environ["AWS_SECRET_ACCESS_KEY"])
setup = setup.replace("<AWS_SESSION_TOKEN, if any>", os.environ["AWS_SESSION_TOKEN"])
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
for statement in filter(str.strip, setup.split(";\n")):
    con.execute(statement)
rows = con.execute("SELECT COUNT(*), SUM(total_sales_amt) FROM weekly_sales_inventory").fetchall()
print(json.dumps([[r[0], float(r[1])] for r in rows]))
"""


def test_a_separate_process_opens_the_s3_catalog_and_queries_it(published, aws, secret, tmp_path):
    cli = published
    (expected,) = query_json(cli, TOTAL)
    assert expected["n"] > 0

    # The catalog file holds views over s3:// paths, and nothing else.
    objects = lake_objects(aws)
    catalog_file = tmp_path / "copy.duckdb"
    catalog_file.write_bytes(objects[f"retail/{layout.catalog()}"])
    con = duckdb.connect(str(catalog_file), read_only=True)
    try:
        views = dict(con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
        tables = con.execute("SELECT COUNT(*) FROM duckdb_tables()").fetchone()[0]
    finally:
        con.close()
    assert tables == 0 and "weekly_sales_inventory" in views
    assert f"'{LAKE}/curated/weekly_sales_inventory/*/*.parquet'" in views["weekly_sales_inventory"]

    # A plain Python process: retailflow.catalog.connect(settings), endpoint from the standard variable.
    env = clean_env(RETAILFLOW_LAKE=LAKE)
    done = run_script(CONNECT, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    opened = json.loads(done.stdout)
    assert opened["rows"] == [[expected["n"], pytest.approx(expected["s"])]]
    assert opened["stores"] > 0
    assert opened["secrets"] == [[False, "memory"]]  # a temporary secret only
    assert secret not in done.stdout + done.stderr

    # Another DuckDB client, from what `retailflow catalog --print-setup` prints (endpoint from settings).
    setup = cli("catalog", "--lake", LAKE, "--print-setup", env={"RETAILFLOW_AWS_ENDPOINT_URL": aws.endpoint})
    assert setup.exit_code == 0, setup.output
    printed = setup.stdout
    assert "httpfs.duckdb_extension" in printed and "TEMPORARY SECRET" in printed and "(READ_ONLY)" in printed
    assert aws.endpoint.split("://")[1] in printed and "URL_STYLE 'path'" in printed and "USE_SSL false" in printed
    assert secret not in printed and "<AWS_SECRET_ACCESS_KEY>" in printed
    env_std_free = {k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"}
    import subprocess

    plain = subprocess.run(
        [sys.executable, "-c", PLAIN_DUCKDB],
        input=printed,
        capture_output=True,
        text=True,
        env=env_std_free,
        timeout=120,
    )
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout) == [[expected["n"], pytest.approx(expected["s"])]]

    # No secret anywhere in the lake.
    for key, data in lake_objects(aws).items():
        assert secret.encode() not in data, key


def test_connect_needs_a_catalog_and_says_so(aws, secret):
    from retailflow.catalog import connect
    from retailflow.errors import LakeError

    aws.bucket(BUCKET)
    with pytest.raises(LakeError) as missing:
        connect(Settings(lake=LAKE))
    assert "Cannot open the catalog" in str(missing.value) and secret not in str(missing.value)


def test_retailflow_query_stays_in_the_lake_on_s3(published, aws):
    cli = published
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key="elsewhere/secret.csv", Body=b"a\n1\n")
    outside = {
        "another prefix of the bucket": f"SELECT * FROM read_csv('s3://{BUCKET}/elsewhere/secret.csv')",
        "the lake's raw zone": f"SELECT * FROM read_csv('{LAKE}/raw/dt=2026-01-04/_manifest.json')",
        "a local file": "SELECT * FROM read_csv('/etc/passwd')",
    }
    for what, sql in outside.items():
        result = cli("query", "--lake", LAKE, sql)
        assert_one_line_error(result, "refused")
        assert "elsewhere" not in result.stdout, what
    inside = query_json(cli, f"SELECT COUNT(*) AS n FROM read_parquet('{LAKE}/curated/store/*.parquet')")
    assert inside[0]["n"] > 0
