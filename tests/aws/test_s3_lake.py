"""An S3 lake is first-class: every command on ``s3://bucket/prefix`` against a real S3 API (moto's server
on 127.0.0.1), with the endpoint and region from the settings or from the standard AWS variables; the
exactly-once and atomic-replacement promises hold there too (conditional PUTs for trigger claims and the
writer lease, one object per week replaced in place); and what a nightly run costs in S3 requests."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from collections import Counter

import duckdb
import pytest

from retailflow.config import Settings, load_settings
from retailflow.lake import layout
from retailflow.lake.lease import SlotBusy, take_writer_lease
from retailflow.lake.storage import Lake, open_lake, storage_options
from retailflow.readiness.scan import ALREADY_TRIGGERED, IN_PROGRESS, TRIGGERED
from tests.cli.clitools import make_invoker
from tests.conftest import DAY
from tests.faults import clean_env, start_together
from tests.faults.test_concurrency import SCAN

BUCKET = "rf-lake"
WEEK_FIRST, WEEK_LAST = "2026-01-04", "2026-01-10"  # fiscal week 202602 (Sunday .. Saturday)
WEEK_FILE = f"{layout.curated_table(layout.WEEKLY_TABLE)}/yr_wk_num=202602/{layout.PART_FILE}"


def keys(aws, prefix: str) -> list[str]:
    """Every object key under ``prefix/`` (relative to it)."""
    s3 = aws.client("s3")
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
        found += [o["Key"][len(prefix) + 1 :] for o in page.get("Contents", [])]
    return sorted(found)


def parquet_rows(data: bytes, sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        import pyarrow.parquet as pq

        con.register("t", pq.read_table(io.BytesIO(data)))
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def cli(tmp_path, monkeypatch):
    return make_invoker(tmp_path, monkeypatch)


def ok(result):
    assert result.exit_code == 0, result.output
    return result


# -- settings -> storage options ----------------------------------------------------------------------


def test_the_factory_passes_the_aws_settings_to_s3_lakes_only():
    settings = Settings(lake="s3://b/lake", aws_endpoint_url="http://127.0.0.1:9", aws_region="eu-west-3")
    assert storage_options(settings) == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-3"}
    }
    assert storage_options(Settings(lake="s3://b/lake")) == {}  # the standard AWS variables and profile
    assert storage_options(settings.replace(lake="/data/lake")) == {}
    assert storage_options(settings.replace(lake="memory://b/lake")) == {}
    lake = open_lake(settings)
    assert lake.url == "s3://b/lake"
    assert lake.fs.client_kwargs == {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-3"}


# -- every command ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_command_on_an_s3_lake_with_the_endpoint_from_settings(aws, cli, monkeypatch, tmp_path, source_url):
    """The standard AWS_ENDPOINT_URL is unset: only RETAILFLOW_AWS_ENDPOINT_URL / _REGION lead to the API."""
    aws.bucket(BUCKET)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("RETAILFLOW_AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("RETAILFLOW_AWS_REGION", "us-east-1")
    lake = f"s3://{BUCKET}/retail"

    ok(cli("export", "--lake", lake, "--source", source_url, "--from", WEEK_FIRST, "--to", WEEK_LAST))
    assert sum(k.endswith("/_manifest.json") for k in keys(aws, "retail")) == 7
    scan = json.loads(ok(cli("scan", "--lake", lake, "--date", DAY.isoformat(), "--json")).stdout)
    assert scan["status"] == TRIGGERED  # the local trigger ran the week, on the same S3 lake
    ok(cli("run", "--lake", lake, "--all", "--engine", "duckdb"))
    status = ok(cli("status", "--lake", lake)).output
    assert "success" in status and "2026-01-05" in status
    named = ok(cli("query", "--lake", lake, "--named", "top_products", "--format", "json"))
    assert json.loads(named.stdout)
    total = json.loads(
        ok(
            cli(
                "query",
                "--lake",
                lake,
                "SELECT SUM(total_sales_amt) AS s FROM weekly_sales_inventory",
                "--format",
                "json",
            )
        ).stdout
    )
    tables = ok(cli("query", "--lake", lake, "--tables")).output
    assert "weekly_sales_inventory_enriched" in tables
    ok(cli("catalog", "--lake", lake))
    ok(cli("dashboard", "--lake", lake))

    found = keys(aws, "retail")
    for key in (WEEK_FILE, "curated/store/part-0.parquet", layout.catalog(), "dashboard/index.html"):
        assert key in found, key
    assert not [k for k in found if "/_tmp." in k or k.startswith("_tmp.") or "_staging" in k], found
    assert len([k for k in found if k.startswith("_state/runs/")]) == 2

    # The same week published on a local lake from the same source has the same total.
    local = str(tmp_path / "local")
    ok(cli("export", "--lake", local, "--source", source_url, "--from", WEEK_FIRST, "--to", WEEK_LAST))
    ok(cli("run", "--lake", local, "--all"))
    local_total = json.loads(
        ok(
            cli(
                "query",
                "--lake",
                local,
                "SELECT SUM(total_sales_amt) AS s FROM weekly_sales_inventory",
                "--format",
                "json",
            )
        ).stdout
    )
    assert total == local_total and total[0]["s"]


def test_the_standard_aws_variables_alone_reach_the_lake(aws, cli, source_url):
    aws.bucket(BUCKET)
    lake = f"s3://{BUCKET}/std"
    ok(cli("export", "--lake", lake, "--source", source_url, "--date", DAY.isoformat()))
    scan = json.loads(ok(cli("scan", "--lake", lake, "--date", DAY.isoformat(), "--trigger", "none", "--json")).stdout)
    assert scan["status"] == "ready"
    assert "_manifest.json" in " ".join(keys(aws, "std"))


# -- exactly once: conditional writes -------------------------------------------------------------------


def test_the_s3_api_honours_if_none_match(aws):
    aws.bucket(BUCKET)
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key="claim", Body=b"first", IfNoneMatch="*")
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.put_object(Bucket=BUCKET, Key="claim", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"

    lake = open_lake(load_settings(environ={"RETAILFLOW_LAKE": f"s3://{BUCKET}/x"}))
    assert lake.create_exclusive("slot/0000000001.json", b"mine") is True
    assert lake.create_exclusive("slot/0000000001.json", b"theirs") is False
    assert lake.read_bytes("slot/0000000001.json") == b"mine"


@pytest.fixture
def exported_day(aws, source_url, cli) -> str:
    """DAY exported (with its manifest) under s3://rf-lake/template: copied for each round."""
    aws.bucket(BUCKET)
    ok(cli("export", "--lake", f"s3://{BUCKET}/template", "--source", source_url, "--date", DAY.isoformat()))
    return "template"


