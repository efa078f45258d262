"""``retailflow query``: SQL against the catalog; the latest week, the list of tables.

The query connection is read-only in fact, not only because the catalog file is opened read-only:

- ``run_query`` runs one SELECT statement (SELECT, FROM, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE): COPY,
  ATTACH, INSTALL, LOAD, SET, EXPORT, CREATE, EXPLAIN (EXPLAIN ANALYZE runs its statement)... are refused
  before DuckDB sees them;
- ``open_catalog`` confines the connection itself (DuckDB's own sandbox): external access is off, the
  only readable places are the lake's ``curated/`` and ``quarantine/`` folders (``allowed_directories``),
  extensions are neither installed nor loaded, and the configuration is locked, so SQL cannot turn any
  of it back on. DuckDB compares real paths: ``..`` and symbolic links leading out of those folders are
  refused. For an object-store lake the views read through the lake's fsspec filesystem, registered on
  the connection; DuckDB counts it as external access too, so its URL prefixes (``s3://bucket/prefix/
  curated/``) are the allowed directories.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from retailflow.errors import LakeError, RetailflowError
from retailflow.lake import layout
from retailflow.lake.storage import Lake, is_s3, normalize_url, open_lake
from retailflow.sql import literal

if TYPE_CHECKING:
    from retailflow.config import Settings

TABLES_HINT = "Tables: `retailflow query --tables`."
READ_ONLY_HINT = (
    "retailflow query only reads the catalog's tables (`retailflow query --tables`): one SELECT, "
    "no files outside the lake's curated/ and quarantine/ folders, nothing written."
)


def readable_roots(lake: Lake) -> list[str]:
    """The folders the query connection may read, as DuckDB sees them (the views' own prefixes)."""
    return [lake.uri(layout.CURATED) + "/", lake.uri(layout.QUARANTINE) + "/"]


def confine(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """DuckDB's sandbox on ``con``: read only the lake's published folders; no extensions; locked."""
    con.execute("SET allowed_directories = $roots", {"roots": readable_roots(lake)})
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


@contextlib.contextmanager
def open_catalog(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only, confined connection to the catalog (downloaded first when the lake is not local)."""
    if not lake.exists(layout.catalog()):
        raise RetailflowError(
            f"There is no catalog in {lake.url} yet.", "Run `retailflow run` (or `retailflow catalog`) first."
        )
    workdir = None
    try:
        if lake.is_local:
            path = lake.path(layout.catalog())
        else:
            workdir = Path(tempfile.mkdtemp(prefix="retailflow-catalog-"))
            path = str(workdir / "retailflow.duckdb")
            with lake.open(layout.catalog()) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        try:
            con = duckdb.connect(path, read_only=True)
        except duckdb.Error as exc:
            raise LakeError(
                f"Cannot open the catalog {lake.uri(layout.catalog())}: {_first_line(exc)}",
                "Rebuild it with `retailflow catalog`.",
            ) from None
        try:
            if not lake.is_local:
                con.register_filesystem(lake.fs)
            confine(con, lake)
            yield con
        except duckdb.PermissionException as exc:
            raise _refused(lake, con, exc) from None
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise LakeError(
                f"Cannot read the published tables of {lake.url}: {_first_line(exc)}",
                "Republish them (`retailflow run --all`), which also rebuilds the catalog.",
            ) from None
        finally:
            con.close()
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


CATALOG_ALIAS = "retailflow"


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The lake's catalog for another tool (a notebook, a BI process): a plain DuckDB connection with the
    catalog's views, read-only. Not the sandboxed ``open_catalog`` of ``retailflow query``.

    A local lake: the catalog file opened read-only. An S3 lake: an in-memory connection that loads httpfs
    by file path, creates a temporary S3 secret from the standard AWS credential chain (retailflow.aws),
    and attaches ``s3://.../catalog/retailflow.duckdb`` read-only as ``retailflow`` (then ``USE``-d), so
    its views read the curated parquet straight from S3. Nothing is downloaded, nothing is written, and
    no secret is stored anywhere. ``retailflow catalog --print-setup`` prints the same steps as SQL."""
    url = normalize_url(settings.lake)
    if not is_s3(url):
        lake = open_lake(settings)
        if not lake.is_local:
            raise RetailflowError(
                f"retailflow.catalog.connect opens local and S3 lakes, not {lake.url}.",
                "Use `retailflow query` for other storage.",
            )
        if not lake.exists(layout.catalog()):
            raise RetailflowError(f"There is no catalog in {lake.url} yet.", "Run `retailflow catalog` first.")
        return duckdb.connect(lake.path(layout.catalog()), read_only=True)
    from retailflow.aws import configure_duckdb_s3

    con = duckdb.connect()
    try:
        con.execute("SET autoinstall_known_extensions = false")
        configure_duckdb_s3(con, settings)
        for statement in _attach_sql(url):
            con.execute(statement)
    except duckdb.Error as exc:
        con.close()
        raise LakeError(
            f"Cannot open the catalog {url}/{layout.catalog()}: {_first_line(exc)}",
            "Check that it exists (`retailflow catalog`), and the AWS endpoint, region and credentials.",
        ) from None
    except BaseException:
        con.close()
        raise
    return con


def _attach_sql(url: str) -> list[str]:
    return [
        f"ATTACH {literal(f'{url}/{layout.catalog()}')} AS {CATALOG_ALIAS} (READ_ONLY)",
        f"USE {CATALOG_ALIAS}",
    ]


def setup_sql(settings: Settings) -> list[str]:
    """What another DuckDB client runs to open the lake's catalog (``connect``'s steps), credentials as
    placeholders: for an S3 lake, LOAD httpfs by path, a temporary S3 secret, ATTACH read-only, USE."""
    url = normalize_url(settings.lake)
    if is_s3(url):
        from retailflow.aws import duckdb_s3_setup_sql

        return [*duckdb_s3_setup_sql(settings), *_attach_sql(url)]
    return _attach_sql(url)


def run_query(lake: Lake, sql: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    with open_catalog(lake) as con:
        _check_select(con, sql)
        try:
            cursor = con.execute(sql, params or {})
        except duckdb.PermissionException:
            raise  # open_catalog turns it into one line
        except duckdb.Error as exc:
            raise RetailflowError(f"The query failed: {_first_line(exc)}", TABLES_HINT) from None
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()


def latest_week(lake: Lake) -> int | None:
    _, rows = run_query(lake, f"SELECT MAX(yr_wk_num) FROM {layout.WEEKLY_TABLE}")
    return rows[0][0] if rows else None


def list_tables(lake: Lake) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The catalog's tables and views, one row each: ``table_name`` and its ``columns`` ("name TYPE, ...")."""
    return run_query(
        lake,
        "SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
        "AS columns FROM information_schema.columns GROUP BY table_name ORDER BY table_name",
    )


def _check_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but one SELECT statement (parsed by DuckDB itself, before it runs)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise RetailflowError(f"The query failed: {_first_line(exc)}", TABLES_HINT) from None
    if not statements:
        raise RetailflowError("The query is empty.", "Pass SQL, --named NAME (see --list) or --tables.")
    if len(statements) > 1:
        raise RetailflowError(
            f"The query holds {len(statements)} statements; retailflow query runs one at a time.", READ_ONLY_HINT
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise RetailflowError(
            f"retailflow query is read-only: {kind.name} statements are refused.",
            READ_ONLY_HINT,
        )


def _refused(lake: Lake, con: duckdb.DuckDBPyConnection, exc: duckdb.Error) -> RetailflowError:
    """DuckDB's sandbox refused a file. Say why in the lake's terms when the lake is the cause: a catalog
    built for another location (the lake was moved or copied), a symbolic link inside the lake; else the
    SQL itself reached outside."""
    roots = tuple(readable_roots(lake))
    for name, path in _view_paths(con):
        if not path.startswith(roots):
            return LakeError(
                f"The catalog {lake.uri(layout.catalog())} was built for another location: its view {name} "
                f"reads {path}, outside this lake (was the lake moved or copied?).",
                f"Rebuild it here: `retailflow catalog --lake {lake.url}`.",
            )
    if lake.is_local:
        _walk(lake, layout.CURATED)  # raises the LakeError naming a symbolic link, if there is one
        _walk(lake, layout.QUARANTINE)
    return RetailflowError(f"The query was refused: {_first_line(exc)}", READ_ONLY_HINT)


_READ_PARQUET = re.compile(r"read_parquet\(\s*'((?:[^']|'')*)'", re.IGNORECASE)


def _view_paths(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(view, path) for every file pattern the catalog's views read (their SQL as stored)."""
    rows = con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY view_name").fetchall()
    return [(name, m.replace("''", "'")) for name, sql in rows for m in _READ_PARQUET.findall(sql or "")]


def _walk(lake: Lake, folder: str, depth: int = 3) -> None:
    lake.listdir(folder)
    if depth:
        for sub in lake.subdirs(folder):
            _walk(lake, f"{folder}/{sub}", depth - 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
