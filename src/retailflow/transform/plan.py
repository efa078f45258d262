"""The transformation as one ordered list of SQL steps, the single definition every engine executes.

Inputs the engine provides as views, every column as text plus ``partition_dt`` (the raw partition's
day): ``raw_sales`` and ``raw_inventory`` (the partitions to parse), ``raw_store``, ``raw_product`` and
``raw_calendar`` (the newest partition's snapshots), ``rejects_sales`` / ``rejects_inventory``: the
lines the engine's CSV reader could not split into the header's fields (``partition_dt``, REJECT_COLUMNS
and a reason from REJECT_REASONS), and
``typed_sales`` / ``typed_inventory``: days parsed by an earlier run (``parsed_columns``; the DuckDB
engine's typed zone, transform/typed_zone.py; only days of the calendar snapshot), with no rows when there
are none. The rejects are available once ``<table>_fresh`` has read the files. Outputs:
``weekly_metrics`` (docs/metrics.md), ``quarantine_<table>``, ``counts_<table>``, ``reconciliation`` and
the ``dim_*`` tables.

Each step is ``CREATE <view or table> name AS <select>``; the select text is identical for DuckDB and
Spark but for the few spellings in dialect.py. The functions here are pure: SQL in, SQL out. Keep to the
SQL both engines read alike: no backslashes and no doubled-quote escapes in string literals (Spark reads
'a''b' as two adjacent literals), no lateral column aliases, every subquery aliased.
"""

from __future__ import annotations

from dataclasses import dataclass

from retailflow.tables import CALENDAR, INVENTORY, PRODUCT, SALES, SOURCE_DECIMAL, STORE, Column, Table
from retailflow.transform.dialect import Dialect
from retailflow.transform.schema import PARTITION_COLUMN, SUM_DECIMAL, WEEKLY_COLUMNS

INT_PATTERN = "^-?[0-9]+$"
DECIMAL_PATTERN = "^-?([0-9]+([.][0-9]*)?|[.][0-9]+)$"
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Floating point may come in exponent form (4.066e+01: Arrow's CSV writer, Snowflake's unload).
DOUBLE_PATTERN = "^-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?$"
TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")

# Validation rules beyond "parses": columns that must not be NULL because the metrics add them up,
# columns that must not be negative (sales_mgrn often is, validly), and 0/1 flags.
REQUIRED_MEASURES = {
    "sales": ("sales_qty", "sales_amt", "sales_cost"),
    "inventory": ("inventory_on_hand_qty", "inventory_on_order_qty", "out_of_stock_flg"),
}
NON_NEGATIVE = {
    "sales": ("sales_qty", "sales_amt", "sales_cost"),
    "inventory": ("inventory_on_hand_qty", "inventory_on_order_qty"),
}
FLAGS = {"sales": (), "inventory": ("out_of_stock_flg",)}
# No single money or quantity value of a fact row reaches this: far beyond any real sale or stock, and
# low enough that sums of a year of a large retailer stay exact in the plan's DECIMAL(38,2).
MAX_ABS_VALUE = 10**12
# A fact's money or quantity once typed: every value below MAX_ABS_VALUE fits (sums still widen to 38).
VALUE_DECIMAL = "DECIMAL(18,2)"
# Lines the CSV reader could not split into the header's fields (quarantined as raw lines): the input
# each engine provides as ``rejects_<table>``, with these columns.
REJECT_COLUMNS = (
    Column("source_file", "VARCHAR"),  # lake-relative, e.g. raw/dt=2026-01-05/sales.csv.gz
    Column("source_line", "BIGINT"),  # 1-based; the header is line 1
    Column("raw_line", "VARCHAR"),
)
REJECT_REASONS = {
    "split": "the line does not split into the header fields",
    "encoding": "the line is not valid UTF-8",
    "size": "the line is longer than the 64 MiB limit",
}
# The rows that must be unique: one sale per trans_id, one inventory snapshot per day/store/product.
UNIQUE_KEYS = {"sales": ("trans_id",), "inventory": ("cal_dt", "store_key", "prod_key")}


