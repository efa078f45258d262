"""What every command module shares: the root group's error handling (``Group``), ``settings_of`` and the
common click options. Imports no command module.

Errors are one plain line saying what is wrong and what to do (exit 1, or the error's own code, such as
the scan's); ``--debug`` (or RETAILFLOW_DEBUG=1) shows the traceback instead. Messages are printed as
they are: a value such as ``--date '[/x]'`` comes back verbatim (see retailflow.console), except that any
URL in them is redacted (retailflow.redact): a password never reaches the terminal or a log. An
operating-system error we did not wrap (a file that vanished, a permission, a full disk) is an
environment problem, not a bug: one line naming the file, exit 1.
"""

from __future__ import annotations

import os
import traceback

import click

from retailflow import console
from retailflow.config import FIELD_NAMES, Settings
from retailflow.errors import ExitCode, RetailflowError
from retailflow.redact import redact_text

# The root group keeps the settings resolved from the config file and the environment under this key.
SETTINGS = "settings"


class Group(click.Group):
    """Turns our errors into one-line messages and exit codes (the root group's class)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RetailflowError as exc:
            if debug_on(ctx):
                print_traceback()
            console.error(redact_text(exc.message), redact_text(exc.hint) if exc.hint else None)
            ctx.exit(int(exc.exit_code))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except OSError as exc:  # the environment: permissions, a vanished or misplaced file, a full disk
            if debug_on(ctx):
                print_traceback()
            where = f" {exc.filename}" if exc.filename else ""
            console.error(
                redact_text(f"Cannot use{where}: {exc.strerror or exc}."),
                "Check that path and its permissions, then run the command again (--debug shows the traceback).",
            )
            ctx.exit(int(ExitCode.ERROR))
        except KeyboardInterrupt:
            console.info("Interrupted. Nothing half-written was published; run the command again to finish.")
            ctx.exit(130)
        except Exception as exc:  # a bug, or an environment problem we did not foresee
            if debug_on(ctx):
                print_traceback()
            else:
                console.error(
                    redact_text(f"{type(exc).__name__}: {exc}"),
                    "Run again with --debug for the traceback, and report it if it looks like a bug.",
                    label="Unexpected error:",
                )
            ctx.exit(int(ExitCode.UNEXPECTED))


def print_traceback() -> None:
    """The current exception's traceback on stderr (for --debug), with every URL in it redacted."""
    click.echo(redact_text(traceback.format_exc()), err=True, nl=False)


def debug_on(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool((root.params or {}).get("debug")) or os.environ.get("RETAILFLOW_DEBUG", "") not in ("", "0")


def settings_of(ctx: click.Context, **flags) -> Settings:
    """The settings of this invocation: config file and environment from the root group, plus these flags
    (those left out, None, keep the settings' value)."""
    base: Settings = ctx.find_object(dict)[SETTINGS]
    return base.replace(**{k: v for k, v in flags.items() if k in FIELD_NAMES})


lake_option = click.option("--lake", help="Lake root: a folder or s3://bucket/prefix [env RETAILFLOW_LAKE].")
source_option = click.option(
    "--source",
    help="Source database URL, e.g. duckdb:///source.duckdb [env RETAILFLOW_SOURCE]. A URL holding a password "
    "belongs in RETAILFLOW_SOURCE or retailflow.toml: a command line is visible to every user (ps).",
)
date_option = click.option("--date", "date", help="One day, YYYY-MM-DD.")
from_option = click.option("--from", "date_from", help="First day of a range, YYYY-MM-DD.")
to_option = click.option("--to", "date_to", help="Last day of a range, YYYY-MM-DD.")
