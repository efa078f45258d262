"""A PostgreSQL source through ADBC's PostgreSQL driver (libpq underneath), read and written as Arrow.

URL: ``postgresql://user[:password]@host:port/dbname[?options]``, libpq's own URI form (so libpq's
environment applies as well: PGPASSWORD, PGPASSFILE/~/.pgpass, PGSSLMODE...). A ``postgresql+driver://``
spelling is accepted and passed on as ``postgresql://``.

Reading streams with bounded memory: each read opens its own connection (the exporter reads days in
parallel threads), declares a server-side cursor for the query, with the day as a bound parameter, and
fetches ``BATCH_ROWS`` rows at a time; each fetch becomes one Arrow batch cast to the contract's types
(the same schema the DuckDB source yields). ``load`` fills a database from a generated DuckDB file through
ADBC's bulk ingest (COPY), one transaction for all five tables.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from retailflow.errors import SourceError
from retailflow.redact import redact_text, redact_url
from retailflow.source.base import NativeType, check_contract
from retailflow.sql import identifier
from retailflow.tables import ALL_TABLES, Column, Table

BATCH_ROWS = 100_000  # rows per FETCH from the server-side cursor: one Arrow batch, the memory bound of a read
CONNECT_HINT = (
    "Check host, port, database, user and password (in the URL, PGPASSWORD or ~/.pgpass), and that the "
    "server accepts connections from this machine (pg_hba.conf)."
)
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type of a contract column: what every source yields for it."""
    simple = {
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DATE": pa.date32(),
        "BOOLEAN": pa.bool_(),
        "VARCHAR": pa.string(),
        "DOUBLE": pa.float64(),
    }
    if column.type in simple:
        return simple[column.type]
    match = _DECIMAL.match(column.type)
    if not match:
        raise ValueError(f"no Arrow type for {column.name} {column.type}")
    return pa.decimal128(int(match.group(1)), int(match.group(2)))


def postgres_type(column: Column) -> str:
    """The PostgreSQL DDL type of a contract column (money and quantities as NUMERIC(38,2))."""
    match = _DECIMAL.match(column.type)
    if match:
        return f"NUMERIC({match.group(1)},{match.group(2)})"
    return {"VARCHAR": "TEXT", "DOUBLE": "DOUBLE PRECISION"}.get(column.type, column.type)


def native_type(data_type: str, precision: int | None, scale: int | None) -> NativeType:
    """A PostgreSQL column type (information_schema's data_type, precision, scale) as the check compares it."""
    if data_type == "numeric":
        shown = f"numeric({precision},{scale})" if precision is not None else "numeric"
        return NativeType("decimal", shown, scale)  # an unconstrained numeric has no scale: not compatible
    kind = {
        "smallint": "int",
        "integer": "int",
        "bigint": "int",
        "date": "date",
        "boolean": "bool",
        "text": "text",
        "character varying": "text",
        "character": "text",
        "double precision": "double",
        "real": "double",
    }.get(data_type, "other")
    return NativeType(kind, data_type)


def schema_of(table: Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c)) for c in table.columns])


def create_table_sql(table: Table) -> str:
    cols = ", ".join(f"{identifier(c.name)} {postgres_type(c)}" for c in table.columns)
    return f"CREATE TABLE {identifier(table.name)} ({cols})"


def libpq_url(url: str) -> str:
    """The URL as libpq takes it: ``postgresql+x://`` and ``postgres://`` become ``postgresql://``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise SourceError(
            f"Source URL {redact_url(url)!r} is not a PostgreSQL URL.",
            "Use postgresql://user@host:5432/dbname.",
        )
    return f"postgresql://{rest}"


def _reason(exc: BaseException, url: str) -> str:
    """An exception's first line, with any URL (and the URL's password itself) masked."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    line = redact_text(line)
    password = _password(url)
    return line.replace(password, "***") if password else line


def _password(url: str) -> str | None:
    rest = url.partition("://")[2]
    at = rest.rfind("@")
    if at == -1:
        return None
    user, colon, password = rest[:at].partition(":")
    return password if colon and "/" not in user and password else None


