"""``retailflow query --engine athena``: SQL over the Glue catalog (catalog/glue.py) through Athena, with
pyathena: the query is started in ``settings.athena_workgroup`` with ``settings.glue_database`` as its
database, polled until it ends, and its rows fetched (typed by Athena's column types).

Results go to ``settings.athena_output`` (s3://...), or, when it is empty, to the workgroup's own result
location. The endpoint and region come from ``aws_endpoint_url`` / ``aws_region`` when set, else the
standard AWS variables and profile; credentials always from the standard chain.

As with the DuckDB catalog, one SELECT statement is run (checked by sqlglot before anything is sent), and
every failure (refused, failed or cancelled query, unreachable API) is one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from retailflow.catalog import dialects, glue
from retailflow.catalog.named import NAMED_QUERIES, NamedQuery, parameters_for, sql_for
from retailflow.config import Settings
from retailflow.errors import ConfigError, RetailflowError

POLL_INTERVAL_S = 1.0
HINT = "Check the query (Athena's SQL is Trino's), the workgroup (athena_workgroup) and athena_output."


def connect_options(settings: Settings, poll_interval: float | None = None) -> dict[str, Any]:
    """pyathena.connect's arguments from the settings (pure)."""
    options: dict[str, Any] = {
        "work_group": settings.athena_workgroup or None,
        "s3_staging_dir": settings.athena_output or None,
        "schema_name": settings.glue_database,
        "poll_interval": POLL_INTERVAL_S if poll_interval is None else poll_interval,
    }
    if settings.aws_region:
        options["region_name"] = settings.aws_region
    if settings.aws_endpoint_url:
        options["endpoint_url"] = settings.aws_endpoint_url
    return options


@contextlib.contextmanager
def connect(settings: Settings, poll_interval: float | None = None) -> Iterator[Any]:
    try:
        import pyathena
        from pyathena.error import Error as AthenaError
    except ImportError:
        raise ConfigError(
            "retailflow query --engine athena needs pyathena.", "Install retailflow with the aws extra."
        ) from None
    try:
        con = pyathena.connect(**connect_options(settings, poll_interval))
    except AthenaError as exc:
        raise ConfigError(f"Cannot connect to Athena: {_first_line(exc)}", HINT) from None
    try:
        yield con
    finally:
        con.close()


def run_query(
    settings: Settings,
    sql: str,
    params: dict[str, Any] | None = None,
    *,
    poll_interval: float | None = None,
    on_start: Callable[[str], None] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SELECT on Athena; return (column names, rows). ``params`` fill ``%(name)s`` placeholders;
    ``on_start(query_execution_id)`` is called once the query is started, before it is polled."""
    from pyathena.error import Error as AthenaError

    checked = dialects.bind_literals(sql, params) if params else sql
    dialects.check_select(checked, "athena")
    with connect(settings, poll_interval) as con:
        cursor = con.cursor()
        try:
            cursor.execute(sql, params or None, on_start_query_execution=on_start)
            columns = [d[0] for d in cursor.description or []]
            rows = [tuple(r) for r in cursor.fetchall()] if columns else []
        except AthenaError as exc:
            state, reason = _final_state(settings, getattr(cursor, "query_id", None))
            detail = reason or (_first_line(exc) if str(exc) not in ("", "None") else "")
            what = f"The Athena query {cursor.query_id} was {state.lower()}" if state else "The Athena query failed"
            raise RetailflowError(f"{what}{': ' + detail if detail else ''}", HINT) from None
        except Exception as exc:  # botocore: endpoint, credentials
            if type(exc).__module__.startswith(("botocore", "urllib3")):
                raise RetailflowError(f"Cannot reach Athena: {_first_line(exc)}", HINT) from None
            raise
    return columns, rows


def _final_state(settings: Settings, query_id: str | None) -> tuple[str | None, str | None]:
    """(state, reason) of a query that did not succeed, as Athena reports it (None, None if unknown)."""
    if not query_id:
        return None, None
    from retailflow import aws

    try:
        status = aws.client(settings, "athena").get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    except Exception:
        return None, None
    state = status.get("Status", {}).get("State")
    return (state if state in ("FAILED", "CANCELLED") else None), status.get("Status", {}).get("StateChangeReason")


def named_sql(query: NamedQuery) -> str:
    """The named query as Athena runs it (rendered from the one DuckDB text)."""
    return sql_for(query, "athena")


def run_named(
    settings: Settings, name: str, week: int | None, limit: int, *, poll_interval: float | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    if name not in NAMED_QUERIES:
        raise RetailflowError(f"No named query {name!r}.", f"Choose one of: {', '.join(NAMED_QUERIES)}.")
    query = NAMED_QUERIES[name]
    if week is None and "$week" in query.sql:
        week = glue.latest_week(settings)
        if week is None:
            raise RetailflowError(
                f"No week is registered in the Glue database {settings.glue_database}.",
                'Publish with catalog = "glue", or run `retailflow catalog --target glue`.',
            )
    return run_query(settings, named_sql(query), parameters_for(query, week, limit), poll_interval=poll_interval)


def list_tables(settings: Settings) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The Glue database's tables and views with their columns, from Glue itself (no Athena query)."""
    client = glue.glue_client(settings)
    rows = []
    try:
        for page in client.get_paginator("get_tables").paginate(DatabaseName=settings.glue_database):
            for table in page.get("TableList", []):
                columns = table.get("StorageDescriptor", {}).get("Columns", []) + table.get("PartitionKeys", [])
                rows.append((table["Name"], ", ".join(f"{c['Name']} {c['Type']}" for c in columns)))
    except client.exceptions.EntityNotFoundException:
        raise RetailflowError(
            f"There is no Glue database {settings.glue_database}.", "Run `retailflow catalog --target glue`."
        ) from None
    return ["table_name", "columns"], sorted(rows)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
