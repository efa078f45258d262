"""AWS clients as the settings say: endpoint and region from ``aws_endpoint_url`` / ``aws_region`` when
set, else the standard AWS variables and profile; credentials always from the standard chain (never from
settings, so they are never printed or written)."""

from __future__ import annotations

from typing import Any

from retailflow.config import Settings
from retailflow.errors import ConfigError


def client(settings: Settings, service: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigError(
            f"The AWS side needs boto3 (for {service}).",
            "Install retailflow with the aws extra: pip install 'retailflow[aws]'.",
        ) from None
    options = {}
    if settings.aws_endpoint_url:
        options["endpoint_url"] = settings.aws_endpoint_url
    if settings.aws_region:
        options["region_name"] = settings.aws_region
    return boto3.client(service, **options)


def s3_storage_options(settings: Settings) -> dict[str, Any]:
    """What s3fs needs beyond the standard chain: the endpoint and region the settings name."""
    kwargs = {}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    if settings.aws_region:
        kwargs["region_name"] = settings.aws_region
    return {"client_kwargs": kwargs} if kwargs else {}