@dataclass(frozen=True)
class Step:
    name: str
    sql: str
    materialize: bool = False  # read more than once downstream: worth computing once
    # Materialized, and usually a handful of rows joined with the week's many (the keys that repeat): an
    # engine may send it whole to every task that joins it (Spark cannot tell its size; spark_engine.py).
    few_rows: bool = False


def typed(column: Column, d: Dialect, source: str | None = None) -> str:
    """Text -> typed value, NULL when it does not parse. Patterns first, so '2.5' is never an integer."""
    x = f"trim({source or column.name})"
    kind = column.kind
    if kind == "int":
        return f"CASE WHEN {d.matches(x, INT_PATTERN)} THEN TRY_CAST({x} AS {column.type}) END"
    if kind == "decimal" and column.type == SOURCE_DECIMAL:
        # Held as VALUE_DECIMAL: every value that can pass fits, and DuckDB parses text into 38-digit
        # decimals ~40x slower. A value that fits only the wide type is out of range (reason_expr).
        return f"CASE WHEN {d.matches(x, DECIMAL_PATTERN)} THEN TRY_CAST({x} AS {VALUE_DECIMAL}) END"
    if kind in ("decimal", "double"):
        pattern = DOUBLE_PATTERN if kind == "double" else DECIMAL_PATTERN
        return f"CASE WHEN {d.matches(x, pattern)} THEN TRY_CAST({x} AS {column.type}) END"
    if kind == "date":
        return f"CASE WHEN {d.matches(x, DATE_PATTERN)} THEN TRY_CAST({x} AS DATE) END"
    if kind == "bool":
        true_list = ", ".join(f"'{w}'" for w in TRUE_WORDS)
        false_list = ", ".join(f"'{w}'" for w in FALSE_WORDS)
        return f"CASE WHEN lower({x}) IN ({true_list}) THEN TRUE WHEN lower({x}) IN ({false_list}) THEN FALSE END"
    return source or column.name


# A text DuckDB's date cast reads as exactly what the pattern path reads (typed_fast).
PLAIN_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"


def typed_fast(column: Column, d: Dialect) -> str:
    """``typed`` at a fraction of the cost, for the fact tables on DuckDB.

    A value whose text is the canonical form of what DuckDB's cast makes of it ('95000010000011', '30.00',
    '-0.74': it casts back to the same text) matches the pattern as it is, so the trim, the pattern match
    and the second cast are skipped; so is a date of exactly the form YYYY-MM-DD and a flag written 'true'
    or 'false'. Any other text takes ``typed``: the fast path only ever skips work, it never decides.
    tests/transform/test_fast_parse.py checks the two agree on every string of a small alphabet (plain
    characters and those DuckDB's cast takes beyond the patterns) up to five characters, and at each
    type's edges."""
    x = column.name
    if column.kind == "int" or (column.kind == "decimal" and column.type == SOURCE_DECIMAL):
        cast = f"TRY_CAST({x} AS {typed_type(column)})"
        return f"CASE WHEN CAST({cast} AS VARCHAR) = {x} THEN {cast} ELSE {typed(column, d)} END"
    if column.kind == "date":
        return f"CASE WHEN {x} GLOB '{PLAIN_DATE_GLOB}' THEN TRY_CAST({x} AS DATE) ELSE {typed(column, d)} END"
    if column.kind == "bool":
        return f"CASE {x} WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE ELSE {typed(column, d)} END"
    return typed(column, d)


def typed_type(column: Column) -> str:
    """A fact column's type once typed (``typed``'s result)."""
    return VALUE_DECIMAL if column.type == SOURCE_DECIMAL else column.type


def parsed_columns(table: Table) -> list[Column]:
    """The columns of ``<table>_parsed`` (and of the typed zone's files, and of ``typed_<table>``)."""
    return [
        Column("partition_dt", "DATE"),
        *(Column(c.name, typed_type(c)) for c in table.columns),
        Column("reason", "VARCHAR"),
        Column("src", "VARCHAR"),  # the delivered texts, packed (Dialect.pack_texts), where a rule may fail
    ]


