"""The weekly metrics engines: one SQL plan (plan.py), executed by DuckDB or Spark, and the pure checks
a computed week must pass. The pipeline (retailflow.pipeline) drives them."""
