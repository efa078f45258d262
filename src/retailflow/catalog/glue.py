"""The Glue Data Catalog target (``catalog = "glue"``): the curated tables as Glue tables, for Athena.

What is registered, all from the one schema definition (``transform/schema.py``, ``tables.py``), never
inferred from the files:

- the database ``settings.glue_database``;
- ``weekly_sales_inventory``: an external parquet table partitioned by ``yr_wk_num`` (int), one Glue
  partition per published week, located at ``curated/weekly_sales_inventory/yr_wk_num=YYYYWW/``;
- the dimensions ``store``, ``product``, ``calendar`` (unpartitioned, at ``curated/<table>/``);
- ``weekly_sales_inventory_enriched``: an Athena (Presto) view joining the weekly metrics to store and
  product names, as the DuckDB catalog's view of the same name does.

Registration is idempotent: tables are created or updated in place, and a partition is created, or
updated when it exists (Glue keys partitions by their values, so re-publishing a week never duplicates
it). The functions building the TableInput / PartitionInput dicts are pure; the boto3 calls are apart.
No crawler is needed: a crawler infers types from the files it samples, and inference drifts (a week
whose decimals all fit in an int, an all-NULL column, a new folder read as a new table).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from retailflow.errors import RetailflowError
from retailflow.lake import layout
from retailflow.lake.storage import Lake
from retailflow.tables import DIMENSION_TABLES, PRODUCT, STORE, Column, Table
from retailflow.transform.schema import PARTITION_COLUMN, WEEKLY_COLUMNS

ENRICHED_VIEW = "weekly_sales_inventory_enriched"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
BATCH = 100  # BatchCreatePartition / BatchUpdatePartition take at most 100 entries

# The enriched view's dimension columns (the same as catalog/build.py's DuckDB view).
STORE_COLUMNS = ("store_desc", "city", "prov_state_cd", "market_key", "market_name", "latitude", "longitude")
PRODUCT_COLUMNS = ("prod_name", "brand_name", "category_key", "category_name", "subcategory_name")

_SIMPLE_TYPES = {
    "INTEGER": "int",
    "INT": "int",
    "BIGINT": "bigint",
    "SMALLINT": "smallint",
    "DATE": "date",
    "DOUBLE": "double",
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


# -- pure: types and inputs -----------------------------------------------------------------------------


def glue_type(sql_type: str) -> str:
    """Our SQL type name as a Glue (Hive) column type: INTEGER -> int, DECIMAL(18,2) -> decimal(18,2)..."""
    name = sql_type.strip().upper()
    if name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name]
    match = _DECIMAL.match(name)
    if match:
        return f"decimal({match.group(1)},{match.group(2)})"
    raise ValueError(f"No Glue type for SQL type {sql_type!r}")


def presto_type(sql_type: str) -> str:
    """The type as Athena's engine (Trino) names it, for a view's column list: int -> integer, string -> varchar."""
    return {"int": "integer", "string": "varchar"}.get(glue_type(sql_type), glue_type(sql_type))


def glue_columns(columns: Iterable[Column]) -> list[dict[str, str]]:
    return [{"Name": c.name, "Type": glue_type(c.type)} for c in columns]


def storage_descriptor(columns: Iterable[Column], location: str) -> dict[str, Any]:
    return {
        "Columns": glue_columns(columns),
        "Location": location.rstrip("/") + "/",
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        "Compressed": False,
        "StoredAsSubDirectories": False,
    }


def _external(name: str, description: str, sd: dict[str, Any], partition_keys: Sequence[Column] = ()) -> dict:
    return {
        "Name": name,
        "Description": description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "retailflow": "managed"},
        "StorageDescriptor": sd,
        "PartitionKeys": glue_columns(partition_keys),
    }


def weekly_table_input(location: str) -> dict[str, Any]:
    """``weekly_sales_inventory``: WEEKLY_COLUMNS in the files, ``yr_wk_num`` in the folder names."""
    return _external(
        layout.WEEKLY_TABLE,
        "Weekly store x product sales and inventory metrics (retailflow); one partition per fiscal week.",
        storage_descriptor(WEEKLY_COLUMNS, location),
        (PARTITION_COLUMN,),
    )


def dimension_table_input(table: Table, location: str) -> dict[str, Any]:
    return _external(
        table.name, f"The {table.name} dimension (retailflow).", storage_descriptor(table.columns, location)
    )


def partition_input(week: int, location: str) -> dict[str, Any]:
    """One week's partition: its value and its folder (the table's columns, so Athena reads it the same)."""
    return {"Values": [str(int(week))], "StorageDescriptor": storage_descriptor(WEEKLY_COLUMNS, location)}


def enriched_columns() -> list[Column]:
    """The enriched view's columns, in order: the weekly columns, yr_wk_num, then the store and product names."""
    return [
        *WEEKLY_COLUMNS,
        PARTITION_COLUMN,
        *(STORE.column(n) for n in STORE_COLUMNS),
        *(PRODUCT.column(n) for n in PRODUCT_COLUMNS),
    ]


