"""Snowflake as the source: ``snowflake://user@account/database/schema?warehouse=WH&role=ROLE``.

Reads stream: each table's day (or dimension snapshot) is one query with bound parameters whose result
arrives as Arrow batches (``cursor.fetch_arrow_batches()``), cast to the contract's Arrow types and handed
on as a ``pyarrow.RecordBatchReader``, so memory holds one batch, never the whole table.

Credentials, never from the URL into a message (``redact_url`` shows a URL password as ``***``):

- a password: ``SNOWFLAKE_PASSWORD`` or ``RETAILFLOW_SNOWFLAKE_PASSWORD`` (a password in the URL works
  too, but lands in shell histories: prefer the environment);
- a key pair: ``?private_key_file=/path/rsa_key.p8`` or ``SNOWFLAKE_PRIVATE_KEY_FILE`` (its passphrase,
  if any, in ``SNOWFLAKE_PRIVATE_KEY_FILE_PWD``);
- the connector's own ``connections.toml``: ``?connection_name=NAME`` (account, user, credentials and
  the rest come from that file; the URL's parts override them).

``host``, ``port`` and ``protocol`` query parameters point the connector at another endpoint (the
fakesnow server the tests run: ``?host=127.0.0.1&port=8765&protocol=http``).

``load`` is the bulk path ``retailflow generate --source snowflake://...`` uses: each table goes from the
generated DuckDB file to Parquet files, PUT to a temporary internal stage, then one ``COPY INTO ...
MATCH_BY_COLUMN_NAME`` (what the connector's own ``write_pandas`` does, without pandas).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import pyarrow as pa

from retailflow.errors import SourceError
from retailflow.redact import MASK, redact_text, redact_url
from retailflow.source.base import NativeType, check_contract
from retailflow.sql import identifier, literal
from retailflow.tables import ALL_TABLES, SOURCE_DECIMAL, Table

PASSWORD_ENV = ("RETAILFLOW_SNOWFLAKE_PASSWORD", "SNOWFLAKE_PASSWORD")
PRIVATE_KEY_ENV = "SNOWFLAKE_PRIVATE_KEY_FILE"
PRIVATE_KEY_PWD_ENV = "SNOWFLAKE_PRIVATE_KEY_FILE_PWD"
# Query parameters the URL may carry (anything else is a typo worth an error).
URL_PARAMS = (
    "warehouse",
    "role",
    "host",
    "port",
    "protocol",
    "private_key_file",
    "connection_name",
    "authenticator",
    "login_timeout",  # seconds the connector keeps trying to log in (its default: 120)
    "network_timeout",  # seconds a request may take
    "socket_timeout",  # seconds a socket may wait for the server (connect and each read)
)
PARQUET_FILE_BYTES = "128MB"  # Snowflake's advice for loading: files of 100-250 MB (compressed)

_ARROW_TYPES = {
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    SOURCE_DECIMAL: pa.decimal128(38, 2),
}


def arrow_schema(table: Table) -> pa.Schema:
    """The contract's columns as Arrow types (what the DuckDB source yields for the same table)."""
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type]) for c in table.columns])


def native_type(data_type: str, precision: int | None, scale: int | None) -> NativeType:
    """A Snowflake column type (information_schema's data_type, precision, scale) as the check compares it.
    Snowflake reports every fixed-point type (INTEGER, BIGINT, DECIMAL...) as NUMBER, every float as FLOAT,
    every character type as TEXT."""
    name = data_type.upper()
    if name in ("NUMBER", "DECIMAL", "NUMERIC"):
        return NativeType("decimal", f"{name}({precision},{scale})" if scale is not None else name, scale)
    kind = {"DATE": "date", "BOOLEAN": "bool", "TEXT": "text", "VARCHAR": "text", "FLOAT": "double"}.get(name)
    return NativeType(kind or "other", data_type)


