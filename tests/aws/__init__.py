"""retailflow on the AWS API: an S3 lake end to end, and its catalog opened by other tools, against a local
S3 API (moto in server mode on 127.0.0.1, the ``aws`` fixture of tests/conftest.py)."""
