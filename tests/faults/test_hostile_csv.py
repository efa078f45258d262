"""Hostile CSV structure and values, on both engines: a line that cannot be split is quarantined whole
with its file, line number and reason (never a crash); values out of range are quarantined; nothing
overflows; a file unreadable as a whole fails with one line naming it. Counts always add up."""

from __future__ import annotations

import datetime as dt
import gzip
import re
import shutil
from pathlib import Path

import pytest

from retailflow.errors import LakeError
from retailflow.pipeline import RunFailed, stages
from retailflow.pipeline.records import Selection
from retailflow.tables import SALES
from retailflow.transform.spark_engine import SparkEngine
from tests.transform.lakebuilder import LakeBuilder, inv, quarantine_rows, run_lake, sale, settings, weekly_rows

DAY = "2026-01-05"
HEADER = ",".join(c.upper() for c in SALES.column_names)
GOOD = [f"{i},10,1,{DAY},1200,2.00,1.00,2.00,0.00,1.50,0.50,0.00" for i in range(1, 300)]


def _lake(tmp_path: Path, lines: list[str | bytes], name: str = "duckdb") -> LakeBuilder:
    lake = LakeBuilder(tmp_path / name)
    body = b"\n".join(x if isinstance(x, bytes) else x.encode() for x in [HEADER, *lines]) + b"\n"
    lake.day(DAY, raw_sales=body, inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    return lake


def _counts(report, table="sales"):
    return next(c for c in report.counts if c["table"] == table and c["day"] == DAY)


HOSTILE_LINES = {
    "one field too many": f"900,10,1,{DAY},1200,2.00,1.00,2.00,0.00,1.50,0.50,0.00,EXTRA",
    "one field too few": f"901,10,1,{DAY},1200,2.00,1.00,2.00,0.00,1.50,0.50",
    "bytes that are not UTF-8": f"902,10,1,{DAY},1200,2.00,1.00,2.00,0.00,1.50,0.50,0.\xff0".encode("latin-1"),
}


@pytest.mark.parametrize("case", HOSTILE_LINES)
def test_a_line_that_cannot_be_split_is_quarantined_whole(tmp_path, case):
    bad = HOSTILE_LINES[case]
    lake = _lake(tmp_path, [*GOOD[:100], bad, *GOOD[100:]])  # 1 of 300 lines: under the 1% threshold
    report = run_lake(lake.url, [DAY])
    c = _counts(report)
    assert (c["read"], c["used"], c["quarantined"]) == (300, 299, 1)
    [row] = quarantine_rows(lake, "sales")
    assert row["source_file"] == f"raw/dt={DAY}/sales.csv.gz"
    assert row["source_line"] == 102  # the header is line 1, then 100 good lines
    expected = "the line is not valid UTF-8" if "UTF-8" in case else "the line does not split into the header fields"
    assert row["reason"] == expected
    assert row["raw_line"].startswith(("900,", "901,", "902,"))
    assert sum(r["total_sales_qty"] for r in weekly_rows(lake)) == 2 * 299  # 2 units a line


def test_many_bad_lines_fail_the_week_by_the_threshold_not_a_crash(tmp_path):
    lake = _lake(tmp_path, [*GOOD[:10], *[HOSTILE_LINES["one field too many"]] * 5])
    with pytest.raises(RunFailed, match="5 of 15 sales rows of 2026-01-05"):
        run_lake(lake.url, [DAY])
    assert len(quarantine_rows(lake, "sales")) == 5
    assert not lake.week_file(202602).exists()


def test_a_line_of_several_megabytes_is_a_row_not_a_crash(tmp_path):
    huge = f"903,10,1,{DAY},1200,2.00,1.00,2.00,0.00,1.50,0.50," + "9" * (5 << 20)
    lake = _lake(tmp_path, [*GOOD, huge])
    report = run_lake(lake.url, [DAY])
    assert _counts(report)["quarantined"] == 1
    [row] = quarantine_rows(lake, "sales")
    assert row["reason"].startswith("ship_cost is out of range")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("sales_amt", "100000000000000000000"),
        ("sales_qty", "9" * 36),
        ("trans_id", "9" * 30),
        ("store_key", "99999999999"),
    ],
)
def test_out_of_range_values_are_quarantined(tmp_path, column, value):
    lake = LakeBuilder(tmp_path / "lake")
    rows = [sale(i, 1, 10, DAY, 1, "2.00", "1.00") for i in range(1, 200)]
    rows.append({**sale(999, 1, 10, DAY, 1, "2.00", "1.00"), column: value})
    lake.day(DAY, sales=rows, inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    report = run_lake(lake.url, [DAY])
    [row] = quarantine_rows(lake, "sales")
    assert row["reason"] == f"{column} is out of range: {value}"
    assert _counts(report)["used"] == 199


def test_sums_too_large_for_the_output_fail_the_week_with_figures(tmp_path):
    # Each value is in range, but 20,000 of them in one store x product week exceed DECIMAL(18,2).
    lake = LakeBuilder(tmp_path / "lake")
    rows = [sale(i, 1, 10, DAY, 1, "999999999999.00", "1.00") for i in range(1, 20001)]
    lake.day(DAY, sales=rows, inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    with pytest.raises(RunFailed, match="output does not reconcile: input amt 19999999999980000.00"):
        run_lake(lake.url, [DAY])
    assert not lake.week_file(202602).exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "lacks column(s)"),
        (HEADER.replace(",", ";").encode() + b"\n1;2;3\n", "lacks column(s)"),
        (HEADER.replace(",TRANS_TIME", "").encode() + b"\n", "lacks column(s) trans_time"),
    ],
    ids=["not CSV at all", "wrong delimiter", "header missing a column"],
)
def test_a_file_unreadable_as_a_whole_fails_its_week_with_one_line_naming_it(tmp_path, content, says):
    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, raw_sales=content, inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    lake.day("2026-01-12", sales=[sale(1, 1, 10, "2026-01-12", 1, "2.00", "1.00")])  # the next week: fine
    with pytest.raises(RunFailed, match=re.escape(says)) as info:
        run_lake(lake.url, [DAY, "2026-01-12"])
    assert f"raw/dt={DAY}/sales.csv.gz" in str(info.value) and "\n" not in str(info.value)
    assert not lake.week_file(202602).exists()
    assert lake.week_file(202603).exists()  # only the broken file's week failed


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_spark_quarantines_the_same_lines_with_the_same_reasons(tmp_path, spark):
    out_of_range = f"904,10,1,{DAY},1200,2.00,1.00,100000000000000000000,0.00,1.50,0.50,0.00"
    lines = [
        *GOOD[:50],
        *HOSTILE_LINES.values(),
        *GOOD[50:200],
        HOSTILE_LINES["one field too many"],
        out_of_range,
        *GOOD[200:],
    ]
    duck = _lake(tmp_path, lines, "duckdb")
    shutil.copytree(duck.root / "raw", tmp_path / "spark" / "raw")
    spk = LakeBuilder(tmp_path / "spark")
    a = run_lake(duck.url, [DAY], quarantine_threshold=0.05)
    b = run_lake(spk.url, [DAY], engine=SparkEngine(session=spark), quarantine_threshold=0.05)
    key = lambda r: (r["source_line"] or 0, r["reason"])  # noqa: E731
    assert sorted(quarantine_rows(duck, "sales"), key=key) == sorted(quarantine_rows(spk, "sales"), key=key)
    assert len(quarantine_rows(duck, "sales")) == 5
    assert "sales_amt is out of range: 100000000000000000000" in {r["reason"] for r in quarantine_rows(spk, "sales")}
    assert _counts(a) == _counts(b)
    assert weekly_rows(duck) == weekly_rows(spk)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_spark_fails_a_week_whose_sums_overflow_the_output_type(tmp_path, spark):
    lake = LakeBuilder(tmp_path / "lake")
    rows = [sale(i, 1, 10, DAY, 1, "999999999999.00", "1.00") for i in range(1, 20001)]
    lake.day(DAY, sales=rows, inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    with pytest.raises(RunFailed, match="output does not reconcile: input amt 19999999999980000.00"):
        run_lake(lake.url, [DAY], engine=SparkEngine(session=spark))
    assert not lake.week_file(202602).exists()


def test_gzip_compressed_lines_are_the_same_as_plain(tmp_path):
    # The rejected line's number counts physical lines of the decompressed text.
    lake = _lake(tmp_path, [*GOOD[:5], HOSTILE_LINES["one field too few"], *GOOD[5:]])
    raw = gzip.decompress((lake.root / "raw" / f"dt={DAY}" / "sales.csv.gz").read_bytes())
    assert raw.split(b"\n")[6].startswith(b"901,")
    run_lake(lake.url, [DAY])
    assert quarantine_rows(lake, "sales")[0]["source_line"] == 7


def test_facts_with_unknown_stores_or_products_are_kept_counted_and_warned_once(tmp_path):
    lake = LakeBuilder(tmp_path / "lake")
    rows = [sale(i, 248, 5889, DAY, 1, "2.00", "1.00") for i in range(1, 5)]  # a real store and product
    rows += [sale(10, 99999, 5889, DAY, 1, "2.00", "1.00"), sale(11, 248, 99999, DAY, 1, "2.00", "1.00")]
    lake.day(DAY, sales=rows, inventory=[inv(DAY, 99999, 5889, 5, 0, 0)])
    report = run_lake(lake.url, [DAY])
    assert (_counts(report)["unknown_store"], _counts(report)["unknown_product"]) == (1, 1)
    assert (_counts(report, "inventory")["unknown_store"], _counts(report, "inventory")["unknown_product"]) == (1, 0)
    assert _counts(report)["used"] == 6  # kept
    [warning] = [w for w in report.warnings if "store_key" in w and "lack" in w]
    assert warning.startswith("2 fact row(s) name a store_key and 1 a prod_key")  # sales 1 + 1, inventory 1 + 0


def test_status_shows_the_unknown_keys_of_a_run(tmp_path, capsys):
    from retailflow.lake import Lake
    from retailflow.status import show_status

    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, sales=[sale(1, 248, 5889, DAY, 1, "2.00", "1.00"), sale(2, 99999, 5889, DAY, 1, "2.00", "1.00")])
    run_lake(lake.url, [DAY])
    show_status(Lake(lake.url), allow_manifestless=True)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "unknown keys" in line)
    row = next(line for line in out.splitlines() if "success" in line)
    cells = lambda line: [c.strip() for c in re.split("[│┃]", line)]  # noqa: E731
    assert dict(zip(cells(header), cells(row), strict=True))["unknown keys"] == "1"