@dataclass(frozen=True)
class SnowflakeURL:
    user: str
    password: str | None
    account: str
    database: str
    schema: str
    params: dict[str, str] = field(default_factory=dict)

    def connect_args(self) -> dict[str, Any]:
        """The keyword arguments of ``snowflake.connector.connect`` (credentials resolved, see the module doc)."""
        args: dict[str, Any] = {"database": self.database, "schema": self.schema, "paramstyle": "qmark"}
        if self.account:
            args["account"] = self.account
        if self.user:
            args["user"] = self.user
        for name in ("warehouse", "role", "host", "protocol", "authenticator", "connection_name"):
            if self.params.get(name):
                args[name] = self.params[name]
        for name in ("port", "login_timeout", "network_timeout", "socket_timeout"):
            if self.params.get(name):
                args[name] = int(self.params[name])
        password = self.password or next((os.environ[n] for n in PASSWORD_ENV if os.environ.get(n)), None)
        key_file = self.params.get("private_key_file") or os.environ.get(PRIVATE_KEY_ENV)
        if password:
            args["password"] = password
        elif key_file:
            args["private_key_file"] = key_file
            if os.environ.get(PRIVATE_KEY_PWD_ENV):
                args["private_key_file_pwd"] = os.environ[PRIVATE_KEY_PWD_ENV]
            args.setdefault("authenticator", "SNOWFLAKE_JWT")
        elif not (args.get("connection_name") or args.get("authenticator")):
            raise SourceError(
                "No Snowflake credentials: the URL names no connection and holds no key file, "
                f"and {' / '.join(PASSWORD_ENV)} are not set.",
                f"Set SNOWFLAKE_PASSWORD, or {PRIVATE_KEY_ENV} (a key pair), or add ?connection_name=NAME "
                "(an entry of the connector's connections.toml).",
            )
        return args


def parse_url(url: str) -> SnowflakeURL:
    shown = redact_url(url)
    scheme, sep, rest = url.partition("://")
    if scheme != "snowflake" or not sep:
        raise SourceError(f"Source URL {shown!r} is not a snowflake URL.", _URL_HINT)
    rest, _, query = rest.partition("?")
    at = rest.rfind("@")
    userinfo, hostpath = (rest[:at], rest[at + 1 :]) if at != -1 else ("", rest)
    user, colon, password = userinfo.partition(":")
    account, _, path = hostpath.partition("/")
    parts = [unquote(p) for p in path.split("/") if p]
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - set(URL_PARAMS))
    if unknown:
        raise SourceError(
            f"Source URL {shown!r} has unknown parameter(s) {', '.join(unknown)}.",
            f"Known: {', '.join(URL_PARAMS)}.",
        )
    if len(parts) != 2 or not (account or params.get("connection_name")):
        raise SourceError(f"Source URL {shown!r} does not name an account, a database and a schema.", _URL_HINT)
    for name in ("port", "login_timeout", "network_timeout", "socket_timeout"):
        if params.get(name) and not params[name].isdigit():
            raise SourceError(f"Source URL {shown!r}: {name} must be a number.", _URL_HINT)
    return SnowflakeURL(
        user=unquote(user),
        password=unquote(password) if colon else None,
        account=unquote(account),
        database=parts[0],
        schema=parts[1],
        params=params,
    )


_URL_HINT = "Use snowflake://user@account/database/schema?warehouse=WH&role=ROLE (password in SNOWFLAKE_PASSWORD)."


def _connect(url: str):
    """A connector connection; any failure becomes a SourceError with no secret in its text."""
    import snowflake.connector

    parsed = parse_url(url)
    args = parsed.connect_args()
    try:
        return snowflake.connector.connect(**args)
    except snowflake.connector.errors.Error as exc:
        raise SourceError(
            f"Cannot connect to Snowflake {redact_url(url)}: {_clean(exc, args.get('password'))}",
            "Check the account, user and credentials (see docs/snowflake.md).",
        ) from None