def copy_prefix(aws, source: str, target: str) -> str:
    s3 = aws.client("s3")
    for key in keys(aws, source):
        s3.copy_object(Bucket=BUCKET, Key=f"{target}/{key}", CopySource={"Bucket": BUCKET, "Key": f"{source}/{key}"})
    return f"s3://{BUCKET}/{target}"


def test_two_scans_of_a_ready_day_at_the_same_moment_trigger_once(aws, exported_day, tmp_path):
    for round_ in range(3):
        url = copy_prefix(aws, exported_day, f"round{round_}")
        fires = tmp_path / f"fires{round_}.log"
        done = start_together(SCAN, [[url, DAY.isoformat(), fires]] * 2, tmp_path, env=clean_env())

        assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
        statuses = sorted(json.loads(d.stdout)["status"] for d in done)
        assert statuses in ([ALREADY_TRIGGERED, TRIGGERED], [IN_PROGRESS, TRIGGERED]), statuses
        assert len(fires.read_text().splitlines()) == 1
        lake = Lake(url)
        assert len(lake.listdir(layout.triggers(DAY))) == 1


def test_the_lambda_handler_and_the_pipeline_stages_open_the_lake_from_settings(aws, exported_day, monkeypatch):
    """The Lambda's handler and the pipeline's stages build their lake from settings (the factory): with
    only RETAILFLOW_AWS_ENDPOINT_URL / _REGION naming the API, both reach the S3 lake."""
    from retailflow.pipeline import run
    from retailflow.readiness.handler import handler

    url = copy_prefix(aws, exported_day, "lambda")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    for name, value in {
        "LAKE": url,
        "TRIGGER": "none",
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(f"RETAILFLOW_{name}", value)

    outcome = handler({"date": DAY.isoformat()})
    assert outcome["status"] == "ready", outcome
    report = run(load_settings(), [DAY])
    assert report.status == "success"
    assert WEEK_FILE in keys(aws, "lambda")


# Two processes race for the lake's writer lease (no waiting): one holds it, and stays alive a while.
RACE_FOR_LEASE = r"""
import json, sys, time
from retailflow.lake import Lake
from retailflow.lake.lease import SlotBusy, take_writer_lease
wait_for_go()
try:
    writer = take_writer_lease(Lake(sys.argv[1]), f"run {sys.argv[2]}", ttl_s=60, wait_s=0)
except SlotBusy as busy:
    print(json.dumps({"busy": str(busy)}))
else:
    print(json.dumps({"held": True}))
    time.sleep(4)  # alive (and holding) while the other one tries; then gone without releasing
"""


def test_the_writer_lease_works_on_s3(aws, tmp_path):
    aws.bucket(BUCKET)
    url = f"s3://{BUCKET}/lease"
    done = start_together(RACE_FOR_LEASE, [[url, "a"], [url, "b"]], tmp_path, env=clean_env())
    assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
    outcomes = [json.loads(d.stdout) for d in done]
    assert sum("held" in o for o in outcomes) == 1, outcomes
    (busy,) = [o["busy"] for o in outcomes if "busy" in o]
    assert "run " in busy

    # Its holder is gone (same host, dead pid): the next run takes it over; then it is held, then released.
    lake = Lake(url)
    mine = take_writer_lease(lake, "run c", ttl_s=60, wait_s=0)
    assert mine.takeover is not None
    with pytest.raises(SlotBusy) as held:
        take_writer_lease(lake, "run d", ttl_s=60, wait_s=0)
    assert "run c" in str(held.value)
    mine.release()
    take_writer_lease(lake, "run d", ttl_s=60, wait_s=0).release()
    generations = sorted(lake.listdir(layout.writer_lease()))
    assert len(generations) == 1 and lake.read_json(f"{layout.writer_lease()}/{generations[0]}")["state"] == "released"


# -- atomic replacement ---------------------------------------------------------------------------------


def test_a_republished_week_replaces_its_object(aws, cli, source_url, other_source_db):
    from retailflow.source.duckdb_source import url_of

    aws.bucket(BUCKET)
    lake = f"s3://{BUCKET}/republish"
    s3 = aws.client("s3")
    ok(cli("export", "--lake", lake, "--source", source_url, "--from", WEEK_FIRST, "--to", "2026-01-06"))
    ok(cli("run", "--lake", lake, "--all"))
    key = f"republish/{WEEK_FILE}"
    before = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    # Monday re-delivered with other facts: the run republishes the week, one object, replaced in place.
    ok(cli("export", "--lake", lake, "--source", url_of(other_source_db), "--date", DAY.isoformat()))
    ok(cli("run", "--lake", lake, "--date", DAY.isoformat()))
    after = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    assert after != before
    sql = "SELECT SUM(total_sales_amt) FROM t"
    assert parquet_rows(after, sql) != parquet_rows(before, sql)
    week_objects = [k for k in keys(aws, "republish") if k.startswith(WEEK_FILE.rpartition("/")[0])]
    assert week_objects == [WEEK_FILE]  # no second file, no temporary left behind
    assert not [k for k in keys(aws, "republish") if "_tmp." in k or k.startswith("_staging")]
    (shown,) = json.loads(
        ok(
            cli(
                "query",
                "--lake",
                lake,
                "SELECT SUM(total_sales_amt) AS s FROM weekly_sales_inventory",
                "--format",
                "json",
            )
        ).stdout
    )
    assert shown["s"] == pytest.approx(float(parquet_rows(after, sql)[0][0]))


# -- what a night costs ---------------------------------------------------------------------------------

_REQUEST = re.compile(r"(GET|PUT|HEAD|POST|DELETE) (/[^ ]*) HTTP/")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours some status lines


class RequestLog(logging.Handler):
    """Counts the requests moto's server (werkzeug, in this process) answers for one bucket."""

    def __init__(self, bucket: str):
        super().__init__(logging.INFO)
        self.bucket = bucket
        self.requests: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _REQUEST.search(_COLOUR.sub("", record.getMessage()))
        if match and match.group(2).startswith(f"/{self.bucket}"):
            self.requests.append((match.group(1), match.group(2)))

    def counts(self) -> Counter:
        kinds: Counter = Counter()
        for method, path in self.requests:
            if method == "GET" and "list-type=2" in path:
                kinds["LIST"] += 1
            elif method == "POST" and path.endswith("?delete"):
                kinds["DELETE (batch)"] += 1
            else:
                kinds[method] += 1
        return kinds

    def __enter__(self) -> RequestLog:
        logging.getLogger("werkzeug").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("werkzeug").removeHandler(self)


NIGHT_1, NIGHT_7 = dt.date(2026, 1, 4), dt.date(2026, 1, 10)


@pytest.mark.slow
def test_requests_of_a_nightly_export_scan_and_run(aws, cli, source_url, capsys):
    """The figure in docs/aws.md: the S3 requests of one night (export of the day, the 03:00 scan that
    triggers the run of the week so far, which publishes and rebuilds the catalog, and the 03:30 scan), on
    the first night of a week and on its last (the run then reads all seven days)."""
    aws.bucket(BUCKET)
    figures = {}
    for name, night in (("night 1", NIGHT_1), ("night 7", NIGHT_7)):
        lake = f"s3://{BUCKET}/{name.replace(' ', '')}"
        if night != NIGHT_1:  # the six nights before it, not counted
            ok(cli("export", "--lake", lake, "--source", source_url, "--from", WEEK_FIRST, "--to", "2026-01-09"))
            ok(cli("run", "--lake", lake, "--all"))
        with RequestLog(BUCKET) as export_log:
            ok(cli("export", "--lake", lake, "--source", source_url, "--date", night.isoformat()))
        with RequestLog(BUCKET) as scan_log:
            assert (
                json.loads(ok(cli("scan", "--lake", lake, "--date", night.isoformat(), "--json")).stdout)["status"]
                == TRIGGERED
            )
        with RequestLog(BUCKET) as rescan_log:
            assert (
                json.loads(ok(cli("scan", "--lake", lake, "--date", night.isoformat(), "--json")).stdout)["status"]
                == ALREADY_TRIGGERED
            )
        figures[name] = {
            "export": export_log.counts(),
            "scan + run": scan_log.counts(),
            "second scan": rescan_log.counts(),
        }
    with capsys.disabled():
        for name, parts in figures.items():
            total = sum(sum(c.values()) for c in parts.values())
            print(f"\n{name}: {total} requests")
            for part, counts in parts.items():
                print(f"  {part}: {sum(counts.values())} {dict(sorted(counts.items()))}")
    for parts in figures.values():
        total = sum(sum(c.values()) for c in parts.values())
        assert 50 < total < 1500, parts  # the documented order of magnitude (docs/aws.md)
        assert parts["export"]["PUT"] >= 6  # five tables and the manifest


def test_a_missing_bucket_is_one_line_and_is_never_created(aws, tmp_path, monkeypatch, source_url):
    from tests.cli.clitools import assert_one_line_error, make_invoker

    invoke = make_invoker(tmp_path, monkeypatch)
    result = invoke("export", "--source", source_url, "--lake", "s3://no-such-bucket/lake", "--date", "2026-01-05")
    assert_one_line_error(result, "The bucket of the lake s3://no-such-bucket/lake does not exist")
    assert "no-such-bucket" not in {b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])}
    assert_one_line_error(invoke("status", "--lake", "s3://no-such-bucket/lake"), "does not exist")