def enriched_view_sql() -> str:
    """The enriched view in Athena's SQL (the DuckDB catalog's ``weekly_sales_inventory_enriched``)."""
    weekly = ", ".join(f"w.{c.name}" for c in (*WEEKLY_COLUMNS, PARTITION_COLUMN))
    store = ", ".join(f"s.{c}" for c in STORE_COLUMNS)
    product = ", ".join(f"p.{c}" for c in PRODUCT_COLUMNS)
    return (
        f"SELECT {weekly}, {store}, {product}\n"
        f"FROM {layout.WEEKLY_TABLE} w\n"
        "LEFT JOIN store s ON s.store_key = w.store_key\n"
        "LEFT JOIN product p ON p.prod_key = w.prod_key"
    )


def view_input(database: str) -> dict[str, Any]:
    """``weekly_sales_inventory_enriched`` as an Athena view: a Glue VIRTUAL_VIEW whose original text is the
    base64 Presto view definition Athena writes for CREATE VIEW."""
    columns = enriched_columns()
    definition = {
        "originalSql": enriched_view_sql(),
        "catalog": "awsdatacatalog",
        "schema": database,
        "columns": [{"name": c.name, "type": presto_type(c.type)} for c in columns],
        "owner": "retailflow",
        "runAsInvoker": False,
        "properties": {},
    }
    encoded = base64.b64encode(json.dumps(definition).encode()).decode()
    return {
        "Name": ENRICHED_VIEW,
        "Description": "Weekly metrics with store and product names (retailflow).",
        "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View", "retailflow": "managed"},
        "ViewOriginalText": f"/* Presto View: {encoded} */",
        "ViewExpandedText": "/* Presto View */",
        "StorageDescriptor": {
            "Columns": glue_columns(columns),
            "SerdeInfo": {},
            "Location": "",
            "Compressed": False,
            "StoredAsSubDirectories": False,
        },
        "PartitionKeys": [],
    }


def decode_view(view_original_text: str) -> dict[str, Any]:
    """The Presto view definition (originalSql, columns...) from a view's ViewOriginalText."""
    match = re.match(r"^/\* Presto View: (.*) \*/$", view_original_text.strip(), re.DOTALL)
    if not match:
        raise ValueError("Not a Presto view")
    return json.loads(base64.b64decode(match.group(1)))


def week_location(lake: Lake, week: int) -> str:
    return lake.uri(layout.weekly_partition(week)) + "/"


def table_location(lake: Lake, table: str) -> str:
    return lake.uri(layout.curated_table(table)) + "/"


def published_weeks(lake: Lake) -> list[int]:
    """Weeks whose partition file is in place (folders yr_wk_num=YYYYWW holding part-0.parquet)."""
    weeks = []
    for name in lake.subdirs(layout.curated_table(layout.WEEKLY_TABLE)):
        key, _, value = name.partition("=")
        if (
            key == PARTITION_COLUMN.name
            and value.isdigit()
            and layout.PART_FILE in lake.listdir(layout.weekly_partition(int(value)))
        ):
            weeks.append(int(value))
    return sorted(weeks)


def published_dimensions(lake: Lake) -> list[Table]:
    return [t for t in DIMENSION_TABLES if layout.PART_FILE in lake.listdir(layout.curated_table(t.name))]


# -- the Glue API -------------------------------------------------------------------------------------------


def glue_client(settings) -> Any:
    from retailflow import aws

    return aws.client(settings, "glue")


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _glue_error(exc: Exception, what: str) -> RetailflowError:
    return RetailflowError(
        f"Glue refused to {what}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
        "Check the AWS credentials, region (aws_region) and the Glue permissions (glue:*Table*, "
        "glue:*Partition*, glue:*Database*).",
    )


def ensure_database(glue: Any, database: str) -> None:
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        try:
            glue.create_database(
                DatabaseInput={"Name": database, "Description": "retailflow's curated tables (parquet in the lake)."}
            )
        except glue.exceptions.AlreadyExistsException:
            pass  # created concurrently


def upsert_table(glue: Any, database: str, table_input: dict[str, Any]) -> str:
    """Create the table, or update it in place when it exists. Returns "created" or "updated"."""
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)
        return "created"
    except glue.exceptions.AlreadyExistsException:
        glue.update_table(DatabaseName=database, TableInput=table_input)
        return "updated"


