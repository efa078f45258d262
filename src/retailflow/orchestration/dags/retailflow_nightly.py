"""Airflow's DAG file for retailflow: ``retailflow_nightly``, built from the settings (retailflow.toml named by
RETAILFLOW_CONFIG, RETAILFLOW_* variables). Point Airflow's dags_folder here, or copy this file into it.

Parsing it does no work beyond building the DAG object: no lake, database or network is touched.
"""

from retailflow.orchestration.dag import build_dag

dag = build_dag()
