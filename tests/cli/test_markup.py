"""Text from users and files is printed as it is, never read as rich markup (retailflow.console,
retailflow.output, the error handler in retailflow.cli.options): ``[/x]`` used to crash with a rich
MarkupError traceback, ``[bold]x`` to lose its brackets."""

from __future__ import annotations

import pytest
from rich.text import Text

from retailflow import console, output
from tests.cli.clitools import assert_one_line_error

TRICKY = ["[/x]", "[bold]2026-01-05", "[red]x[/red]", "a:smile:b", "[link=file:///etc]x"]


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("command", ["run", "export", "scan"])
def test_a_date_comes_back_verbatim(invoke, command, value):
    result = invoke(command, "--lake", "lake", "--date", value)
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    assert_one_line_error(result, repr(value), code=result.exit_code)


@pytest.mark.parametrize("value", ["[/x]", "[bold]x"])
@pytest.mark.parametrize("command", [("catalog",), ("query", "SELECT 1"), ("run", "--all")])
def test_a_lake_comes_back_verbatim(invoke, tmp_path, command, value):
    lake = str(tmp_path / value)
    result = invoke(*command, "--lake", lake)
    assert result.exit_code in (1, 2), result.output
    assert_one_line_error(result, lake, code=result.exit_code)


def test_a_hint_comes_back_verbatim(invoke):
    result = invoke("query", "--lake", "lake", "--named", "[/x]")
    assert_one_line_error(result, "No named query '[/x]'.")
    assert result.stderr.splitlines()[1].startswith("  Choose one of: ")


@pytest.mark.parametrize("value", ["[/x]", "[bold]x"])
def test_a_config_file_name_comes_back_verbatim(invoke, tmp_path, value):
    assert_one_line_error(invoke("--config", str(tmp_path / value / "c.toml"), "status"), value)


def test_the_helpers_print_text_as_it_is(capsys):
    for text in TRICKY:
        console.success(text)
        console.warn(text)
        console.info(text)
        console.error(text, hint=text)
    assert capsys.readouterr().err.splitlines() == [
        line for text in TRICKY for line in (f"✓ {text}", f"! {text}", text, f"Error: {text}", f"  {text}")
    ]


def test_styled_text_is_still_styled(capsys):
    console.info(Text("alert", style="red"))
    assert capsys.readouterr().err == "alert\n"


def test_table_cells_and_headers_as_they_are(capsys):
    output.print_rows(["[bold]c", "[/x]"], [("[/x]", "a:smile:b"), ("[red]r", None)])
    out = capsys.readouterr().out
    for text in ["[bold]c", "[/x]", "a:smile:b", "[red]r"]:
        assert text in out, (text, out)


def test_query_results_as_they_are(published, invoke):
    result = invoke("query", "--lake", published.url, """SELECT '[/x]' AS "[bold]h", '[red]v' AS w""")
    assert result.exit_code == 0, result.output
    for text in ["[bold]h", "[/x]", "[red]v"]:
        assert text in result.stdout
