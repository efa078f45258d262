"""Errors a user can act on, and the process exit codes the CLI maps them to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # a RetailflowError: bad input, bad configuration, a failed check
    USAGE = 2  # click's own code for wrong arguments
    NOT_READY = 3  # readiness scan: the day's partition is not complete yet
    DEADLINE_MISSED = 4  # readiness scan: still not complete after the deadline (an alert)
    UNEXPECTED = 70  # a bug: an exception we did not anticipate


class RetailflowError(Exception):
    """A problem the user can fix. ``str()`` says what is wrong, ``hint`` what to do about it."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class ConfigError(RetailflowError):
    """The configuration (file, environment or flags) is invalid."""


class SourceError(RetailflowError):
    """The source database is missing, or lacks a table or column of the contract."""


class LakeError(RetailflowError):
    """The lake cannot be read or written, or holds something that breaks the raw-zone contract."""


class DataQualityError(RetailflowError):
    """Computed weeks failed their checks (quarantine threshold, counts, reconciliation): not published."""


class NotReadyError(RetailflowError):
    """A raw partition is not complete (missing or corrupt files)."""

    exit_code = ExitCode.NOT_READY


class DeadlineMissedError(NotReadyError):
    """A raw partition is still not complete after the configured deadline."""

    exit_code = ExitCode.DEADLINE_MISSED
