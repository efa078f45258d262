"""Running the pipeline elsewhere: on EMR (emr.py: the Spark artifact in S3, the cluster and the step an
orchestrator submits)."""