def test_a_failed_week_leaves_the_previous_version_unchanged(tmp_path):
    lake = _lake(tmp_path, GOOD)
    run_lake(lake.url, [DAY])
    before = lake.week_file(202602).read_bytes()
    bad = _lake(tmp_path, [*GOOD[:10], *[HOSTILE_LINES["one field too many"]] * 5])  # the same lake, re-delivered
    with pytest.raises(RunFailed):
        run_lake(bad.url, [DAY])
    assert lake.week_file(202602).read_bytes() == before
    assert len(quarantine_rows(lake, "sales")) == 5  # the reasons are published all the same


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        ("\n".join([HEADER, *GOOD, HOSTILE_LINES["one field too many"]]) + "\n", 0, None),
        ("\n".join([HEADER, *GOOD[:3], *[HOSTILE_LINES["one field too few"]] * 3]) + "\n", 1, "were quarantined"),
        (HEADER.replace(",", ";") + "\n1;2\n", 1, "lacks column(s)"),
    ],
    ids=["a bad line: quarantined, exit 0", "too many bad lines: exit 1", "unreadable file: exit 1"],
)
def test_the_run_command_never_exits_70_on_hostile_csv(tmp_path, monkeypatch, content, code, says):
    from tests.cli.clitools import assert_one_line_error, make_invoker

    lake = LakeBuilder(tmp_path / "lake")
    lake.day(DAY, raw_sales=content.encode(), inventory=[inv(DAY, 1, 10, 5, 0, 0)])
    lake.day("2026-01-06")
    invoke = make_invoker(tmp_path, monkeypatch)
    result = invoke("run", "--lake", lake.url, "--date", DAY, env={"RETAILFLOW_ALLOW_MANIFESTLESS": "true"})
    if says is None:
        assert result.exit_code == 0, result.output
    else:
        assert_one_line_error(result, says, f"raw/dt={DAY}/sales.csv.gz" if "lacks" in says else "sales", code=code)


