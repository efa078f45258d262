"""One SQL text, two engines: the named queries are written once in DuckDB's SQL with ``$name``
parameters, and rendered with sqlglot for Athena (Trino).

- ``duckdb``: the text as written; parameters are bound by DuckDB (``$week`` -> ``{"week": ...}``).
- ``athena``: sqlglot ``duckdb -> trino`` (e.g. DuckDB's ``/`` is float division, so ``a / b`` becomes
  ``CAST(a AS DOUBLE) / b``; ``x IS NOT NULL`` keeps its meaning). DuckDB adds days to a date with
  ``d + 7``, which Trino refuses: a date column (by the contract's naming, ``*_dt``) plus or minus a whole
  number becomes ``date_add('day', n, d)``; an identifier that is a reserved word in Trino but not in
  DuckDB (``cube``, ``rollup``...) is quoted. Parameters become pyathena's
  ``%(name)s`` (its default ``pyformat`` style: pyathena quotes the values client-side, so they may stand
  where Athena accepts no server-side parameter, like ``LIMIT``); a literal ``%`` is doubled.
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp

from retailflow.errors import RetailflowError

DIALECTS = ("duckdb", "athena")
SQLGLOT_NAME = {"duckdb": "duckdb", "athena": "trino"}
_TOKEN = "__retailflow_param_{}__"
_TOKEN_RE = re.compile(r"__retailflow_param_([A-Za-z_][A-Za-z0-9_]*)__")


def parameter_names(sql: str) -> list[str]:
    """The ``$name`` parameters of a DuckDB query, in order of first use."""
    names: list[str] = []
    for node in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Placeholder, exp.Parameter):
        name = node.name
        if name and name not in names:
            names.append(name)
    return names


def render(sql: str, dialect: str) -> str:
    """The query in ``dialect``: DuckDB as written, or Athena's Trino with pyathena ``%(name)s`` parameters."""
    if dialect == "duckdb":
        return sql
    if dialect != "athena":
        raise ValueError(f"Unknown dialect {dialect!r}; one of {DIALECTS}")
    text = _athena_tree(sql).sql(dialect="trino", pretty=True)
    text = text.replace("%", "%%")
    return _TOKEN_RE.sub(lambda m: f"%({m.group(1)})s", text)


def to_trino(sql: str) -> str:
    """A parameterless DuckDB query as Athena's Trino, for tools that send SQL as is (Superset's datasets):
    the same rewrites as ``render``, no pyformat escaping."""
    return _athena_tree(sql).sql(dialect="trino", pretty=True)


def render_expression(sql: str, dialect: str) -> str:
    """A SQL expression (a metric, a computed column) in ``dialect``; no parameters."""
    if dialect == "duckdb":
        return sql
    return _athena_tree(sql).sql(dialect="trino")


# Trino's reserved words (trino.io/docs/current/language/reserved.html): quoted when used as identifiers.
TRINO_RESERVED = frozenset(
    """alter and as between by case cast constraint create cross cube current_catalog current_date
    current_path current_role current_schema current_time current_timestamp current_user deallocate delete
    describe distinct drop else end escape except execute exists extract false for from full group grouping
    having in inner insert intersect into is join json_array json_exists json_object json_query json_table
    json_value left like listagg localtime localtimestamp natural normalize not null on or order outer
    prepare recursive right rollup select skip table then trim true uescape union unnest using values when
    where with""".split()
)


def _athena_tree(sql: str) -> exp.Expression:
    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Identifier) and not node.quoted and node.name.lower() in TRINO_RESERVED:
            return exp.Identifier(this=node.name, quoted=True)
        if isinstance(node, (exp.Placeholder, exp.Parameter)) and node.name:
            return exp.var(_TOKEN.format(node.name))
        if isinstance(node, (exp.Add, exp.Sub)):
            left, right = node.this, node.expression
            if isinstance(left, exp.Column) and left.name.endswith("_dt") and _whole(right):
                days = int(right.this) * (1 if isinstance(node, exp.Add) else -1)
                return exp.Anonymous(
                    this="date_add", expressions=[exp.Literal.string("day"), exp.Literal.number(days), left.copy()]
                )
        return node

    return sqlglot.parse_one(sql, read="duckdb").transform(rewrite)


def _whole(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit()


def bind_literals(rendered: str, params: dict[str, Any]) -> str:
    """An Athena rendering with its parameters written in as SQL literals (what pyathena sends)."""
    from pyathena.formatter import DefaultParameterFormatter

    return DefaultParameterFormatter().format(rendered, params)


def to_duckdb(trino_sql: str) -> str:
    """Trino SQL back in DuckDB's dialect (the tests run Athena's SQL on DuckDB this way)."""
    return sqlglot.transpile(trino_sql, read="trino", write="duckdb")[0]


READ_ONLY_HINT = "retailflow query runs one SELECT (or WITH ... SELECT) statement; nothing is written."


def check_select(sql: str, dialect: str = "athena") -> None:
    """Refuse anything but one SELECT statement, parsed by sqlglot in ``dialect`` before it is sent."""
    if not sql or not sql.strip():
        raise RetailflowError("The query is empty.", "Pass SQL, --named NAME (see --list) or --tables.")
    try:
        statements = [s for s in sqlglot.parse(sql, read=SQLGLOT_NAME[dialect]) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
        raise RetailflowError(f"The query is not valid {dialect} SQL: {first}", READ_ONLY_HINT) from None
    if len(statements) != 1:
        raise RetailflowError(
            f"The query holds {len(statements)} statements; retailflow query runs one at a time.", READ_ONLY_HINT
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper()
        raise RetailflowError(f"retailflow query is read-only: {kind} statements are refused.", READ_ONLY_HINT)
