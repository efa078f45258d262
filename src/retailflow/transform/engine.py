"""What the pipeline needs from an engine, and the engine a setting names. DuckDB (duckdb_engine.py)
and Spark (spark_engine.py) both execute the same plan (plan.py) and stage their output as parquet files
that the publish stage moves into place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from retailflow.lake.storage import Lake
from retailflow.transform.inputs import RunInputs
from retailflow.transform.plan import Step

if TYPE_CHECKING:
    from retailflow.config import Settings


class Engine(Protocol):
    name: str
    weeks_per_pass: int  # weeks computed together by default; 0 = all at once

    def load(self, lake: Lake, inputs: RunInputs) -> None:
        """Register the raw files as the plan's input views (raw_<table>, all text + partition_dt)."""

    def execute(self, plan: list[Step]) -> None: ...

    def fetch(self, view: str) -> list[dict[str, Any]]:
        """A small result (counts, totals) as dicts. Never used for the data itself."""

    def stage_weekly(self, lake: Lake, staging: str, weeks: list[int]) -> dict[int, str]:
        """Write each week's rows as one parquet file under ``staging``; return week -> staged path."""

    def stage_quarantine(self, lake: Lake, staging: str) -> dict[tuple[str, str], str]:
        """Write quarantined rows per (day, table); return (day iso, table) -> staged path."""

    def stage_dims(self, lake: Lake, staging: str) -> dict[str, str]:
        """Write the curated dimension tables; return table -> staged path."""

    def close(self) -> None: ...


def make_engine(settings: Settings) -> Engine:
    """The engine ``settings.engine`` names (imported only when chosen: Spark is heavy)."""
    if settings.engine == "spark":
        from retailflow.transform.spark_engine import SparkEngine

        return SparkEngine(master=settings.spark_master, conf=dict(settings.spark_conf))
    from retailflow.transform.duckdb_engine import DuckDBEngine

    return DuckDBEngine(memory_limit=settings.duckdb_memory_limit or None, typed_zone=settings.typed_zone)
