"""Tests of retailflow.orchestration: the nightly DAG, its engines, the local Airflow."""
