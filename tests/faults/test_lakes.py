"""Odd lakes: every command (export, scan, run, status, query, catalog, dashboard) on a lake that is a
regular file, lies under one, is empty, blank or padded, cannot be read, is inconsistent (a file where the
layout keeps a folder, a damaged catalog) or holds a symbolic link answers with one line saying what is
wrong and what to do, exit 1: never 70, never a traceback.

The symbolic-link rule: the lake root may be reached through a link (it is resolved once), but a link
inside the lake is refused, with one line naming it, by every command that meets it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import fsspec.implementations.local
import pytest

from retailflow.source.duckdb_source import url_of
from tests.cli.clitools import assert_one_line_error
from tests.faults.test_query_readonly import invoke, publish

DAY = "2026-01-05"


def commands(lake: str, source: str) -> dict[str, list[str]]:
    return {
        "export": ["export", "--lake", lake, "--source", source, "--date", DAY],
        "scan": ["scan", "--lake", lake, "--date", DAY, "--trigger", "none"],
        "run": ["run", "--lake", lake, "--date", DAY],
        "status": ["status", "--lake", lake],
        "query --named": ["query", "--lake", lake, "--named", "top_products"],
        "query SQL": ["query", "--lake", lake, "SELECT 1"],
        "query --tables": ["query", "--lake", lake, "--tables"],
        "catalog": ["catalog", "--lake", lake],
        "dashboard": ["dashboard", "--lake", lake],
    }


COMMANDS = list(commands("x", "y"))


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "retailflow.toml"
    path.write_text("")
    return path


@pytest.fixture
def run_cli(config, source_db) -> Callable[[str, str], object]:
    def run(command: str, lake: str):
        return invoke(*commands(lake, url_of(source_db))[command], config=config)

    return run


# -- the lake setting itself ---------------------------------------------------------------------------


def a_regular_file(tmp: Path) -> str:
    (tmp / "afile").write_text("not a lake")
    return str(tmp / "afile")


def under_a_file(tmp: Path) -> str:
    (tmp / "afile").write_text("not a lake")
    return str(tmp / "afile" / "lake")


BAD_SETTINGS: dict[str, tuple[Callable[[Path], str], str]] = {
    "a regular file": (a_regular_file, "afile is a file, not a folder"),
    "under a regular file": (under_a_file, "afile is a file, not a folder"),
    "an empty string": (lambda _tmp: "", "The lake setting is empty"),
    "whitespace": (lambda _tmp: "   ", "The lake setting is blank"),
    "padded with spaces": (lambda _tmp: " lake ", "starts or ends with whitespace"),
    "a trailing newline": (lambda _tmp: "lake\n", "starts or ends with whitespace"),
    "a control character": (lambda _tmp: "la\x07ke", "control character"),
    "an unknown scheme": (lambda _tmp: "nosuchfs://bucket/lake", "Cannot open the lake nosuchfs://bucket/lake"),
    "a URL naming nothing": (lambda _tmp: "s3://", "names no folder or bucket"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_a_bad_lake_setting_is_one_line(tmp_path, run_cli, case, command):
    make, fragment = BAD_SETTINGS[case]
    lake = make(tmp_path)
    result = run_cli(command, lake)
    assert_one_line_error(result, fragment)
    if case == "a regular file":
        assert (tmp_path / "afile").read_text() == "not a lake"  # untouched
    assert not (tmp_path / "_state").exists() and not (tmp_path / "raw").exists()  # no cwd lake


# -- a lake that cannot be read ------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreadable_lake_is_one_line(tmp_path, run_cli, monkeypatch, command):
    """Tests run as root, where chmod 000 does not bite: the lake folder is made unreadable by answering
    os.access as the kernel would for another user."""
    lake = tmp_path / "lake"
    (lake / "raw").mkdir(parents=True)
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        return False if Path(path) == lake else real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    assert_one_line_error(run_cli(command, str(lake)), f"Cannot read the lake {lake}: permission denied")


@pytest.mark.parametrize("command", ["scan", "run", "status"])
def test_an_unreadable_folder_inside_the_lake_is_one_line(tmp_path, run_cli, monkeypatch, command):
    """A folder below the root that cannot be listed (simulated the same way: the listing is refused)."""
    lake = tmp_path / "lake"
    (lake / "raw" / f"dt={DAY}").mkdir(parents=True)
    real_ls = fsspec.implementations.local.LocalFileSystem.ls

    def ls(self, path, *args, **kwargs):
        if str(path).startswith(str(lake / "raw")):
            raise PermissionError(13, "Permission denied", str(path))
        return real_ls(self, path, *args, **kwargs)

    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "ls", ls)
    assert_one_line_error(run_cli(command, str(lake)), "/raw", "permission denied")


def test_a_really_unreadable_lake(tmp_path, run_cli):
    if os.geteuid() == 0:
        pytest.skip("root reads folders whatever their mode; see test_an_unreadable_lake_is_one_line")
    lake = tmp_path / "lake"
    (lake / "raw").mkdir(parents=True)
    lake.chmod(0)
    try:
        for command in COMMANDS:
            assert_one_line_error(run_cli(command, str(lake)), "permission denied")
    finally:
        lake.chmod(0o755)


# -- inconsistent lakes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published_lake(tmp_path_factory, source_db) -> Path:
    """A published lake, copied by each test that damages it."""
    lake, _ = publish(tmp_path_factory.mktemp("odd-lakes"), source_db)
    return Path(lake)


@pytest.fixture
def lake_copy(published_lake, tmp_path, config) -> Path:
    """A copy of the published lake, its catalog rebuilt for where the copy is."""
    copy = tmp_path / "lake"
    shutil.copytree(published_lake, copy, symlinks=True)
    assert invoke("catalog", "--lake", str(copy), config=config).exit_code == 0
    return copy


@pytest.mark.parametrize("command", ["query --named", "query --tables", "dashboard"])
def test_a_moved_lake_says_to_rebuild_its_catalog(published_lake, tmp_path, run_cli, config, command):
    """A copied (or moved) lake's catalog still points at the old place: its views would read another
    lake's files. The query connection refuses them, and says what to do."""
    copy = tmp_path / "copy"
    shutil.copytree(published_lake, copy)
    result = run_cli(command, str(copy))
    if command == "query --tables":  # lists the views without reading a file
        assert result.exit_code == 0, result.output
        return
    assert_one_line_error(result, "was built for another location", f"retailflow catalog --lake {copy}")
    assert invoke("catalog", "--lake", str(copy), config=config).exit_code == 0
    assert run_cli(command, str(copy)).exit_code == 0