def no_typed_rows(table: Table, d: Dialect) -> str:
    """``typed_<table>`` when the engine read no day from the typed zone: no rows, the right columns."""
    return f"SELECT {', '.join(f'CAST(NULL AS {d.type(c.type)}) AS {c.name}' for c in parsed_columns(table))} FROM (SELECT 1 AS one) x WHERE 1 = 0"


def _text(expr: str, d: Dialect) -> str:
    return f"CAST({expr} AS {d.type('VARCHAR')})"


def typed_select(table: Table, d: Dialect, keep_source: bool) -> str:
    """Typed columns of ``raw_<table>``; with keep_source, the delivered text too (as src_<column>).
    Fact tables on DuckDB take the fast path (typed_fast)."""
    fast = table.is_fact and d.name == "duckdb"
    cols = [f"{typed_fast(c, d) if fast else typed(c, d)} AS {c.name}" for c in table.columns]
    if keep_source:
        cols += [f"{c.name} AS src_{c.name}" for c in table.columns]
    return f"SELECT partition_dt, {', '.join(cols)} FROM raw_{table.name}"


def reason_expr(table: Table, d: Dialect) -> str:
    """Why a typed row cannot be used by itself (NULL when it can). The first failing rule wins; the
    calendar rule comes last (calendar_reason)."""
    rules: list[tuple[str, str]] = []
    patterns = {"int": INT_PATTERN, "decimal": DECIMAL_PATTERN}
    for c in table.columns:
        failed = f"t.src_{c.name} IS NOT NULL AND t.{c.name} IS NULL"
        number = d.matches(f"trim(t.src_{c.name})", patterns[c.kind]) if c.kind in patterns else None
        # A number of the source's type held as VALUE_DECIMAL: one that fits only the source's type is
        # left to the range rule below, as it would be with the value held wide.
        wide = c.type == SOURCE_DECIMAL
        if number:  # a number that reads as one but does not fit its type
            beyond = f" AND TRY_CAST(trim(t.src_{c.name}) AS {SOURCE_DECIMAL}) IS NULL" if wide else ""
            rules.append((f"{failed} AND {number}{beyond}", f"concat('{c.name} is out of range: ', t.src_{c.name})"))
        if c.kind != "text":
            rules.append(
                (
                    f"{failed}{f' AND NOT {number}' if wide else ''}",
                    f"concat('{c.name} does not parse: ', t.src_{c.name})",
                )
            )
    for c in table.columns:
        if c.type == SOURCE_DECIMAL:
            rules.append(
                (
                    f"(t.src_{c.name} IS NOT NULL AND t.{c.name} IS NULL) OR abs(t.{c.name}) >= {MAX_ABS_VALUE}",
                    f"concat('{c.name} is out of range: ', t.src_{c.name})",
                )
            )
    for key in table.keys:
        rules.append((f"t.{key} IS NULL", f"'{key} is missing (a key)'"))
    for col in REQUIRED_MEASURES[table.name]:
        rules.append((f"t.{col} IS NULL", f"'{col} is missing'"))
    for col in NON_NEGATIVE[table.name]:
        rules.append((f"t.{col} < 0", f"concat('{col} is negative: ', {_text(f't.{col}', d)})"))
    for col in FLAGS[table.name]:
        rules.append((f"t.{col} NOT IN (0, 1)", f"concat('{col} is not 0 or 1: ', {_text(f't.{col}', d)})"))
    date = f"t.{table.date_column}"
    rules.append(
        (
            f"{date} <> t.partition_dt",
            f"concat('{table.date_column} ', {_text(date, d)}, ' is not the partition day ', {_text('t.partition_dt', d)})",
        )
    )
    whens = "\n        ".join(f"WHEN {cond} THEN {reason}" for cond, reason in rules)
    return f"CASE\n        {whens}\n    END"


def calendar_reason(table: Table, d: Dialect, row: str) -> str:
    """The last rule, the only one that needs more than the row: its date must be in the calendar. A row
    that passed the others has its partition's date, so a whole day passes or fails it."""
    date = f"{row}.{table.date_column}"
    return f"concat('{table.date_column} ', {_text(date, d)}, ' is not in the calendar')"


