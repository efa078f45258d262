"""The root group's error lines (cli/options.py): an operating-system error is the environment's, one line
naming the file, exit 1; every URL in any error line or --debug traceback is redacted."""

from __future__ import annotations

import pytest

from retailflow.errors import LakeError
from tests.cli.clitools import assert_one_line_error


@pytest.fixture
def status_raising(monkeypatch):
    import retailflow.status

    def make(exc: BaseException):
        def broken(*_args, **_kwargs):
            raise exc

        monkeypatch.setattr(retailflow.status, "show_status", broken)

    return make


def test_an_os_error_is_one_line_exit_1(invoke, status_raising):
    status_raising(IsADirectoryError(21, "Is a directory", "/lake/_state/runs/x.json"))
    result = invoke("status", "--lake", "lake")
    assert_one_line_error(result, "Cannot use /lake/_state/runs/x.json: Is a directory.")
    assert "--debug" in result.stderr


def test_a_permission_error_is_one_line_exit_1(invoke, status_raising):
    status_raising(PermissionError(13, "Permission denied", "/lake/raw"))
    assert_one_line_error(invoke("status", "--lake", "lake"), "/lake/raw: Permission denied")


def test_an_error_message_holding_a_url_is_redacted(invoke, status_raising):
    status_raising(LakeError("Cannot reach s3://key:hunter2@bucket/lake?token=t0k3n.", "Check ftp://u:pw@h."))
    result = invoke("status", "--lake", "lake")
    assert_one_line_error(result, "s3://key:***@bucket/lake?token=***", "ftp://u:***@h")
    assert "hunter2" not in result.output and "t0k3n" not in result.output and ":pw@" not in result.output


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_holding_a_url_is_redacted(invoke, status_raising, debug):
    status_raising(RuntimeError("driver said: snowflake://admin:hunter2@acct/db refused"))
    result = invoke(*(["--debug"] if debug else []), "status", "--lake", "lake")
    assert result.exit_code == 70
    assert "hunter2" not in result.output and "snowflake://admin:***@acct/db" in result.stderr
    assert ("Traceback" in result.stderr) == debug
