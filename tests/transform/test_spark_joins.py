"""How the Spark engine joins the plan's few_rows steps (the keys that repeat): broadcast when they are few
(Spark cannot see the size of a checkpointed result, and planned a shuffle of every fact row of the week
against them), left to Spark's planner when they are many. Which way it goes changes no result (but for the
last bits of doubles, summed in another order)."""

from __future__ import annotations

import pytest

from retailflow.transform import spark_engine
from retailflow.transform.spark_engine import SparkEngine
from tests.transform.lakebuilder import (
    LakeBuilder,
    quarantine_rows,
    run_lake,
    weekly_rows,
    write_edge_cases,
    write_messy_inputs,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]


def planned_joins(spark, view: str) -> str:
    return spark.table(view)._jdf.queryExecution().executedPlan().toString()


@pytest.fixture
def no_size_estimates(spark):
    """Spark's own choice off: on tiny data its estimates broadcast everything, as they do not at scale (at
    9.3M fact rows it estimated the repeated keys far above its 10 MB threshold; there were none)."""
    key = "spark.sql.autoBroadcastJoinThreshold"
    before = spark.conf.get(key)
    spark.conf.set(key, "-1")
    yield
    spark.conf.set(key, before)


def test_few_repeated_keys_are_broadcast_many_are_not_and_results_are_the_same(
    tmp_path, spark, monkeypatch, no_size_estimates
):
    broadcast = write_messy_inputs(write_edge_cases(LakeBuilder(tmp_path / "broadcast")))
    run_lake(broadcast.url, None, engine=SparkEngine(session=spark), quarantine_threshold=1.0)
    plan = planned_joins(spark, "sales_kept")
    assert "BroadcastHashJoin" in plan and "SortMergeJoin" not in plan

    monkeypatch.setattr(spark_engine, "BROADCAST_ROWS", -1)  # every step counts as large, even an empty one
    planned = write_messy_inputs(write_edge_cases(LakeBuilder(tmp_path / "planned")))
    run_lake(planned.url, None, engine=SparkEngine(session=spark), quarantine_threshold=1.0)
    assert "SortMergeJoin" in planned_joins(spark, "sales_kept")

    assert quarantine_rows(broadcast, "sales") == quarantine_rows(planned, "sales")
    assert quarantine_rows(broadcast, "inventory") == quarantine_rows(planned, "inventory")
    left, right = weekly_rows(broadcast), weekly_rows(planned)
    assert len(left) == len(right) > 0
    for x, y in zip(left, right, strict=True):  # doubles are summed in another order: equal to 1e-9
        assert x == {k: pytest.approx(v, rel=1e-9) if isinstance(v, float) else v for k, v in y.items()}