def in_calendar(day: str) -> str:
    """Is ``day`` in the calendar snapshot? A membership test, not a LEFT JOIN: DuckDB turned the join
    around and built its hash table from the millions of fact rows (sales_fresh took 20 s, not 12, at
    6.7M rows), where the test builds it from the calendar's. Spark runs it as a broadcast existence
    join. A NULL day is in neither engine's calendar (DuckDB says NULL, Spark false: use it as a CASE
    condition only)."""
    return f"{day} IN (SELECT cal_dt FROM dim_calendar)"


def fact_steps(table: Table, d: Dialect) -> list[Step]:
    name = table.name
    cols = table.column_names
    key = UNIQUE_KEYS[name]
    key_join = " AND ".join(f"c.{k} = v.{k}" for k in key)
    all_cols = ", ".join(cols)
    # Conflicting rows parsed fine: their typed values, as text, are what was delivered.
    conflict_cols = ", ".join(f"{_text(f'c.{c}', d)} AS {c}" for c in cols)
    conflict_reason = (
        f"concat('trans_id ', {_text('c.trans_id', d)}, ' appears with ', {_text('v.versions', d)}, ' different contents')"
        if name == "sales"
        else f"concat({_text('v.versions', d)}, ' different inventory rows for this cal_dt, store_key and prod_key')"
    )
    unpacked_src = ", ".join(f"{d.unpack_text('c.src', i)} AS {c}" for i, c in enumerate(cols))
    # One packed column, NULL on rows that pass: the materialized rows stay narrow.
    packed = d.pack_texts([f"x.src_{c}" for c in cols])
    keep_src = f"CASE WHEN x.reason IS NULL AND {in_calendar('x.partition_dt')} THEN NULL ELSE {packed} END AS src"
    no_source = ", ".join(f"CAST(NULL AS {d.type(c.type)}) AS {c.name}" for c in REJECT_COLUMNS)
    text_null = f"CAST(NULL AS {d.type('VARCHAR')})"
    reject_cols = ", ".join(c.name for c in REJECT_COLUMNS)
    return [
        Step(f"{name}_typed", typed_select(table, d, keep_source=True)),
        # Every rule but the calendar's: what a row says by itself, the same whatever the calendar. The
        # delivered text is kept only where a row fails (it is what quarantine shows), or may fail the
        # calendar rule. On a day in the calendar these rows are what the DuckDB engine keeps in the typed
        # zone, and what it reads back from there (typed_<table>).
        Step(
            f"{name}_parsed",
            f"SELECT x.partition_dt, {', '.join(f'x.{c}' for c in cols)}, x.reason, {keep_src}\n"
            f"FROM (SELECT t.*, {reason_expr(table, d)} AS reason FROM {name}_typed t) x",
        ),
        # The days parsed now, with the calendar rule applied.
        Step(
            f"{name}_fresh",
            f"SELECT p.partition_dt, {', '.join(f'p.{c}' for c in cols)},\n"
            f"       COALESCE(p.reason, CASE WHEN {in_calendar(f'p.{table.date_column}')} THEN NULL\n"
            f"                               ELSE {calendar_reason(table, d, 'p')} END) AS reason,\n"
            "       p.src\n"
            f"FROM {name}_parsed p",
            materialize=True,
        ),
        # With the days read from the typed zone: days of the calendar, so the calendar rule passes them.
        Step(f"{name}_checked", f"SELECT * FROM {name}_fresh UNION ALL SELECT * FROM typed_{name}"),
        # Duplicates and conflicts concern only keys that repeat: find those by grouping on the key (one
        # cheap pass), then compare whole rows of those keys alone. The keys are a step of their own, so an
        # engine can see how few they are.
        Step(
            f"{name}_repeats",
            f"SELECT {', '.join(key)} FROM {name}_checked WHERE reason IS NULL\n"
            f"GROUP BY {', '.join(key)} HAVING COUNT(*) > 1",
            materialize=True,
            few_rows=True,
        ),
        Step(
            f"{name}_versions",
            f"SELECT {', '.join(key)}, COUNT(*) AS versions\n"
            f"FROM (SELECT DISTINCT {', '.join(f'c.{c}' for c in cols)}\n"
            f"      FROM {name}_checked c JOIN {name}_repeats v ON {key_join}\n"
            "      WHERE c.reason IS NULL) u\n"
            f"GROUP BY {', '.join(key)}",
            materialize=True,
            few_rows=True,
        ),
        # versions is NULL for a key that appears once, 1 for a key whose rows are exact copies.
        Step(
            f"{name}_kept",
            f"SELECT c.partition_dt, {', '.join(f'c.{c}' for c in cols)}, v.versions\n"
            f"FROM {name}_checked c LEFT JOIN {name}_versions v ON {key_join}\n"
            "WHERE c.reason IS NULL AND (v.versions IS NULL OR v.versions = 1)",
        ),
        # Rows repeated exactly collapse to one.
        Step(
            f"{name}_clean",
            f"SELECT partition_dt, {all_cols} FROM {name}_kept WHERE versions IS NULL\n"
            "UNION ALL\n"
            f"SELECT DISTINCT partition_dt, {all_cols} FROM {name}_kept WHERE versions = 1",
        ),
        Step(
            f"quarantine_{name}",
            f"SELECT c.partition_dt, {unpacked_src}, c.reason, {no_source}\n"
            f"FROM {name}_checked c WHERE c.reason IS NOT NULL\n"
            "UNION ALL\n"
            f"SELECT c.partition_dt, {conflict_cols}, {conflict_reason} AS reason, {no_source}\n"
            f"FROM {name}_checked c JOIN {name}_versions v ON {key_join}\n"
            "WHERE c.reason IS NULL AND v.versions > 1\n"
            "UNION ALL\n"
            # Lines the reader could not split: kept whole, with their file and line number.
            f"SELECT r.partition_dt, {', '.join(f'{text_null} AS {c}' for c in cols)}, r.reason, {reject_cols}\n"
            f"FROM rejects_{name} r",
            materialize=True,
        ),
        # Each count computed from its own rows, so read = used + duplicates + quarantined is a real check.
        # Used rows whose store or product is not in the dimension snapshot are counted too (kept: the
        # facts are true, but the dashboard cannot name them).
        Step(
            f"counts_{name}",
            f"SELECT partition_dt, '{name}' AS table_name, SUM(r) AS rows_read, SUM(q) AS rows_quarantined,\n"
            "       SUM(k) AS rows_kept, SUM(u) AS rows_used,\n"
            "       SUM(us) AS rows_unknown_store, SUM(up) AS rows_unknown_product\n"
            "FROM (\n"
            f"    SELECT partition_dt, 1 AS r, 0 AS q, 0 AS k, 0 AS u, 0 AS us, 0 AS up FROM {name}_checked\n"
            f"    UNION ALL SELECT partition_dt, 1, 0, 0, 0, 0, 0 FROM rejects_{name}\n"
            f"    UNION ALL SELECT partition_dt, 0, 1, 0, 0, 0, 0 FROM quarantine_{name}\n"
            f"    UNION ALL SELECT partition_dt, 0, 0, 1, 0, 0, 0 FROM {name}_kept\n"
            "    UNION ALL SELECT c.partition_dt, 0, 0, 0, 1,\n"
            "           CASE WHEN s.store_key IS NULL THEN 1 ELSE 0 END, CASE WHEN p.prod_key IS NULL THEN 1 ELSE 0 END\n"
            f"    FROM {name}_clean c\n"
            "    LEFT JOIN dim_store s ON s.store_key = c.store_key\n"
            "    LEFT JOIN dim_product p ON p.prod_key = c.prod_key\n"
            ") x GROUP BY partition_dt",
        ),
    ]


