"""The Glue catalog target (catalog/glue.py) against the local Glue API: the tables from the one schema
definition, one partition per published week registered by publishing itself, idempotence.

Fiscal weeks used: 202602 = 2026-01-04..10, 202603 = 2026-01-11..17.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retailflow.catalog import glue
from retailflow.config import Settings
from retailflow.errors import RetailflowError
from retailflow.lake import Lake
from retailflow.tables import DIMENSION_TABLES
from retailflow.transform.schema import PARTITION_COLUMN, SUM_DECIMAL, WEEKLY_COLUMNS
from tests.catalog.test_build import week_data
from tests.transform.lakebuilder import LakeBuilder, run_lake

DB = "retail_test"


def glue_settings(url: str, **values) -> Settings:
    return Settings(lake=url, **{"allow_manifestless": True, "catalog": "glue", "glue_database": DB, **values})


@pytest.fixture
def two_weeks(aws, tmp_path) -> LakeBuilder:
    """Two weeks published by a run with ``catalog = "glue"``."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    lake.day("2026-01-12", **week_data("2026-01-12", "1.00"))
    assert run_lake(lake.url, catalog="glue", glue_database=DB).status == "success"
    return lake


# -- pure ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "hive"),
    [
        ("INTEGER", "int"),
        ("BIGINT", "bigint"),
        ("DECIMAL(38,2)", "decimal(38,2)"),
        (SUM_DECIMAL, "decimal(18,2)"),
        ("DATE", "date"),
        ("DOUBLE", "double"),
        ("VARCHAR", "string"),
        ("BOOLEAN", "boolean"),
    ],
)
def test_type_mapping(sql, hive):
    assert glue.glue_type(sql) == hive


def test_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="TIMESTAMP"):
        glue.glue_type("TIMESTAMP")


def test_the_weekly_table_input_is_the_schema_definition():
    table = glue.weekly_table_input("s3://b/lake/curated/weekly_sales_inventory")
    sd = table["StorageDescriptor"]
    assert [c["Name"] for c in sd["Columns"]] == [c.name for c in WEEKLY_COLUMNS]
    assert PARTITION_COLUMN.name not in [c["Name"] for c in sd["Columns"]]  # in the folder names only
    assert table["PartitionKeys"] == [{"Name": "yr_wk_num", "Type": "int"}]
    assert sd["Location"] == "s3://b/lake/curated/weekly_sales_inventory/"
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert table["TableType"] == "EXTERNAL_TABLE" and table["Parameters"]["classification"] == "parquet"
    part = glue.partition_input(202602, "s3://b/lake/curated/weekly_sales_inventory/yr_wk_num=202602")
    assert part["Values"] == ["202602"]
    assert part["StorageDescriptor"]["Location"].endswith("/yr_wk_num=202602/")
    assert part["StorageDescriptor"]["Columns"] == sd["Columns"]


def test_the_view_definition_round_trips():
    view = glue.view_input(DB)
    definition = glue.decode_view(view["ViewOriginalText"])
    assert definition["schema"] == DB and "LEFT JOIN store s" in definition["originalSql"]
    assert [c["name"] for c in definition["columns"]] == [c["Name"] for c in view["StorageDescriptor"]["Columns"]]
    types = {c["name"]: c["type"] for c in definition["columns"]}
    assert types["yr_wk_num"] == "integer" and types["store_desc"] == "varchar"
    assert types["total_sales_amt"] == "decimal(18,2)"


# -- against the local Glue API ------------------------------------------------------------------------------


_ARROW_TO_HIVE = {
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.string(): "string",
    pa.date32(): "date",
    pa.bool_(): "boolean",
}


def hive_type_of(arrow_type: pa.DataType) -> str:
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    return _ARROW_TO_HIVE[arrow_type]


def test_publishing_registers_tables_and_partitions(two_weeks, aws):
    client = aws.client("glue")
    lake = Lake(two_weeks.url)
    tables = {t["Name"]: t for t in client.get_tables(DatabaseName=DB)["TableList"]}
    assert set(tables) == {"weekly_sales_inventory", "store", "product", "calendar", glue.ENRICHED_VIEW}

    weekly = tables["weekly_sales_inventory"]
    assert weekly["PartitionKeys"] == [{"Name": "yr_wk_num", "Type": "int"}]
    assert weekly["StorageDescriptor"]["Location"] == lake.uri("curated/weekly_sales_inventory") + "/"
    assert tables[glue.ENRICHED_VIEW]["TableType"] == "VIRTUAL_VIEW"

    parts = sorted(glue.partitions(client, DB), key=lambda p: p["Values"])
    assert [p["Values"] for p in parts] == [["202602"], ["202603"]]
    for part in parts:
        week = int(part["Values"][0])
        assert (
            part["StorageDescriptor"]["Location"] == lake.uri(f"curated/weekly_sales_inventory/yr_wk_num={week}") + "/"
        )
    assert glue.latest_week(glue_settings(two_weeks.url)) == 202603


