"""The few places where DuckDB and Spark SQL spell things differently. Everything else in the plan is
written once, in the SQL both engines accept."""

from __future__ import annotations

from dataclasses import dataclass

from retailflow.tables import engine_type


@dataclass(frozen=True)
class Dialect:
    name: str  # "duckdb" or "spark"

    def matches(self, expr: str, pattern: str) -> str:
        """Regular-expression search. Patterns must avoid backslashes: Spark unescapes string literals."""
        assert "\\" not in pattern, "write [.] rather than \\. so both dialects read the pattern alike"
        if self.name == "spark":
            return f"({expr} RLIKE '{pattern}')"
        return f"regexp_matches({expr}, '{pattern}')"

    def pack_texts(self, exprs: list[str]) -> str:
        """Several texts as one (a JSON array; NULLs kept): one narrow column where most rows have none."""
        items = ", ".join(exprs)
        return f"to_json(array({items}))" if self.name == "spark" else f"to_json([{items}])"

    def unpack_text(self, packed: str, index: int) -> str:
        """The ``index``-th (0-based) text of ``pack_texts``' result, exactly as packed."""
        if self.name == "spark":  # (get_json_object reads a JSON null as the text 'null')
            return f"from_json({packed}, 'array<string>')[{index}]"
        return f"json_extract_string({packed}, '$[{index}]')"

    def type(self, sql_type: str) -> str:
        return engine_type(sql_type, self.name)


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


def dialect_of(engine_name: str) -> Dialect:
    return SPARK if engine_name == "spark" else DUCKDB
