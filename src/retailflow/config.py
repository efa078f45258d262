"""The one configuration object.

Precedence, lowest first: built-in defaults < ``retailflow.toml`` (or the file named by ``--config`` /
``RETAILFLOW_CONFIG``) < environment variables ``RETAILFLOW_<FIELD>`` < command-line flags.
Switching local <-> cloud is a matter of settings (``lake = "s3://..."``, ``engine = "spark"``): no
code path changes. Values are typed once, here, whatever layer they come from: text such as
``deadline = "04:30"`` or ``spark_conf = "k=v,k=v"`` becomes a ``datetime.time`` or a mapping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from retailflow.errors import ConfigError
from retailflow.sql import memory_size

Engine = Literal["duckdb", "spark"]
CatalogTarget = Literal["duckdb", "glue"]
TriggerName = Literal["local", "none", "airflow"]
DagEngine = Literal["duckdb", "spark", "emr", "databricks"]
ENGINES: tuple[str, ...] = get_args(Engine)
CATALOG_TARGETS: tuple[str, ...] = get_args(CatalogTarget)
TRIGGERS: tuple[str, ...] = get_args(TriggerName)
DAG_ENGINES: tuple[str, ...] = get_args(DagEngine)

CONFIG_FILE_NAME = "retailflow.toml"
ENV_PREFIX = "RETAILFLOW_"


@dataclass(frozen=True)
class Settings:
    lake: str = field(default="lake", metadata={"help": "Root URL of the data lake: a folder, or s3://bucket/prefix."})
    source: str = field(
        default="duckdb:///source.duckdb",
        metadata={"help": "URL of the transactional source database (duckdb:///path/to/file.duckdb)."},
    )
    timezone: str = field(default="America/New_York", metadata={"help": "Time zone of the business day."})
    scan_days_back: int = field(
        default=1,
        metadata={
            "help": "Which day a scan without --date checks: today minus this many days in `timezone`. "
            "The dump landing at 02:00 holds the day that just ended, hence 1."
        },
    )
    deadline: dt.time | None = field(
        default=None, metadata={"help": "HH:MM (in `timezone`) after which a not-ready partition is an alert."}
    )
    trigger: TriggerName = field(
        default="local",
        metadata={"help": "What a ready partition triggers: local (run here), airflow (a DAG run) or none."},
    )
    engine: Engine = field(default="duckdb", metadata={"help": "Transformation engine: duckdb or spark."})
    spark_master: str = field(default="local[*]", metadata={"help": "Spark master URL for --engine spark."})
    spark_conf: Mapping[str, str] = field(
        default_factory=dict,
        metadata={"help": "Extra Spark settings: a TOML table, or 'key=value,key=value' in the environment."},
    )
    weeks_per_pass: int = field(
        default=0, metadata={"help": "Weeks computed together; 0: the engine's default (DuckDB 4, Spark all)."}
    )
    duckdb_memory_limit: str = field(
        default="",
        metadata={
            "help": "Memory of a DuckDB run, e.g. 8GB (default: half the machine's memory); DuckDB's buffers get "
            "60% of it and spill to disk beyond, the rest is headroom for what DuckDB does not account for."
        },
    )
    typed_zone: bool = field(
        default=True,
        metadata={
            "help": "DuckDB engine: keep each fact file parsed and checked in the lake's typed/ zone, so a "
            "nightly run parses one new day, not the whole week; false parses every day from raw."
        },
    )
    quarantine_threshold: float = field(
        default=0.01,
        metadata={"help": "Largest share of a day's rows (per table) that may be quarantined before a run fails."},
    )
    gzip_level: int = field(
        default=1, metadata={"help": "gzip level of exported raw files (1-9): 1 is ~5x faster than 6, ~25% larger."}
    )
    export_threads: int = field(default=2, metadata={"help": "Days exported in parallel."})
    allow_manifestless: bool = field(
        default=False,
        metadata={
            "help": "Accept raw partitions without _manifest.json as complete (outside producers, e.g. a "
            "Snowflake COPY INTO). Off, such a partition is not ready: an export killed before its manifest "
            "looks just like it."
        },
    )
    lease_wait_s: float = field(
        default=300.0,
        metadata={
            "help": "How long a run waits for the lake's writer lease while another run holds it (seconds; "
            "0: fail at once, naming the holder)."
        },
    )
    lease_ttl_s: float = field(
        default=120.0,
        metadata={
            "help": "How long a writer lease or a scan's trigger claim lives without renewal (seconds; renewed "
            "every third of it while its holder works). A dead holder's lease is taken over at once from the "
            "same host, and after this long from any host."
        },
    )

    # -- AWS: every AWS client (S3, Glue, Athena, EMR) takes its endpoint, region and credentials from the
    # standard AWS variables and profile; these settings override the first two.
    aws_endpoint_url: str = field(
        default="",
        metadata={"help": "An AWS API endpoint for every AWS client (empty: the standard AWS_ENDPOINT_URL)."},
    )
    aws_region: str = field(default="", metadata={"help": "AWS region (empty: the standard AWS_REGION / profile)."})
    catalog: CatalogTarget = field(
        default="duckdb",
        metadata={"help": "Where publishing registers the tables: duckdb (catalog/retailflow.duckdb) or glue."},
    )
    glue_database: str = field(default="retailflow", metadata={"help": "The Glue database of the curated tables."})
    athena_workgroup: str = field(default="primary", metadata={"help": "The Athena workgroup for queries."})
    athena_output: str = field(
        default="", metadata={"help": "s3://... where Athena writes query results (empty: the workgroup's)."}
    )
    artifact_uri: str = field(
        default="", metadata={"help": "s3://bucket/prefix holding the Spark artifact (wheel, driver) for EMR."}
    )
    emr_release: str = field(
        default="emr-7.5.0", metadata={"help": "EMR release label of clusters retailflow creates."}
    )
    emr_instance_type: str = field(default="m5.xlarge", metadata={"help": "EC2 instance type of EMR nodes."})
    emr_instance_count: int = field(default=3, metadata={"help": "EMR nodes (1 primary + core nodes)."})
    emr_service_role: str = field(default="EMR_DefaultRole", metadata={"help": "The EMR service role."})
    emr_instance_profile: str = field(
        default="EMR_EC2_DefaultRole", metadata={"help": "The EC2 instance profile of EMR nodes."}
    )
    emr_log_uri: str = field(default="", metadata={"help": "s3://... for EMR logs (empty: none)."})
    emr_cluster_id: str = field(
        default="",
        metadata={"help": "An EMR cluster the DAG adds its step to (empty: it creates one per run and terminates it)."},
    )
    emr_poll_s: float = field(
        default=30.0, metadata={"help": "How often the DAG looks at its running EMR step (seconds)."}
    )
    airflow_url: str = field(
        default="",
        metadata={
            "help": "Airflow's API server for trigger = airflow, e.g. https://airflow.example.com (empty: the "
            "local Airflow of retailflow airflow up). Credentials: RETAILFLOW_AIRFLOW_USERNAME / "
            "RETAILFLOW_AIRFLOW_PASSWORD, or airflow_secret_id."
        },
    )
    airflow_dag_id: str = field(default="retailflow_nightly", metadata={"help": "The DAG the airflow trigger runs."})
    airflow_secret_id: str = field(
        default="",
        metadata={
            "help": 'A Secrets Manager secret holding {"username": ..., "password": ...} for the Airflow API '
            "(empty: the environment)."
        },
    )
    airflow_wake_instance: str = field(
        default="",
        metadata={
            "help": "The EC2 instance hosting a self-hosted Airflow, started before a trigger when it is stopped: "
            "an instance id (i-...) or a tag (Name=airflow). Empty: Airflow is always up (MWAA)."
        },
    )
    airflow_wake_timeout_s: float = field(
        default=600.0, metadata={"help": "How long the trigger waits for a woken Airflow to answer (seconds)."}
    )
    airflow_home: str = field(
        default=".airflow", metadata={"help": "The folder of the local Airflow (retailflow airflow up)."}
    )
    dag_engine: DagEngine = field(
        default="duckdb",
        metadata={
            "help": "Where the Airflow DAG computes the week: duckdb (in the worker), spark (spark-submit), "
            "emr (an EMR step) or databricks (a Databricks run)."
        },
    )
    dag_schedule: str = field(
        default="0 4 * * *",
        metadata={
            "help": "The DAG's safety-net schedule (cron, in the business time zone), shortly after the last "
            "readiness scan; none: triggered runs only."
        },
    )
    publish_within_min: float = field(
        default=180.0,
        metadata={
            "help": "The DAG's deadline alert: a run not finished this many minutes after it was queued is "
            "recorded as late (retailflow status shows it); 0: no alert."
        },
    )

    def __post_init__(self) -> None:
        # Text from a file, the environment or a test becomes the typed value once, here.
        if isinstance(self.deadline, str):
            object.__setattr__(self, "deadline", parse_hhmm(self.deadline))
        if isinstance(self.allow_manifestless, str):
            object.__setattr__(self, "allow_manifestless", parse_bool(self.allow_manifestless, "allow_manifestless"))
        if isinstance(self.typed_zone, str):
            object.__setattr__(self, "typed_zone", parse_bool(self.typed_zone, "typed_zone"))
        if isinstance(self.spark_conf, str):
            object.__setattr__(self, "spark_conf", parse_spark_conf(self.spark_conf.split(",")))
        elif not isinstance(self.spark_conf, dict):
            object.__setattr__(self, "spark_conf", {str(k): str(v) for k, v in dict(self.spark_conf).items()})

    def replace(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; None values are ignored (an unset flag)."""
        return _validated(dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None}))


