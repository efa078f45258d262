"""A real AWS API server on 127.0.0.1 for the tests: moto in server mode (S3, Glue, Athena, EMR,
CloudFormation, IAM, Lambda, EC2, ...), started and stopped by the ``aws`` fixture (tests/conftest.py).

Clients find it through the standard variables (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``, fake
credentials), set only for the tests that use the fixture. ``reset()`` empties every service between tests.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass, field

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@dataclass
class AwsServer:
    """A running moto server: its endpoint, and the environment a client needs to reach it."""

    endpoint: str
    _server: object = field(repr=False)

    @property
    def env(self) -> dict[str, str]:
        return {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **_boto_credentials())

    def bucket(self, name: str) -> str:
        """Create a bucket (if absent); return its name."""
        s3 = self.client("s3")
        if name not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=name)
        return name

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self._server.stop()


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": CREDENTIALS["AWS_SESSION_TOKEN"],
    }


def start() -> AwsServer:
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return AwsServer(f"http://{host}:{port}", server)
