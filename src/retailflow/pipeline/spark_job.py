"""The cluster entry point: ``retailflow run --engine spark`` for ``spark-submit`` (EMR step, Databricks job).

    spark-submit retailflow_spark_job.py --lake s3://bucket/retail --date 2026-11-21
    spark-submit retailflow_spark_job.py --lake s3://bucket/retail --all --conf spark.sql.shuffle.partitions=400
    spark-submit retailflow_spark_job.py --lake s3://bucket/retail --stage compute --run-id RUN_ID

``--stage compute`` is the compute step of an orchestrated run (the nightly DAG on spark, EMR or
Databricks): it computes the run that the DAG's plan task recorded in the lake and records the result
there for the DAG's next task; checking and publishing happen in those tasks.

The cluster provides the master and S3 access (EMRFS, Unity Catalog volumes, instance roles); install the
retailflow wheel on the cluster first (an EMR bootstrap action, a Databricks library). Exit code 0 when
every week was published, 1 otherwise (the message says why; the run report has the details).
"""

from __future__ import annotations

import argparse
import sys

from retailflow.config import load_settings, parse_spark_conf
from retailflow.errors import RetailflowError
from retailflow.pipeline.records import Selection
from retailflow.pipeline.run import run
from retailflow.transform.spark_engine import SparkEngine


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="retailflow-spark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lake", help="lake root, e.g. s3://bucket/retail [env RETAILFLOW_LAKE]")
    parser.add_argument("--date", help="the fiscal week containing this day (YYYY-MM-DD)")
    parser.add_argument("--from", dest="date_from", help="first day of a range")
    parser.add_argument("--to", dest="date_to", help="last day of a range")
    parser.add_argument("--all", action="store_true", help="every week in the raw zone")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting")
    parser.add_argument("--quarantine-threshold", type=float)
    parser.add_argument(
        "--stage", choices=["run", "compute"], default="run", help="run: every stage (default); compute: one step"
    )
    parser.add_argument("--run-id", help="--stage compute: the planned run to compute")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(
            flags={"lake": args.lake, "engine": "spark", "quarantine_threshold": args.quarantine_threshold}
        )
        selection = (
            None if args.stage == "compute" else Selection.from_flags(args.date, args.date_from, args.date_to, args.all)
        )
        # The settings' Spark conf (RETAILFLOW_SPARK_CONF, retailflow.toml), then --conf on top.
        conf = {**settings.spark_conf, **parse_spark_conf(args.conf)}
        # master=None: spark-submit (or the Databricks cluster) decides where this runs.
        engine = SparkEngine(master=None, conf=conf)
        if args.stage == "compute":
            from retailflow.orchestration.tasks import compute

            if not args.run_id:
                raise RetailflowError("--stage compute needs --run-id (the DAG's plan task names it).")
            try:
                compute(settings, {"run_id": args.run_id}, engine=engine)
            finally:
                engine.close()
            print(f"retailflow: run {args.run_id} computed")
            return 0
        report = run(settings, selection, engine=engine)
    except RetailflowError as exc:
        print(f"retailflow: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    print(f"retailflow: run {report.run_id} {report.status}: weeks {', '.join(str(w.yr_wk_num) for w in report.weeks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