def dimension_steps(d: Dialect) -> list[Step]:
    product_order = ", ".join(c for c in PRODUCT.column_names if c != "prod_key")
    return [
        Step(
            "dim_calendar",
            f"SELECT {', '.join(CALENDAR.column_names)} FROM ({typed_select(CALENDAR, d, False)}) c WHERE cal_dt IS NOT NULL",
            materialize=True,
        ),
        Step(
            "dim_store",
            f"SELECT {', '.join(STORE.column_names)} FROM ({typed_select(STORE, d, False)}) s WHERE store_key IS NOT NULL",
            materialize=True,
        ),
        # The product table repeats some keys with different attributes: keep one row per key, the first
        # by content, so every engine keeps the same one. Facts never join it before aggregating.
        Step("product_typed", f"SELECT * FROM ({typed_select(PRODUCT, d, False)}) p WHERE prod_key IS NOT NULL"),
        Step(
            "dim_product",
            f"SELECT {', '.join(PRODUCT.column_names)} FROM (\n"
            f"    SELECT *, ROW_NUMBER() OVER (PARTITION BY prod_key ORDER BY {product_order}) AS copy_no\n"
            "    FROM product_typed) p\n"
            "WHERE copy_no = 1",
            materialize=True,
        ),
        Step(
            "dim_counts",
            "SELECT 'product' AS table_name, COUNT(*) AS rows_read, COUNT(DISTINCT prod_key) AS distinct_keys\n"
            "FROM product_typed\n"
            "UNION ALL SELECT 'calendar', COUNT(*), COUNT(DISTINCT cal_dt) FROM dim_calendar\n"
            "UNION ALL SELECT 'store', COUNT(*), COUNT(DISTINCT store_key) FROM dim_store",
        ),
        Step(
            "weeks",
            "SELECT yr_wk_num, MIN(yr_num) AS yr_num, MIN(wk_num) AS wk_num,\n"
            "       MIN(cal_dt) AS week_start_dt, MAX(cal_dt) AS week_end_dt\n"
            "FROM dim_calendar GROUP BY yr_wk_num",
        ),
    ]


