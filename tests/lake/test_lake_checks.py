"""Lake validation (lake/storage.py): the lake setting, the root, files where folders belong, symbolic
links inside the lake, unreadable folders; each a LakeError of one line naming the place."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec.implementations.local
import pytest

from retailflow.errors import LakeError
from retailflow.lake import Lake
from retailflow.lake.storage import check_lake_url, normalize_url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "The lake setting is empty"),
        ("  ", "The lake setting is blank"),
        ("\t", "The lake setting is blank"),
        (" lake", "starts or ends with whitespace"),
        ("lake\n", "starts or ends with whitespace"),
        ("la\x00ke", "control character"),
        ("s3://", "names no folder or bucket"),
        ("file://", "names no folder or bucket"),
    ],
)
def test_a_lake_setting_that_names_no_lake_is_refused(url, fragment):
    with pytest.raises(LakeError, match=fragment):
        check_lake_url(url)
    with pytest.raises(LakeError, match=fragment):
        normalize_url(url)
    with pytest.raises(LakeError, match=fragment):
        Lake(url)


def test_an_unknown_scheme_is_a_lake_error():
    with pytest.raises(LakeError, match="Cannot open the lake nosuchfs://b/lake"):
        Lake("nosuchfs://b/lake")


def test_a_password_in_the_lake_url_is_not_in_the_error():
    with pytest.raises(LakeError) as failed:
        Lake("ftp://admin:hunter2@127.0.0.1:1/lake")
    assert "hunter2" not in str(failed.value) and "ftp://admin:***@127.0.0.1:1/lake" in str(failed.value)


# -- the root ------------------------------------------------------------------------------------------


def test_a_root_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    lake = Lake(str(tmp_path / "afile"))
    for call in (lake.check_root, lambda: lake.listdir("raw"), lambda: lake.subdirs("raw"), lambda: lake.exists("x")):
        with pytest.raises(LakeError, match="afile is a file, not a folder"):
            call()


def test_a_root_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    lake = Lake(str(tmp_path / "afile" / "lake"))
    with pytest.raises(LakeError, match=r"lake cannot exist: .*afile is a file"):
        lake.subdirs("raw")


def test_a_root_that_does_not_exist_yet_is_fine(tmp_path):
    lake = Lake(str(tmp_path / "new"))
    assert lake.listdir("raw") == {} and lake.subdirs("raw") == [] and not lake.exists("raw")
    lake.ensure_writable()
    assert lake.exists("_state")


def test_an_unreadable_root(tmp_path, monkeypatch):
    """As root chmod does not bite; os.access answers as it would for another user."""
    root = tmp_path / "lake"
    root.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if Path(p) == root else real(p, m, *a, **k))
    with pytest.raises(LakeError, match=f"Cannot read the lake {root}: permission denied"):
        Lake(str(root)).subdirs("raw")


def test_an_unreadable_folder_inside(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path / "lake"))
    lake.makedirs("raw")
    real = fsspec.implementations.local.LocalFileSystem.ls

    def ls(self, path, *args, **kwargs):
        if str(path).endswith("/raw"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "ls", ls)
    with pytest.raises(LakeError, match=r"Cannot read the lake folder .*/raw: permission denied"):
        lake.subdirs("raw")


# -- inside the lake -----------------------------------------------------------------------------------


def test_a_file_where_a_folder_belongs(lake):
    lake.write_bytes("raw", b"x")
    for call in (lambda: lake.subdirs("raw"), lambda: lake.listdir("raw"), lambda: lake.listdir("raw/dt=2026-01-05")):
        with pytest.raises(LakeError, match=r"inconsistent: .*/raw is a file where retailflow keeps a folder"):
            call()
    with pytest.raises(LakeError, match="raw is a file"):
        lake.exists("raw/dt=2026-01-05/_manifest.json")
    assert lake.exists("raw")  # the file itself is there


def test_state_as_a_file_fails_ensure_writable(lake):
    lake.makedirs("")
    Path(lake.path("_state")).write_text("x")
    with pytest.raises(LakeError, match="_state is a file where retailflow keeps a folder"):
        lake.ensure_writable()


@pytest.mark.parametrize("target_is_folder", [True, False])
def test_a_symbolic_link_inside_the_lake_is_refused(lake, tmp_path, target_is_folder):
    lake.makedirs("raw")
    outside = tmp_path / "outside"
    if target_is_folder:
        (outside / "sub").mkdir(parents=True)
    else:
        outside.write_text("x")
    Path(lake.path("raw/dt=2026-01-05")).symlink_to(outside)
    message = r"raw/dt=2026-01-05 is a symbolic link \(to .*outside\); retailflow does not follow links"
    for call in (
        lambda: lake.subdirs("raw"),
        lambda: lake.listdir("raw"),
        lambda: lake.listdir("raw/dt=2026-01-05"),
        lambda: lake.exists("raw/dt=2026-01-05"),
        lambda: lake.exists("raw/dt=2026-01-05/sales.csv.gz"),
    ):
        with pytest.raises(LakeError, match=message):
            call()


def test_a_broken_link_is_refused_too(lake):
    lake.makedirs("raw")
    Path(lake.path("raw/dt=2026-01-05")).symlink_to("/nonexistent/elsewhere")
    with pytest.raises(LakeError, match="is a symbolic link"):
        lake.subdirs("raw")


def test_a_root_reached_through_a_link_is_resolved(tmp_path):
    (tmp_path / "real" / "raw" / "dt=2026-01-05").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    lake = Lake(str(tmp_path / "link"))
    assert lake.root == str((tmp_path / "real").resolve())
    assert lake.subdirs("raw") == ["dt=2026-01-05"]