def test_a_damaged_run_report_does_not_break_status(tmp_path, capsys):
    from retailflow.lake import Lake
    from retailflow.status import show_status

    lake = _lake(tmp_path, GOOD)
    run_lake(lake.url, [DAY])
    (lake.root / "_state" / "runs" / "20990101T000000000000Z-abcdef.json").write_text('{"run_id": "cut sh')
    show_status(Lake(lake.url), allow_manifestless=True)
    out = capsys.readouterr().out
    assert "unreadable report" in out and "success" in out


@pytest.mark.parametrize("days", [1, 2], ids=["read alone, up front", "read with another day"])
def test_a_file_gone_after_planning_fails_compute_with_one_line_naming_it(tmp_path, days):
    """Planning checks every file; one removed before compute reads it (a re-export swapping files in, a
    hand) is met only by the reader: one line naming the file, never a traceback, also when it is the only
    file to read (a nightly run reads its one new file up front)."""
    lake = LakeBuilder(tmp_path / "lake")
    names = [DAY, "2026-01-06"][:days]
    for day in names:
        lake.day(
            day,
            sales=[sale(i, 1, 10, day, 1, "2.00", "1.00") for i in range(100)],
            inventory=[inv(day, 1, 10, 5, 0, 0)],
        )
    config = settings(lake.url)
    planned = stages.plan_weeks(config, Selection.of([dt.date.fromisoformat(DAY)]))
    (lake.root / "raw" / f"dt={DAY}" / "sales.csv.gz").unlink()
    with pytest.raises(LakeError) as info:
        stages.compute(config, planned)
    assert f"raw/dt={DAY}/sales.csv.gz" in str(info.value) and "Re-export" in str(info.value)
    assert "\n" not in str(info.value)
