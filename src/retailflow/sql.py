"""The one way a value reaches SQL text: quoted here, or checked against a strict pattern first.

Use query parameters (``con.execute(sql, [value])``) wherever the engine takes them. Where SQL must be
written as text (a ``read_csv`` file list, a ``COPY ... TO`` path, a ``SET`` value, a view's
definition), every value goes through one of these functions; nothing else pastes text into SQL.
"""

from __future__ import annotations

import re

from retailflow.errors import ConfigError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def literal(value: str) -> str:
    """A SQL string literal holding exactly ``value`` (DuckDB: quotes doubled; no backslash escapes)."""
    if "\x00" in value:
        raise ValueError("a NUL character cannot be part of a SQL string")
    return "'" + value.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A name used as an identifier, checked against a strict pattern (no quoting tricks needed)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain identifier")
    return name


_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_bytes(text: str, setting: str = "duckdb_memory_limit") -> int:
    """A memory size in bytes, read as DuckDB reads it (KB = 1000 bytes, KiB = 1024)."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([a-zA-Z]+)", memory_size(text, setting)).groups()
    return int(float(number) * _UNITS[unit.upper()])


def memory_size(text: str, setting: str = "duckdb_memory_limit") -> str:
    """A memory size such as '2GB' or '512 MiB', checked before it goes into ``SET memory_limit``."""
    if not _MEMORY.match(text):
        raise ConfigError(f"{setting} must be a size like 2GB or 512MB, got {text!r}.")
    return text.strip()