def replace_with_file(path: Path) -> None:
    shutil.rmtree(path)
    path.write_text("in the way")


# case -> (damage, {command: fragment of its one-line error, or None for "works: exit 0"})
INCONSISTENT: dict[str, tuple[Callable[[Path], None], dict[str, str | None]]] = {
    "raw is a file": (
        lambda lake: replace_with_file(lake / "raw"),
        {
            "export": "raw",
            "scan": "raw is a file where retailflow keeps a folder",
            "run": "raw is a file where retailflow keeps a folder",
            "status": "raw is a file where retailflow keeps a folder",
            "query --named": None,
            "catalog": None,
            "dashboard": None,
        },
    ),
    "_state is a file": (
        lambda lake: replace_with_file(lake / "_state"),
        {
            "export": "_state is a file where retailflow keeps a folder",
            "scan": "_state",  # it writes first: "Cannot create <lake>/_state/scans: Not a directory."
            "run": "_state is a file where retailflow keeps a folder",
            "status": "_state is a file where retailflow keeps a folder",
            "query --named": None,
            "dashboard": "_state is a file where retailflow keeps a folder",
        },
    ),
    "a raw partition is a file": (
        lambda lake: replace_with_file(lake / "raw" / f"dt={DAY}"),
        {
            "export": f"dt={DAY}",
            "scan": f"raw/dt={DAY} is a file where retailflow keeps a folder",
            # A file is not a partition (raw_days' contract): run and status see no such day.
            "run": None,
            "status": None,
        },
    ),
    "the weekly table is a file": (
        lambda lake: replace_with_file(lake / "curated" / "weekly_sales_inventory"),
        {
            "catalog": "weekly_sales_inventory is a file where retailflow keeps a folder",
            "run": "weekly_sales_inventory",
            "query --named": "weekly_sales_inventory",
            "dashboard": "weekly_sales_inventory",
        },
    ),
    "the catalog is damaged": (
        lambda lake: (lake / "catalog" / "retailflow.duckdb").write_bytes(b"not a database" * 100),
        {
            "query --named": "Cannot open the catalog",
            "query --tables": "Cannot open the catalog",
            "dashboard": "Cannot open the catalog",
            "catalog": None,  # rebuilt
            "status": None,
        },
    ),
    "a published file is damaged": (
        lambda lake: next((lake / "curated" / "product").glob("*.parquet")).write_bytes(b"garbage" * 10),
        {"query --named": "product", "dashboard": "product", "status": None, "run": None},
    ),
}

