#!/usr/bin/env bash
# EMR bootstrap action: install retailflow (built by `make spark-artifact`, copied to S3) on every node.
# Usage in the cluster definition: Path=s3://my-bucket/retailflow/bootstrap.sh, Args=[s3://my-bucket/retailflow]
set -euo pipefail
ARTIFACTS="$1"
aws s3 cp "$ARTIFACTS/" /tmp/retailflow/ --recursive --exclude "*" --include "*.whl"
sudo python3 -m pip install /tmp/retailflow/retailflow-*.whl "s3fs"
