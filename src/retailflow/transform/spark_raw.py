"""Reading raw-zone files into Spark under the raw-zone reading rules (lake/rawformat.py), the same rules
as transform/duckdb_raw.py: our own header read (any case, order, extra columns), columns by position,
the NULL tokens, the day from the dt= folder.

Lines that cannot be split into the header's fields are not errors: Spark's PERMISSIVE mode puts them in
a corrupt-record column, and a line holding bytes that are not UTF-8 (which Spark decodes to U+FFFD) is
treated alike, so both engines quarantine the same lines with the same reasons. Spark reports no line
numbers, so for the few files with such lines they are found by reading those files' text lines in order
(zipWithIndex) and matching each rejected line's first physical line, occurrence by occurrence.
"""

from __future__ import annotations

from retailflow.lake.rawheader import group_by_header
from retailflow.lake.storage import Lake
from retailflow.tables import NULL_TOKENS, Table
from retailflow.transform.duckdb_raw import DAY_IN_PATH, RAW_FILE_IN_PATH
from retailflow.transform.plan import REJECT_REASONS

CORRUPT = "_corrupt_record"
REPLACEMENT = "\ufffd"  # what Spark decodes an invalid UTF-8 byte to (DuckDB shows '?')
CSV_OPTIONS = {
    "header": "true",
    "enforceSchema": "true",  # our schema (c0..cN) by position; the header was mapped by us
    "quote": '"',
    "escape": '"',  # RFC 4180 doubled quotes; Spark's default escape is a backslash
    "multiLine": "true",  # quoted fields may hold newlines, as DuckDB accepts
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT,
    "encoding": "UTF-8",
}


def read_raw(spark, lake: Lake, table: Table, relatives: list[str]):
    """(rows, rejects) DataFrames: the contract columns as text + partition_dt; and the rejected lines
    (partition_dt, source_file, source_line, raw_line, reason), or None when there are no files."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    rows, rejects = [], []
    for group in group_by_header(lake, table, relatives):
        schema = StructType([StructField(f"c{i}", StringType()) for i in range(group.n_columns)])
        schema = schema.add(StructField(CORRUPT, StringType()))
        df = spark.read.options(**CSV_OPTIONS).schema(schema).csv([lake.uri(r) for r in group.relatives])
        df = df.select("*", F.col("_metadata.file_path").alias("_file"))
        fields = [F.col(f"c{i}") for i in range(group.n_columns)]
        has_replacement = F.lit(False)
        for field in fields:
            has_replacement = has_replacement | F.coalesce(field.contains(REPLACEMENT), F.lit(False))
        rejected = F.col(CORRUPT).isNotNull() | has_replacement
        day = F.to_date(F.regexp_extract("_file", DAY_IN_PATH, 1))
        cols = []
        for c in table.column_names:
            raw = F.col(f"c{group.positions[c]}")
            cols.append(F.when(raw.isin(*NULL_TOKENS), F.lit(None)).otherwise(raw).alias(c))
        rows.append(df.where(~rejected).select(*cols, day.alias("partition_dt")))
        line = F.coalesce(F.col(CORRUPT), F.concat_ws(",", *[F.coalesce(f, F.lit("")) for f in fields]))
        rejects.append(
            df.where(rejected).select(
                day.alias("partition_dt"),
                F.col("_file"),
                F.regexp_replace(line, "[\r\n]+$", "").alias("raw_line"),
                F.when(
                    F.col(CORRUPT).isNull() | F.col(CORRUPT).contains(REPLACEMENT), F.lit(REJECT_REASONS["encoding"])
                )
                .otherwise(F.lit(REJECT_REASONS["split"]))
                .alias("reason"),
            )
        )
    if not rows:
        return None, None
    # Finding the rejected lines parses every file: do it once, here. Left lazy, each step reading
    # rejects_<table> (quarantine, counts) parsed every file again (a third of a run at 9.3M rows).
    return _union(rows), _with_line_numbers(spark, lake, _union(rejects).localCheckpoint(eager=True))


def _union(frames):
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def _with_line_numbers(spark, lake: Lake, rejects):
    """Each rejected line's 1-based line number in its file (the header is line 1)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rejects = rejects.select(
        "partition_dt",
        F.regexp_extract("_file", RAW_FILE_IN_PATH, 1).alias("source_file"),
        "raw_line",
        "reason",
        F.regexp_replace(F.split("raw_line", "\n").getItem(0), "\r$", "").alias("_first"),
    )
    files = [r["source_file"] for r in rejects.select("source_file").distinct().collect()]  # usually none
    if not files:
        return rejects.select(
            "partition_dt", "source_file", F.lit(None).cast("bigint").alias("source_line"), "raw_line", "reason"
        )
    numbered = None
    for relative in files:
        # The file's physical lines in order: monotonic ids follow the file's splits in order.
        lines = spark.read.text(lake.uri(relative)).select(
            F.regexp_replace("value", "\r$", "").alias("_first"),
            F.row_number().over(Window.orderBy(F.monotonically_increasing_id())).cast("bigint").alias("source_line"),
            F.lit(relative).alias("source_file"),
        )
        numbered = lines if numbered is None else numbered.unionByName(lines)
    by_text = Window.partitionBy("source_file", "_first")
    numbered = numbered.withColumn("_nth", F.row_number().over(by_text.orderBy("source_line")))
    rejects = rejects.withColumn("_nth", F.row_number().over(by_text.orderBy("raw_line")))
    joined = rejects.join(numbered, ["source_file", "_first", "_nth"], "left")
    return joined.select(
        "partition_dt",
        "source_file",
        "source_line",
        F.regexp_replace("raw_line", REPLACEMENT, "?").alias("raw_line"),
        "reason",
    )