def _clean(exc: BaseException, *secrets: str | None) -> str:
    """An exception's first line with URLs redacted and any known secret masked."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return redact_text(text)


def _upper(name: str) -> str:
    """How Snowflake stores an unquoted identifier (the contract's names go in unquoted)."""
    return identifier(name).upper()


class SnowflakeSource:
    def __init__(self, url: str):
        self.url = url
        self._parsed = parse_url(url)
        # A session per thread: days export in parallel threads, and one session runs one query at a time
        # (fakesnow mixes up concurrent results on one session; separate sessions are safe everywhere).
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self.con = self._connection()

    def _connection(self):
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = _connect(self.url)
            with self._lock:
                self._connections.append(con)
        return con

    def _error(self, exc: BaseException, what: str) -> SourceError:
        return SourceError(f"{what} failed on Snowflake {redact_url(self.url)}: {_clean(exc, self._parsed.password)}")

    def check(self, tables: tuple[Table, ...]) -> None:
        import snowflake.connector

        names = [_upper(t.name) for t in tables]
        sql = (
            "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
            f"WHERE table_schema = ? AND table_name IN ({', '.join('?' for _ in names)})"
        )
        present: dict[str, dict[str, NativeType]] = {}
        try:
            cursor = self._connection().cursor()
            rows = cursor.execute(sql, [self._parsed.schema.upper(), *names]).fetchall()
            cursor.close()
        except snowflake.connector.errors.Error as exc:
            raise self._error(exc, "Reading information_schema") from None
        for table_name, column_name, data_type, precision, scale in rows:
            present.setdefault(table_name.lower(), {})[column_name.lower()] = native_type(data_type, precision, scale)
        check_contract(
            self.url,
            tables,
            present,
            "Run `retailflow generate --source <this URL>` to fill it, or point --source at the right schema.",
        )

    def _select(self, table: Table, where: str = "") -> str:
        cols = ", ".join(_upper(c) for c in table.column_names)
        # Sorted by every column, like the DuckDB source (ORDER BY ALL): unchanged data, identical files.
        return f"SELECT {cols} FROM {_upper(table.name)}{where} ORDER BY {cols}"

    def _stream(self, table: Table, sql: str, params: list[Any]) -> pa.RecordBatchReader:
        import snowflake.connector

        schema = arrow_schema(table)
        cursor = self._connection().cursor()
        try:
            cursor.execute(sql, params)
        except snowflake.connector.errors.Error as exc:
            cursor.close()
            raise self._error(exc, f"Reading table '{table.name}'") from None

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                # An empty result yields no batch at all: the reader then is empty, with the contract schema.
                for part in cursor.fetch_arrow_batches():
                    if isinstance(part, pa.RecordBatch):
                        part = pa.Table.from_batches([part])
                    yield from part.rename_columns(schema.names).cast(schema).to_batches()
            except snowflake.connector.errors.Error as exc:
                raise self._error(exc, f"Reading table '{table.name}'") from None
            finally:
                cursor.close()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def read_day(self, table: Table, day: dt.date) -> pa.RecordBatchReader:
        assert table.date_column, f"{table.name} is not a fact table"
        return self._stream(table, self._select(table, f" WHERE {_upper(table.date_column)} = ?"), [day])

    def read_all(self, table: Table) -> pa.RecordBatchReader:
        return self._stream(table, self._select(table), [])

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for con in connections:
            con.close()


# -- the bulk load -------------------------------------------------------------------------------------


def create_table_sql(table: Table) -> str:
    """The table's Snowflake DDL: the contract's type names are all Snowflake types too."""
    cols = ", ".join(f"{_upper(c.name)} {c.type}" for c in table.columns)
    return f"CREATE OR REPLACE TABLE {_upper(table.name)} ({cols})"


def load(url: str, duckdb_path: Path, on_progress: Callable[[], None] | None = None) -> None:
    """Replace the five tables at ``url`` with those of the DuckDB file: per table, Parquet files written
    by DuckDB, PUT to a temporary internal stage, one COPY INTO (never row by row)."""
    import duckdb
    import snowflake.connector

    parsed = parse_url(url)
    duck = duckdb.connect(str(duckdb_path), read_only=True)
    con = _connect(url)
    step = "Connecting"
    try:
        cursor = con.cursor()
        with tempfile.TemporaryDirectory(prefix="retailflow-snowflake-load-") as scratch:
            for table in ALL_TABLES:
                name = _upper(table.name)
                stage = f"RETAILFLOW_LOAD_{name}"  # temporary: dropped with the session (PURGE empties it)
                folder = Path(scratch) / table.name
                cols = ", ".join(identifier(c) for c in table.column_names)
                duck.execute(
                    f"COPY (SELECT {cols} FROM {identifier(table.name)}) TO {literal(str(folder))} "
                    f"(FORMAT PARQUET, FILE_SIZE_BYTES {literal(PARQUET_FILE_BYTES)}, OVERWRITE_OR_IGNORE)"
                )
                step = f"Loading table '{table.name}'"
                cursor.execute(create_table_sql(table))
                cursor.execute(f"CREATE OR REPLACE TEMPORARY STAGE {stage}")
                cursor.execute(f"PUT {literal(folder.as_uri() + '/*.parquet')} {'@' + stage} PARALLEL = 4")
                cursor.execute(
                    f"COPY INTO {name} FROM @{stage} FILE_FORMAT = (TYPE = PARQUET) "
                    "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE PURGE = TRUE"
                )
                for sub in folder.iterdir():
                    sub.unlink()
                if on_progress:
                    on_progress()
    except snowflake.connector.errors.Error as exc:
        raise SourceError(f"{step} failed on Snowflake {redact_url(url)}: {_clean(exc, parsed.password)}") from None
    finally:
        con.close()
        duck.close()