INCONSISTENT_CASES = [(case, command) for case, (_, expected) in INCONSISTENT.items() for command in expected]


@pytest.mark.parametrize(("case", "command"), INCONSISTENT_CASES)
def test_an_inconsistent_lake_is_one_line(lake_copy, run_cli, case, command):
    damage, expected = INCONSISTENT[case]
    damage(lake_copy)
    result = run_cli(command, str(lake_copy))
    fragment = expected[command]
    if fragment is None:
        assert result.exit_code == 0, result.output
    else:
        assert_one_line_error(result, fragment)


# -- symbolic links ------------------------------------------------------------------------------------


def link_partition(lake: Path) -> Path:
    """raw/dt=DAY -> a folder outside the lake (the partition moved there)."""
    partition = lake / "raw" / f"dt={DAY}"
    elsewhere = lake.parent / "elsewhere" / f"dt={DAY}"
    elsewhere.parent.mkdir()
    partition.rename(elsewhere)
    partition.symlink_to(elsewhere, target_is_directory=True)
    return partition


def link_file(lake: Path) -> Path:
    """raw/dt=DAY/sales.csv.gz -> a file outside the lake."""
    path = lake / "raw" / f"dt={DAY}" / "sales.csv.gz"
    elsewhere = lake.parent / "sales.csv.gz"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    return path


def link_curated_table(lake: Path) -> Path:
    path = lake / "curated" / "store"
    elsewhere = lake.parent / "store"
    path.rename(elsewhere)
    path.symlink_to(elsewhere, target_is_directory=True)
    return path


LINKS: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "a raw partition": (link_partition, ["export", "scan", "run", "status"]),
    "a raw file": (link_file, ["export", "scan", "run"]),
    "a curated table": (link_curated_table, ["catalog", "query --named", "dashboard"]),
}
LINK_CASES = [(case, command) for case, (_, cmds) in LINKS.items() for command in cmds]


@pytest.mark.parametrize(("case", "command"), LINK_CASES)
def test_a_symbolic_link_inside_the_lake_is_refused_with_one_line(lake_copy, run_cli, case, command):
    link = LINKS[case][0](lake_copy)
    result = run_cli(command, str(lake_copy))
    relative = link.relative_to(lake_copy).as_posix()
    assert_one_line_error(result, f"{relative} is a symbolic link", "does not follow links")
    assert link.is_symlink()  # left as it was


def test_scan_and_run_agree_on_a_linked_partition(lake_copy, run_cli):
    """The reported bug: scan said 'complete' while run said 'no raw partition'. Both now refuse it."""
    link_partition(lake_copy)
    scan, run = run_cli("scan", str(lake_copy)), run_cli("run", str(lake_copy))
    assert scan.exit_code == run.exit_code == 1
    assert scan.stderr.splitlines()[0] == run.stderr.splitlines()[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_lake_reached_through_a_link_works(lake_copy, run_cli, command):
    """The root itself may be a link: it is resolved once, and everything below it is real."""
    link = lake_copy.parent / "lake-link"
    link.symlink_to(lake_copy, target_is_directory=True)
    result = run_cli(command, str(link))
    assert result.exit_code == 0, result.output