def connect(url: str):
    """An ADBC connection (autocommit off), or a one-line SourceError that shows no password."""
    try:
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as pg
    except ImportError:
        raise SourceError(
            "The postgresql:// source needs ADBC's PostgreSQL driver, which is not installed.",
            "pip install 'retailflow[postgresql]'.",
        ) from None
    try:
        return pg.connect(libpq_url(url))
    except adbc_driver_manager.Error as exc:
        raise SourceError(
            f"Cannot connect to PostgreSQL source {redact_url(url)}: {_reason(exc, url)}", CONNECT_HINT
        ) from None


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch as the contract types: NUMERIC arrives as an opaque extension over its text, cast to decimal."""
    arrays = []
    for array, field in zip(batch.columns, schema, strict=True):
        if isinstance(array.type, pa.ExtensionType):
            array = array.storage
        arrays.append(array if array.type == field.type else array.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class PostgreSQLSource:
    def __init__(self, url: str):
        self.url = url
        self._url = libpq_url(url)
        self.con = connect(url)  # for check(); every read has its own connection
        self._open: set = set()

    def _error(self, exc: BaseException, what: str) -> SourceError:
        return SourceError(f"{what} from PostgreSQL source {redact_url(self.url)}: {_reason(exc, self.url)}")

    def check(self, tables: tuple[Table, ...]) -> None:
        import adbc_driver_manager

        sql = (
            "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
            "FROM information_schema.columns "
            "WHERE table_schema = ANY (current_schemas(false)) AND table_name = $1"
        )
        present: dict[str, dict[str, NativeType]] = {}
        try:
            with self.con.cursor() as cur:
                for table in tables:
                    cur.execute(sql, parameters=(table.name,))
                    for table_name, column_name, data_type, precision, scale in cur.fetchall():
                        present.setdefault(table_name, {})[column_name] = native_type(data_type, precision, scale)
        except adbc_driver_manager.Error as exc:
            raise self._error(exc, "Cannot list the tables") from None
        finally:
            self.con.rollback()
        check_contract(
            self.url,
            tables,
            present,
            "Run `retailflow generate --source <this URL>` to create a source, or point --source "
            "at the right database (tables are looked up in the user's search_path).",
        )

    def read_day(self, table: Table, day: dt.date) -> pa.RecordBatchReader:
        return self._read(table, f" WHERE {identifier(table.date_column)} = $1", (day,))

    def read_all(self, table: Table) -> pa.RecordBatchReader:
        return self._read(table, "", None)

    def _read(self, table: Table, where: str, parameters: tuple | None) -> pa.RecordBatchReader:
        import adbc_driver_manager

        cols = ", ".join(identifier(c) for c in table.column_names)
        # Sorted by every column (text byte-wise, as DuckDB's ORDER BY ALL): unchanged data, identical files.
        order = ", ".join(
            f'{identifier(c.name)} COLLATE "C"' if c.type == "VARCHAR" else identifier(c.name) for c in table.columns
        )
        query = f"SELECT {cols} FROM {identifier(table.name)}{where} ORDER BY {order}"
        con = connect(self.url)
        self._open.add(con)
        try:
            cur = con.cursor()
            # Plain results, not COPY: a FETCH cannot be wrapped in COPY, and each FETCH is one bounded batch.
            cur.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
            cur.execute(f"DECLARE retailflow_read NO SCROLL CURSOR FOR {query}", parameters=parameters)
        except adbc_driver_manager.Error as exc:
            self._release(con)
            raise self._error(exc, f"Cannot read '{table.name}'") from None
        schema = schema_of(table)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                while True:
                    try:
                        cur.execute(f"FETCH FORWARD {int(BATCH_ROWS)} FROM retailflow_read")
                        fetched = cur.fetch_arrow_table()
                    except adbc_driver_manager.Error as exc:
                        raise self._error(exc, f"Cannot read '{table.name}'") from None
                    if fetched.num_rows == 0:
                        return
                    for batch in fetched.to_batches():
                        yield _cast(batch, schema)
            finally:
                self._release(con)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _release(self, con) -> None:
        if con in self._open:
            self._open.discard(con)
            try:
                con.rollback()  # ends the read-only transaction (and its cursor)
            except Exception:  # noqa: BLE001 - a broken connection is closed all the same
                pass
            con.close()

    def close(self) -> None:
        for con in list(self._open):
            self._release(con)
        self.con.close()


def load(url: str, duckdb_path: Path, on_progress: Callable[[], None] | None = None) -> None:
    """Replace the five source tables at ``url`` with those of a DuckDB file, in one transaction.

    Each table is dropped and created with the contract's types, then bulk-loaded from the DuckDB table
    read as Arrow batches, through ADBC ingest (COPY ... FROM STDIN, binary). Never row by row.
    """
    import adbc_driver_manager
    import duckdb

    from retailflow.source.duckdb_source import BATCH_ROWS as DUCKDB_BATCH_ROWS

    con = connect(url)
    duck = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        with con.cursor() as cur:
            for table in ALL_TABLES:
                cur.execute(f"DROP TABLE IF EXISTS {identifier(table.name)}")
                cur.execute(create_table_sql(table))
                cols = ", ".join(identifier(c) for c in table.column_names)
                reader = duck.cursor().execute(f"SELECT {cols} FROM {identifier(table.name)}")
                schema = schema_of(table)
                batches = reader.to_arrow_reader(DUCKDB_BATCH_ROWS)
                cast = pa.RecordBatchReader.from_batches(schema, (_cast(b, schema) for b in batches))
                cur.adbc_ingest(table.name, cast, mode="append")
                if on_progress:
                    on_progress()
        con.commit()
    except adbc_driver_manager.Error as exc:
        con.rollback()
        raise SourceError(
            f"Cannot load the generated tables into {redact_url(url)}: {_reason(exc, url)}",
            "The user needs CREATE on the database's schema (and must own any existing source tables).",
        ) from None
    except duckdb.Error as exc:
        con.rollback()
        raise SourceError(f"Cannot read the generated tables from {duckdb_path}: {_reason(exc, url)}") from None
    finally:
        duck.close()
        con.close()