FIELD_NAMES = tuple(f.name for f in fields(Settings))


def load_settings(
    flags: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build the settings from all four layers."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    values: dict[str, Any] = {}

    path = config_file or environ.get(f"{ENV_PREFIX}CONFIG")
    if path is None and (cwd / CONFIG_FILE_NAME).is_file():
        path = cwd / CONFIG_FILE_NAME
    if path is not None:
        values.update(_read_config_file(Path(path)))

    for name in FIELD_NAMES:
        env_value = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if env_value is not None and env_value != "":
            values[name] = _coerce(name, env_value, f"environment variable {ENV_PREFIX}{name.upper()}")

    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = value

    return _validated(Settings(**values))


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist.", "Check --config / RETAILFLOW_CONFIG.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    # Allow the settings either at the top level or under [retailflow].
    data = data.get("retailflow", data)
    unknown = sorted(set(data) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} in {path}.", f"Valid settings: {', '.join(FIELD_NAMES)}."
        )
    return {name: _coerce(name, value, f"{path}") for name, value in data.items()}


_TYPES = {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, value: Any, origin: str) -> Any:
    kind = _TYPES[name]
    if kind == "bool":
        return value if isinstance(value, bool) else parse_bool(str(value), f"{name} from {origin}")
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Setting {name} from {origin} must be a number, got {value!r}.") from None
    if kind.startswith("Mapping") and isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return str(value)  # text; __post_init__ types it (deadline, spark_conf)


