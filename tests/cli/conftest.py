"""Fixtures of the CLI tests: ``invoke`` runs the command in an empty working directory; ``raw_lake`` is
a tiny hand-written raw zone (week 202602; no manifests, so ``RETAILFLOW_ALLOW_MANIFESTLESS=true`` is set),
``published`` the same after ``retailflow run``."""

from __future__ import annotations

import pytest

from tests.cli.clitools import make_invoker
from tests.cli.tinylake import fill
from tests.transform.lakebuilder import LakeBuilder


@pytest.fixture
def invoke(tmp_path, monkeypatch):
    return make_invoker(tmp_path, monkeypatch)


@pytest.fixture
def outside_producer(monkeypatch) -> None:
    """Built lakes have no manifests, like an outside producer's: the commands must accept that."""
    monkeypatch.setenv("RETAILFLOW_ALLOW_MANIFESTLESS", "true")


@pytest.fixture
def raw_lake(tmp_path, outside_producer) -> LakeBuilder:
    return fill(LakeBuilder(tmp_path / "lake"))


@pytest.fixture
def published(raw_lake, invoke) -> LakeBuilder:
    result = invoke("run", "--lake", raw_lake.url, "--date", "2026-01-05")
    assert result.exit_code == 0, result.output
    return raw_lake
