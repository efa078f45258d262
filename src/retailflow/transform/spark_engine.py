"""The cluster engine: the same plan (plan.py) on Spark, for EMR and Databricks.

Raw files are read by Spark's CSV reader under the raw-zone rules (spark_raw.py), lines it cannot split
included. No Python UDFs, and nothing but small results (counts, totals) is collected to the driver.
"""

from __future__ import annotations

from typing import Any

from retailflow.errors import LakeError
from retailflow.lake.storage import Lake
from retailflow.tables import DIMENSION_TABLES, FACT_TABLES, TABLES
from retailflow.transform.dialect import SPARK
from retailflow.transform.inputs import RunInputs
from retailflow.transform.plan import Step, no_typed_rows
from retailflow.transform.schema import WEEKLY_COLUMN_NAMES
from retailflow.transform.spark_raw import read_raw
from retailflow.transform.spark_session import active_session, get_session

# A few_rows step (plan.py) of at most this many rows is sent whole to every task that joins it. Spark
# cannot see the size of a checkpointed result, and planned sort-merge joins of the week's rows with the
# keys that repeat (<table>_repeats, <table>_versions; at 9.3M fact rows there were none): each shuffled
# every row, and <table>_kept, read by metrics, counts and the reconciliation, did so each time (that run:
# 311 s -> 226 s). Above this, Spark plans the join (a lake where most keys repeat must not be broadcast).
BROADCAST_ROWS = 100_000


