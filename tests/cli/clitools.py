"""Running the CLI in tests: click's runner in an empty working directory, and the one-line error check."""

from __future__ import annotations

from click.testing import CliRunner

from retailflow.cli import cli


def make_invoker(tmp_path, monkeypatch):
    """Run the CLI in an empty working directory (no retailflow.toml around); returns click's Result."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def assert_one_line_error(result, *fragments: str, code: int = 1) -> None:
    """Exit code ``code``, no traceback, exactly one 'Error:' line mentioning every fragment."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: "), result.stderr
    assert sum(line.startswith("Error:") for line in result.stderr.splitlines()) == 1
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