def metric_steps(d: Dialect) -> list[Step]:
    dbl = lambda expr: f"CAST({expr} AS DOUBLE)"  # noqa: E731
    zero = f"CAST(0 AS {SOURCE_DECIMAL})"
    # Sums are accumulated in DECIMAL(38,2); one too large for the output's type becomes NULL here rather
    # than an overflow error, and the reconciliation check then fails its week with the figures.
    select_cols = ",\n    ".join(
        f"{'TRY_CAST' if c.type == SUM_DECIMAL else 'CAST'}({c.expression} AS {d.type(c.type)}) AS {c.name}"
        for c in WEEKLY_COLUMNS
    )
    return [
        # 1. Daily sales: the day's transactions summed per store and product.
        Step(
            "sales_daily",
            "SELECT trans_dt AS dt, store_key, prod_key,\n"
            "       SUM(sales_qty) AS qty, SUM(sales_amt) AS amt, SUM(sales_cost) AS cost\n"
            "FROM sales_clean GROUP BY trans_dt, store_key, prod_key",
        ),
        # 2. Daily facts: full outer join with inventory on date, store and product.
        Step(
            "daily",
            "SELECT COALESCE(s.dt, i.cal_dt) AS dt,\n"
            "       COALESCE(s.store_key, i.store_key) AS store_key,\n"
            "       COALESCE(s.prod_key, i.prod_key) AS prod_key,\n"
            f"       COALESCE(s.qty, {zero}) AS qty, COALESCE(s.amt, {zero}) AS amt, COALESCE(s.cost, {zero}) AS cost,\n"
            "       CASE WHEN i.cal_dt IS NULL THEN 0 ELSE 1 END AS has_inv,\n"
            "       i.inventory_on_hand_qty AS on_hand, i.inventory_on_order_qty AS on_order,\n"
            "       CASE WHEN i.cal_dt IS NULL THEN 0 ELSE i.out_of_stock_flg END AS oos\n"
            "FROM sales_daily s FULL OUTER JOIN inventory_clean i\n"
            "  ON s.dt = i.cal_dt AND s.store_key = i.store_key AND s.prod_key = i.prod_key",
        ),
        # 3. Per day: low stock (on hand below the day's units sold), and the day as a candidate for the
        # week's end-of-week day (the last day with an inventory row).
        Step(
            "daily_flags",
            "SELECT d.*, cal.yr_wk_num,\n"
            "       CASE WHEN d.has_inv = 1 AND d.on_hand < d.qty THEN 1 ELSE 0 END AS low,\n"
            "       CASE WHEN d.has_inv = 1 THEN d.dt END AS stocked_dt\n"
            "FROM daily d JOIN dim_calendar cal ON cal.cal_dt = d.dt",
        ),
        # 4. Weekly sums; the low-stock impact is the day's sales beyond its stock's value at that day's price.
        Step(
            "weekly_sums",
            "SELECT yr_wk_num, store_key, prod_key,\n"
            "       SUM(qty) AS total_sales_qty, SUM(amt) AS total_sales_amt, SUM(cost) AS total_cost,\n"
            # The stock of the last stocked day: one row per day, so no ties; a day without inventory has
            # no stocked_dt and is passed over (max_by skips a NULL ordering on both engines). A window
            # for the last day cost DuckDB a sort of every daily row.
            "       MAX(stocked_dt) AS eow_dt,\n"
            "       max_by(on_hand, stocked_dt) AS eow_on_hand,\n"
            "       max_by(on_order, stocked_dt) AS eow_on_order,\n"
            "       SUM(oos) AS no_stock_instances, SUM(low) AS low_stock_instances,\n"
            # ELSE 0 rather than COALESCE(SUM(..), 0): 0 when no day qualifies (a group always has a row),
            # and a SUM stays nullable on every engine, so both write the column OPTIONAL.
            f"       SUM(CASE WHEN low = 1 THEN {dbl('amt')} - {dbl('on_hand')} * ({dbl('amt')} / {dbl('qty')})\n"
            f"                ELSE {dbl(0)} END) AS potential_low_stock_impact,\n"
            f"       SUM(CASE WHEN oos = 1 THEN amt ELSE {zero} END) AS no_stock_impact\n"
            "FROM daily_flags GROUP BY yr_wk_num, store_key, prod_key",
        ),
        Step(
            "weekly_metrics",
            f"SELECT CAST(w.yr_wk_num AS {PARTITION_COLUMN.type}) AS {PARTITION_COLUMN.name},\n    {select_cols}\n"
            "FROM weekly_sums w JOIN weeks k ON k.yr_wk_num = w.yr_wk_num",
            materialize=True,
        ),
        # Reconciliation: the used input's totals per week against the output's, exact decimals.
        Step(
            "reconciliation",
            "SELECT COALESCE(i.yr_wk_num, o.yr_wk_num) AS yr_wk_num,\n"
            "       i.qty AS input_qty, o.qty AS output_qty, i.amt AS input_amt, o.amt AS output_amt,\n"
            "       i.cost AS input_cost, o.cost AS output_cost, o.n_rows AS output_rows\n"
            "FROM (SELECT cal.yr_wk_num, SUM(s.sales_qty) AS qty, SUM(s.sales_amt) AS amt, SUM(s.sales_cost) AS cost\n"
            "      FROM sales_clean s JOIN dim_calendar cal ON cal.cal_dt = s.trans_dt GROUP BY cal.yr_wk_num) i\n"
            "FULL OUTER JOIN\n"
            "     (SELECT yr_wk_num, SUM(total_sales_qty) AS qty, SUM(total_sales_amt) AS amt, SUM(total_cost) AS cost,\n"
            "             COUNT(*) AS n_rows\n"
            "      FROM weekly_metrics GROUP BY yr_wk_num) o\n"
            "  ON i.yr_wk_num = o.yr_wk_num",
        ),
    ]


def build_plan(d: Dialect) -> list[Step]:
    """Every step, in execution order."""
    return [*dimension_steps(d), *fact_steps(SALES, d), *fact_steps(INVENTORY, d), *metric_steps(d)]