class SparkEngine:
    name = "spark"
    weeks_per_pass = 0  # all weeks in one job: the cluster spreads them

    def __init__(self, master: str | None = "local[*]", conf: dict[str, str] | None = None, session=None):
        self.master, self.conf = master, conf or {}
        self._session = session
        self._owns_session = False  # only a session this engine started is stopped by close()

    @property
    def spark(self):
        if self._session is None:
            # A cluster's or notebook's session is borrowed, never stopped; one started here is ours.
            self._owns_session = active_session() is None
            self._session = get_session(self.master, self.conf)
        return self._session

    def load(self, lake: Lake, inputs: RunInputs) -> None:
        self._check_filesystem(lake)
        for table_name, files in inputs.facts.items():
            self._raw_view(lake, table_name, [f.relative for f in files])
        for table_name, f in inputs.dims.items():
            self._raw_view(lake, table_name, [f.relative])

    def _check_filesystem(self, lake: Lake) -> None:
        """Fail with one line when this Spark cannot reach the lake: pyspark alone has no s3:// filesystem
        (EMR's EMRFS and Databricks bring theirs; hadoop-aws jars are not on PyPI)."""
        if lake.is_local:
            return
        scheme = lake.url.split("://", 1)[0]
        hadoop = self.spark._jvm.org.apache.hadoop.fs.FileSystem
        try:
            hadoop.getFileSystemClass(scheme, self.spark._jsc.hadoopConfiguration())
        except Exception:
            raise LakeError(
                f"This Spark has no filesystem for {scheme}:// lakes (EMR and Databricks bring one).",
                "Run on a cluster (retailflow-spark as an EMR step or Databricks job), or mount the bucket "
                "(e.g. with s3fs) and give --lake the mounted folder.",
            ) from None

    def _raw_view(self, lake: Lake, table_name: str, relatives: list[str]) -> None:
        from pyspark.sql.types import DateType, StringType, StructField, StructType

        table = TABLES[table_name]
        rows, rejects = read_raw(self.spark, lake, table, relatives)
        if rows is None:  # no partition of this table: an empty input with the right columns
            schema = StructType(
                [StructField(c, StringType()) for c in table.column_names] + [StructField("partition_dt", DateType())]
            )
            rows = self.spark.createDataFrame([], schema)
            rejects = self.spark.createDataFrame(
                [], "partition_dt date, source_file string, source_line bigint, raw_line string, reason string"
            )
        rows.createOrReplaceTempView(f"raw_{table_name}")
        if table.is_fact:
            rejects.createOrReplaceTempView(f"rejects_{table_name}")
            # Spark parses every day from raw: the typed zone is the DuckDB engine's (typed_zone.py).
            self.spark.sql(no_typed_rows(table, SPARK)).createOrReplaceTempView(f"typed_{table_name}")

    def execute(self, plan: list[Step]) -> None:
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F

        for step in plan:
            try:
                df = self.spark.sql(step.sql)
                if step.materialize:
                    # Computed once, here, and cut from its lineage: later steps plan against the result,
                    # not against the whole chain back to the CSV files.
                    df = df.localCheckpoint(eager=True)
                    if step.few_rows and df.count() <= BROADCAST_ROWS:
                        df = F.broadcast(df)
                df.createOrReplaceTempView(step.name)
            except PySparkException as exc:
                raise _as_lake_error(exc) from None

    def fetch(self, view: str) -> list[dict[str, Any]]:
        from pyspark.errors import PySparkException

        try:
            return [row.asDict() for row in self.spark.table(view).collect()]
        except PySparkException as exc:
            raise _as_lake_error(exc) from None

    def _write_single(self, df, lake: Lake, folder: str) -> str:
        """Write a DataFrame as one parquet file in ``folder``; return that file's lake path."""
        df.coalesce(1).write.mode("overwrite").parquet(lake.uri(folder))
        return self._only_part(lake, folder)

    @staticmethod
    def _only_part(lake: Lake, folder: str) -> str:
        parts = [n for n in lake.listdir(folder) if n.startswith("part-") and n.endswith(".parquet")]
        if len(parts) != 1:
            raise LakeError(f"Expected one parquet file in {lake.uri(folder)}, found {len(parts)}.")
        return f"{folder}/{parts[0]}"

    def stage_weekly(self, lake: Lake, staging: str, weeks: list[int]) -> dict[int, str]:
        from pyspark.sql import functions as F

        if not weeks:
            return {}
        df = self.spark.table("weekly_metrics").where(F.col("yr_wk_num").isin(weeks))
        folder = f"{staging}/spark-weekly"
        # One task per week, sorted like the DuckDB output: one file per week partition.
        (
            df.repartition("yr_wk_num")
            .sortWithinPartitions("store_key", "prod_key")
            .select("yr_wk_num", *WEEKLY_COLUMN_NAMES)
            .write.partitionBy("yr_wk_num")
            .mode("overwrite")
            .parquet(lake.uri(folder))
        )
        staged = {}
        written = set(lake.subdirs(folder))
        for week in weeks:
            sub = f"{folder}/yr_wk_num={week}"
            if f"yr_wk_num={week}" in written:
                staged[week] = self._only_part(lake, sub)
            else:  # a week with no rows: an empty file keeps the partition (and replaces the old one)
                empty = df.where(F.lit(False)).select(*WEEKLY_COLUMN_NAMES)
                staged[week] = self._write_single(empty, lake, f"{staging}/spark-empty/yr_wk_num={week}")
        return staged

    def stage_quarantine(self, lake: Lake, staging: str) -> dict[tuple[str, str], str]:
        from pyspark.sql import functions as F

        staged = {}
        for table in FACT_TABLES:
            df = self.spark.table(f"quarantine_{table.name}")
            days = [r[0] for r in df.select("partition_dt").distinct().collect()]  # a handful of dates
            for day in days:
                rows = df.where(F.col("partition_dt") == F.lit(day)).orderBy(*df.columns)
                staged[(day.isoformat(), table.name)] = self._write_single(
                    rows, lake, f"{staging}/spark-quarantine/{table.name}/dt={day.isoformat()}"
                )
        return staged

    def stage_dims(self, lake: Lake, staging: str) -> dict[str, str]:
        return {
            table.name: self._write_single(
                self.spark.table(f"dim_{table.name}").orderBy(table.keys[0]), lake, f"{staging}/spark-dims/{table.name}"
            )
            for table in DIMENSION_TABLES
        }

    def close(self) -> None:
        if self._owns_session and self._session is not None:
            self._session.stop()
            self._session = None


def _as_lake_error(exc: Exception) -> Exception:
    text = str(exc)
    if "Malformed" in text or "MALFORMED" in text:
        first = next((line for line in text.splitlines() if line.strip()), text)
        return LakeError(f"A raw file could not be read: {first.strip()[:300]}", "Re-export that day, or fix the file.")
    return exc