def _validated(settings: Settings) -> Settings:
    if not 0 <= settings.quarantine_threshold <= 1:
        raise ConfigError(
            f"quarantine_threshold must be between 0 and 1 (a share), got {settings.quarantine_threshold}."
        )
    if settings.engine not in ENGINES:
        raise ConfigError(f"Unknown engine {settings.engine!r}.", f"Use one of: {', '.join(ENGINES)}.")
    if settings.catalog not in CATALOG_TARGETS:
        raise ConfigError(f"Unknown catalog {settings.catalog!r}.", f"Use one of: {', '.join(CATALOG_TARGETS)}.")
    if settings.emr_instance_count < 1:
        raise ConfigError(f"emr_instance_count must be 1 or more, got {settings.emr_instance_count}.")
    if settings.trigger not in TRIGGERS:
        raise ConfigError(f"Unknown trigger {settings.trigger!r}.", f"Use one of: {', '.join(TRIGGERS)}.")
    if settings.dag_engine not in DAG_ENGINES:
        raise ConfigError(f"Unknown dag_engine {settings.dag_engine!r}.", f"Use one of: {', '.join(DAG_ENGINES)}.")
    if not settings.publish_within_min >= 0:
        raise ConfigError(f"publish_within_min must be 0 (no alert) or more, got {settings.publish_within_min}.")
    if not settings.airflow_wake_timeout_s > 0:
        raise ConfigError(f"airflow_wake_timeout_s must be more than 0, got {settings.airflow_wake_timeout_s}.")
    if not 1 <= settings.gzip_level <= 9:
        raise ConfigError(f"gzip_level must be 1..9, got {settings.gzip_level}.")
    if settings.weeks_per_pass < 0:
        raise ConfigError(f"weeks_per_pass must be 0 (engine default) or more, got {settings.weeks_per_pass}.")
    if settings.export_threads < 1:
        raise ConfigError(f"export_threads must be 1 or more, got {settings.export_threads}.")
    if settings.scan_days_back < 0:
        raise ConfigError(f"scan_days_back must be 0 or more, got {settings.scan_days_back}.")
    if not isinstance(settings.allow_manifestless, bool):
        raise ConfigError(f"allow_manifestless must be true or false, got {settings.allow_manifestless!r}.")
    if not isinstance(settings.typed_zone, bool):
        raise ConfigError(f"typed_zone must be true or false, got {settings.typed_zone!r}.")
    if not settings.lease_wait_s >= 0:  # also NaN
        raise ConfigError(f"lease_wait_s must be 0 (do not wait) or more seconds, got {settings.lease_wait_s}.")
    if not settings.lease_ttl_s >= 1:
        raise ConfigError(f"lease_ttl_s must be 1 second or more, got {settings.lease_ttl_s}.")
    if settings.duckdb_memory_limit:
        memory_size(settings.duckdb_memory_limit)  # a size like 2GB, or a one-line ConfigError (never SQL)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(settings.timezone)
    except Exception:
        raise ConfigError(
            f"Unknown time zone {settings.timezone!r}.", "Use an IANA name like America/New_York."
        ) from None
    return settings


def parse_hhmm(text: str) -> dt.time:
    try:
        hh, mm = text.split(":")
        hour, minute = int(hh), int(mm)
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except ValueError:
        raise ConfigError(f"Deadline {text!r} is not a time of day.", "Write it as HH:MM, e.g. 04:30.") from None
    return dt.time(hour, minute)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_bool(text: str, what: str) -> bool:
    """true/false, 1/0, yes/no (any case), as from the environment or a file."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(f"Setting {what} must be true or false (or 1/0, yes/no), got {text!r}.")


def parse_spark_conf(items: Iterable[str]) -> dict[str, str]:
    """'key=value' items (from the environment, a flag or the cluster job's --conf) as a mapping."""
    conf = {}
    for item in items:
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"Spark setting {item!r} is not key=value.", "Example: spark.executor.memory=4g.")
        conf[key.strip()] = value.strip()
    return conf
