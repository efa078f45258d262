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


# -- DuckDB's own S3 client (httpfs), for tools that open the catalog in a process of their own ----------
#
# Inside retailflow, DuckDB reads S3 through the lake's s3fs filesystem (``register_filesystem``). A separate
# process (a BI tool, a notebook) opening ``catalog/retailflow.duckdb`` instead needs DuckDB's httpfs
# extension and an S3 secret. The extension comes from the PyPI package ``duckdb-extension-httpfs`` and is
# loaded by file path (never downloaded); the secret is TEMPORARY (in memory, gone with the connection),
# made from the standard AWS credential chain as boto3 resolves it, and is never written or printed.

HTTPFS_PACKAGE = "duckdb-extension-httpfs"


def httpfs_extension_path() -> str:
    """The httpfs extension file of the installed DuckDB version (from ``duckdb-extension-httpfs``)."""
    import duckdb

    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise ConfigError(
            "Opening an S3 lake's catalog from DuckDB needs its httpfs extension, which is not installed.",
            f"Install it: pip install '{HTTPFS_PACKAGE}=={duckdb.__version__}' (retailflow never downloads "
            "extensions).",
        ) from None
    from pathlib import Path

    path = (
        Path(duckdb_extension_httpfs.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "httpfs.duckdb_extension"
    )
    if not path.is_file():
        raise ConfigError(
            f"The installed {HTTPFS_PACKAGE} has no httpfs extension for DuckDB {duckdb.__version__} ({path}).",
            f"Install the matching version: pip install '{HTTPFS_PACKAGE}=={duckdb.__version__}'.",
        )
    return str(path)


def duckdb_s3_options(settings: Settings) -> dict[str, str]:
    """DuckDB S3 secret options for the endpoint and region the settings (else the standard AWS variables
    and profile) name: ``region``, and for an endpoint other than AWS's own ``endpoint`` (host:port),
    ``url_style`` 'path' and ``use_ssl``. No credentials here: see ``configure_duckdb_s3``."""
    from urllib.parse import urlsplit

    s3 = client(settings, "s3")
    options = {"region": s3.meta.region_name or "us-east-1"}
    endpoint = urlsplit(settings.aws_endpoint_url or s3.meta.endpoint_url or "")
    host = endpoint.netloc.rsplit("@", 1)[-1]
    if host and not host.endswith(".amazonaws.com"):
        options |= {"endpoint": host, "url_style": "path", "use_ssl": "true" if endpoint.scheme == "https" else "false"}
    return options


def _secret_sql(name: str, settings: Settings, credentials: dict[str, str]) -> str:
    from retailflow.sql import identifier, literal

    parts = ["TYPE s3", *(f"{k.upper()} {v}" for k, v in credentials.items())]
    for key, value in duckdb_s3_options(settings).items():
        parts.append(f"{key.upper()} {value if key == 'use_ssl' else literal(value)}")
    return f"CREATE OR REPLACE TEMPORARY SECRET {identifier(name)} ({', '.join(parts)})"


def configure_duckdb_s3(con: Any, settings: Settings, name: str = "retailflow_s3") -> None:
    """Make ``con`` (a DuckDB connection) read S3 by itself: load httpfs by path, and create a temporary
    S3 secret from the standard AWS credential chain (boto3's resolution: variables, profile, SSO, instance
    role...). DuckDB's own ``PROVIDER credential_chain`` needs the aws extension, which is not shipped."""
    from retailflow.sql import literal

    con.execute(f"LOAD {literal(httpfs_extension_path())}")
    credentials = _resolved_credentials(settings)
    try:
        con.execute(_secret_sql(name, settings, {k: literal(v) for k, v in credentials.items()}))
    except Exception as exc:  # DuckDB may quote the statement, which holds the credentials: never shown
        raise ConfigError(
            f"DuckDB refused the S3 secret ({type(exc).__name__}).", "Check aws_endpoint_url and aws_region."
        ) from None


def duckdb_s3_setup_sql(settings: Settings, name: str = "retailflow_s3") -> list[str]:
    """The statements ``configure_duckdb_s3`` runs, for another DuckDB client, with the credentials as
    placeholders to fill in (never the real values)."""
    from retailflow.sql import literal

    placeholders = {
        "key_id": "'<AWS_ACCESS_KEY_ID>'",
        "secret": "'<AWS_SECRET_ACCESS_KEY>'",
        "session_token": "'<AWS_SESSION_TOKEN, if any>'",
    }
    return [f"LOAD {literal(httpfs_extension_path())}", _secret_sql(name, settings, placeholders)]


def _resolved_credentials(settings: Settings) -> dict[str, str]:
    try:
        import boto3
    except ImportError:
        raise ConfigError(
            "Reading S3 from DuckDB needs boto3 (to resolve the AWS credentials).",
            "Install retailflow with the aws extra: pip install 'retailflow[aws]'.",
        ) from None
    found = boto3.Session(region_name=settings.aws_region or None).get_credentials()
    if found is None:
        raise ConfigError(
            "No AWS credentials found for reading the S3 lake.",
            "Set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role provides them.",
        )
    frozen = found.get_frozen_credentials()
    credentials = {"key_id": frozen.access_key, "secret": frozen.secret_key}
    if frozen.token:
        credentials["session_token"] = frozen.token
    return credentials