def test_column_types_are_those_of_the_parquet_files(two_weeks, aws):
    """Each Glue column has the type the files really hold (read back with pyarrow), by name."""
    client = aws.client("glue")
    weekly = client.get_table(DatabaseName=DB, Name="weekly_sales_inventory")["Table"]
    schema = pq.read_schema(two_weeks.root / "curated/weekly_sales_inventory/yr_wk_num=202602/part-0.parquet")
    file_types = {f.name: hive_type_of(f.type) for f in schema}
    glue_types = {c["Name"]: c["Type"] for c in weekly["StorageDescriptor"]["Columns"]}
    assert glue_types == file_types
    assert glue_types["total_sales_amt"] == "decimal(18,2)" and glue_types["week_start_dt"] == "date"
    for table in DIMENSION_TABLES:
        registered = client.get_table(DatabaseName=DB, Name=table.name)["Table"]["StorageDescriptor"]["Columns"]
        schema = pq.read_schema(two_weeks.root / f"curated/{table.name}/part-0.parquet")
        in_file = {f.name: hive_type_of(f.type) for f in schema}
        for column in registered:  # Athena reads parquet by name: every registered column is in the file
            assert in_file[column["Name"]] == column["Type"], (table.name, column)


def test_republishing_a_week_updates_never_duplicates(two_weeks, aws):
    client = aws.client("glue")
    before = {p["Values"][0]: p for p in glue.partitions(client, DB)}
    two_weeks.day("2026-01-06", **week_data("2026-01-06", "5.00"))  # a day more in week 202602
    assert run_lake(two_weeks.url, days=["2026-01-06"], catalog="glue", glue_database=DB).status == "success"
    after = {p["Values"][0]: p for p in glue.partitions(client, DB)}
    assert sorted(after) == ["202602", "202603"]
    assert after["202602"]["StorageDescriptor"] == before["202602"]["StorageDescriptor"]
    assert len(client.get_tables(DatabaseName=DB)["TableList"]) == 5

    settings = glue_settings(two_weeks.url)
    lake = Lake(two_weeks.url)
    assert glue.register_weeks(settings, lake, [202602, 202603]) == {"created": 0, "updated": 2}
    done = glue.sync(settings, lake)
    assert done["weeks"] == [202602, 202603] and done["created"] == 0 and done["removed"] == 0
    assert len(glue.partitions(client, DB)) == 2


def test_a_week_is_registered_by_publish_alone(aws, tmp_path):
    """The publish stage registers its weeks: Athena sees them before the catalog stage runs."""
    from retailflow.pipeline import stages
    from retailflow.pipeline.records import Selection

    lake = LakeBuilder(tmp_path / "lake")
    lake.day("2026-01-05", **week_data("2026-01-05", "10.00"))
    settings = glue_settings(lake.url)
    planned = stages.plan_weeks(settings, Selection(None))
    published = stages.publish(settings, stages.check(settings, stages.compute(settings, planned)))
    assert published.weeks == (202602,)
    assert glue.partition_weeks(aws.client("glue"), DB) == [202602]


def test_sync_removes_partitions_of_weeks_gone_from_the_lake(two_weeks, aws):
    import shutil

    shutil.rmtree(two_weeks.root / "curated/weekly_sales_inventory/yr_wk_num=202603")
    done = glue.sync(glue_settings(two_weeks.url), Lake(two_weeks.url))
    assert done["removed"] == 1
    assert glue.partition_weeks(aws.client("glue"), DB) == [202602]


def test_an_s3_lake_registers_s3_locations(two_weeks, aws):
    bucket = aws.bucket("glue-lake")
    s3 = aws.client("s3")
    for path in sorted((two_weeks.root / "curated").rglob("*.parquet")):
        s3.upload_file(str(path), bucket, f"lake/{path.relative_to(two_weeks.root).as_posix()}")
    settings = glue_settings(f"s3://{bucket}/lake", glue_database="s3_db")
    done = glue.sync(settings, Lake(settings.lake))
    assert done["weeks"] == [202602, 202603]
    client = aws.client("glue")
    locations = sorted(p["StorageDescriptor"]["Location"] for p in glue.partitions(client, "s3_db"))
    assert locations == [
        f"s3://{bucket}/lake/curated/weekly_sales_inventory/yr_wk_num=202602/",
        f"s3://{bucket}/lake/curated/weekly_sales_inventory/yr_wk_num=202603/",
    ]
    store = client.get_table(DatabaseName="s3_db", Name="store")["Table"]
    assert store["StorageDescriptor"]["Location"] == f"s3://{bucket}/lake/curated/store/"


def test_a_glue_failure_is_one_line(two_weeks, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    settings = glue_settings(two_weeks.url, aws_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RetailflowError) as info:
        glue.sync(settings, Lake(two_weeks.url), glue=_fast_failing_client(settings))
    assert "\n" not in str(info.value) and "Glue" in str(info.value)


def _fast_failing_client(settings):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "glue",
        endpoint_url=settings.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
