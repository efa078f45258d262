"""How raw-zone CSV files are read, whoever wrote them (a fixed contract; every engine's reader uses it).

- ``.csv`` or ``.csv.gz``; comma-separated, double-quote quoting, UTF-8 with or without a BOM;
- a header row, its names in any case and any order; columns beyond the contract are ignored;
- ``\\N`` (what a Snowflake unload writes) or an empty field is NULL.
Values are read as text; typing and validation happen in the transformation's SQL, which is where a
field that does not parse becomes a quarantined row with a reason instead of a crash.
"""

from __future__ import annotations

from retailflow.errors import LakeError
from retailflow.tables import Table


def normalize_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().strip('"').strip().lower()


def map_columns(table: Table, header: list[str], where: str) -> dict[str, str]:
    """Contract column -> the file's own header name. Raises when a contract column is absent or ambiguous."""
    by_name: dict[str, str] = {}
    for original in header:
        key = normalize_header(original)
        if key in by_name and key in table.column_names:
            raise LakeError(
                f"{where} has column {key!r} twice (as {by_name[key]!r} and {original!r}).",
                "Fix the file's header and re-deliver it.",
            )
        by_name.setdefault(key, original)
    missing = [c for c in table.column_names if c not in by_name]
    if missing:
        raise LakeError(
            f"{where} lacks column(s) {', '.join(missing)} of the {table.name} table.",
            "Re-export the day, or fix the producer: every column of the contract is needed (any case, any order).",
        )
    return {c: by_name[c] for c in table.column_names}