def upsert_partitions(glue: Any, database: str, table: str, inputs: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Create each partition, or update it when it exists (same values: never a duplicate)."""
    created = updated = 0
    for start in range(0, len(inputs), BATCH):
        chunk = list(inputs[start : start + BATCH])
        errors = glue.batch_create_partition(DatabaseName=database, TableName=table, PartitionInputList=chunk).get(
            "Errors", []
        )
        existing = {
            tuple(e["PartitionValues"]) for e in errors if e["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"
        }
        other = [e for e in errors if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if other:
            detail = other[0]["ErrorDetail"]
            raise RetailflowError(
                f"Glue refused partition {other[0]['PartitionValues']} of {database}.{table}: "
                f"{detail.get('ErrorCode')} {detail.get('ErrorMessage', '')}".strip(),
                "Check the Glue permissions (glue:BatchCreatePartition, glue:BatchUpdatePartition).",
            )
        created += len(chunk) - len(existing)
        entries = [
            {"PartitionValueList": p["Values"], "PartitionInput": p} for p in chunk if tuple(p["Values"]) in existing
        ]
        if entries:
            failed = glue.batch_update_partition(DatabaseName=database, TableName=table, Entries=entries).get(
                "Errors", []
            )
            if failed:
                raise RetailflowError(
                    f"Glue could not update partition {failed[0]['PartitionValueList']} of {database}.{table}: "
                    f"{failed[0]['ErrorDetail'].get('ErrorMessage', '')}",
                    "Run `retailflow catalog --target glue` again.",
                )
            updated += len(entries)
    return {"created": created, "updated": updated}


def register_tables(glue: Any, database: str, lake: Lake) -> list[str]:
    """The database, the weekly table, the published dimensions and the enriched view (created or updated)."""
    ensure_database(glue, database)
    names = [layout.WEEKLY_TABLE]
    upsert_table(glue, database, weekly_table_input(table_location(lake, layout.WEEKLY_TABLE)))
    dims = published_dimensions(lake)
    for table in dims:
        upsert_table(glue, database, dimension_table_input(table, table_location(lake, table.name)))
        names.append(table.name)
    if {"store", "product"} <= {t.name for t in dims}:
        upsert_table(glue, database, view_input(database))
        names.append(ENRICHED_VIEW)
    return names


def register_weeks(settings, lake: Lake, weeks: Iterable[int], *, glue: Any = None) -> dict[str, int]:
    """What publishing calls: the tables (created or updated), then the given weeks' partitions."""
    glue = glue or glue_client(settings)
    weeks = sorted(set(weeks))
    try:
        register_tables(glue, settings.glue_database, lake)
        inputs = [partition_input(w, week_location(lake, w)) for w in weeks]
        return upsert_partitions(glue, settings.glue_database, layout.WEEKLY_TABLE, inputs)
    except RetailflowError:
        raise
    except Exception as exc:
        if _error_code(exc) or type(exc).__module__.startswith("botocore"):
            raise _glue_error(exc, f"register the tables of {lake.url} in {settings.glue_database}") from None
        raise


def sync(settings, lake: Lake, *, glue: Any = None) -> dict[str, Any]:
    """The whole catalog: tables, every published week's partition; partitions whose week is no longer in
    the lake are removed. Returns what was done."""
    glue = glue or glue_client(settings)
    weeks = published_weeks(lake)
    if not weeks and not published_dimensions(lake):
        from retailflow.errors import LakeError

        raise LakeError(f"Nothing is published in {lake.url} yet.", "Run `retailflow run` first.")
    counts = register_weeks(settings, lake, weeks, glue=glue)
    try:
        stale = [w for w in partition_weeks(glue, settings.glue_database) if w not in set(weeks)]
        for start in range(0, len(stale), 25):  # BatchDeletePartition takes 25
            glue.batch_delete_partition(
                DatabaseName=settings.glue_database,
                TableName=layout.WEEKLY_TABLE,
                PartitionsToDelete=[{"Values": [str(w)]} for w in stale[start : start + 25]],
            )
    except Exception as exc:
        if _error_code(exc) or type(exc).__module__.startswith("botocore"):
            raise _glue_error(exc, "remove stale partitions") from None
        raise
    return {"database": settings.glue_database, "weeks": weeks, **counts, "removed": len(stale)}


def partitions(glue: Any, database: str, table: str = layout.WEEKLY_TABLE) -> list[dict[str, Any]]:
    """Every partition of a table (all pages)."""
    out: list[dict[str, Any]] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        out.extend(page.get("Partitions", []))
    return out


def partition_weeks(glue: Any, database: str) -> list[int]:
    try:
        return sorted(int(p["Values"][0]) for p in partitions(glue, database))
    except glue.exceptions.EntityNotFoundException:
        return []


def latest_week(settings, *, glue: Any = None) -> int | None:
    """The latest registered week, from Glue's partitions (no Athena scan)."""
    glue = glue or glue_client(settings)
    try:
        weeks = partition_weeks(glue, settings.glue_database)
    except Exception as exc:
        if _error_code(exc) or type(exc).__module__.startswith("botocore"):
            raise _glue_error(exc, "list the weeks") from None
        raise
    return weeks[-1] if weeks else None
