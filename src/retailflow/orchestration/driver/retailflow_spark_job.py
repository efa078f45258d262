"""Driver script for spark-submit: the retailflow wheel must be installed on the cluster.

spark-submit retailflow_spark_job.py --lake s3://bucket/retail --date 2026-11-21
"""

import sys

from retailflow.pipeline.spark_job import main

sys.exit(main())
