from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from retailflow.cli import cli
from retailflow.demo import MARKER, DemoPlan, prepare_workdir
from retailflow.errors import RetailflowError


def test_default_last_day_is_the_latest_saturday_before_today():
    last = DemoPlan(workdir=None).last_day
    today = dt.date.today()
    assert last.weekday() == 5  # Saturday
    assert today - dt.timedelta(days=7) <= last < today


def test_plan_covers_whole_fiscal_weeks():
    plan = DemoPlan(workdir=None, weeks=3, end=dt.date(2026, 1, 17))
    assert plan.first_day == dt.date(2025, 12, 28)
    assert plan.first_day.weekday() == 6  # Sunday


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(RetailflowError, match="not made by"):
        prepare_workdir(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_demo_replaces_its_own_folder(tmp_path):
    workdir = tmp_path / "demo"
    prepare_workdir(workdir)
    (workdir / "old.txt").write_text("from the last demo")
    prepare_workdir(workdir)
    assert sorted(p.name for p in workdir.iterdir()) == [MARKER]


def test_demo_command_rejects_zero_weeks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "--weeks", "0", "--workdir", str(tmp_path / "demo")])
    assert result.exit_code == 1
    assert "--weeks" in result.stderr
    assert not (tmp_path / "demo").exists()
