"""Building the SparkSession retailflow runs on: local mode here, EMR/Databricks in production."""

from __future__ import annotations

import os

# Defaults that keep a local session on loopback and small; a cluster's own settings win over these
# (they are only applied when the session is created here, and --conf overrides them).
LOCAL_DEFAULTS = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.session.timeZone": "UTC",
}
COMMON = {
    # Parquet DECIMAL(18,2) as INT64 and dates as INT32, the types DuckDB writes (see transform/schema.py).
    "spark.sql.parquet.writeLegacyFormat": "false",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.ui.showConsoleProgress": "false",  # retailflow shows its own progress
}


def active_session():
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def get_session(master: str | None = "local[*]", conf: dict[str, str] | None = None, app_name: str = "retailflow"):
    """The active session if there is one (a cluster's, or a test's), else a new one.

    master None leaves the master to spark-submit (EMR, Databricks)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in (conf or {}).items():
            active.conf.set(key, value)
        return active
    local = bool(master) and master.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {**(LOCAL_DEFAULTS if local else {}), **COMMON, **(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
