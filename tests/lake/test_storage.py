from __future__ import annotations

import os
from pathlib import Path

import pytest

from retailflow.errors import LakeError
from retailflow.lake import Lake
from retailflow.lake.layout import TMP_PREFIX
from retailflow.lake.storage import normalize_url


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)] if root.exists() else []


# -- URLs and paths -----------------------------------------------------------------------------------


def test_relative_local_path_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_url("lake") == str(tmp_path.resolve() / "lake")


def test_file_url_becomes_a_path(tmp_path):
    assert normalize_url(f"file://{tmp_path}/lake") == str(tmp_path.resolve() / "lake")


def test_object_store_url_kept_without_trailing_slash():
    assert normalize_url("s3://bucket/prefix/") == "s3://bucket/prefix"


def test_local_lake_paths_and_uris(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    root = str(tmp_path.resolve() / "lake")
    assert lake.is_local
    assert lake.path() == root
    assert lake.path("raw/dt=2026-01-05") == f"{root}/raw/dt=2026-01-05"
    assert lake.uri("raw") == f"{root}/raw"


# -- atomic writes ------------------------------------------------------------------------------------


def test_atomic_writer_publishes_and_leaves_no_temporary(lake):
    with lake.atomic_writer("a/b/file.bin") as handle:
        handle.write(b"payload")
    assert Path(lake.path("a/b/file.bin")).read_bytes() == b"payload"
    assert temporaries(Path(lake.path())) == []


def test_atomic_writer_error_leaves_nothing(lake):
    with pytest.raises(RuntimeError, match="boom"):
        with lake.atomic_writer("a/file.bin") as handle:
            handle.write(b"half")
            raise RuntimeError("boom")
    assert not lake.exists("a/file.bin")
    assert temporaries(Path(lake.path())) == []


def test_atomic_writer_error_keeps_the_previous_version(lake):
    lake.write_bytes("a/file.bin", b"old")
    with pytest.raises(RuntimeError):
        with lake.atomic_writer("a/file.bin") as handle:
            handle.write(b"new")
            raise RuntimeError("boom")
    assert lake.read_bytes("a/file.bin") == b"old"
    assert temporaries(Path(lake.path())) == []


def test_write_bytes_replaces(lake):
    lake.write_bytes("f/x.bin", b"one")
    lake.write_bytes("f/x.bin", b"two")
    assert lake.read_bytes("f/x.bin") == b"two"


def test_write_json_read_json_round_trip(lake):
    value = {"b": [1, 2.5, None], "a": {"nested": "ü"}, "flag": True}
    lake.write_json("_state/x.json", value)
    assert lake.read_json("_state/x.json") == value


def test_temp_name_is_a_sibling(lake):
    name = lake.temp_name("raw/dt=2026-01-05/sales.csv.gz")
    folder, _, base = name.rpartition("/")
    assert folder == "raw/dt=2026-01-05"
    assert base.startswith(TMP_PREFIX) and base.endswith(".sales.csv.gz")
    assert lake.temp_name("top.json").startswith(TMP_PREFIX)


def test_sweep_temporaries_removes_only_temporaries(lake):
    lake.write_bytes("f/keep.csv", b"1")
    lake.write_bytes(f"f/{TMP_PREFIX}abc.sales.csv.gz", b"2")
    lake.sweep_temporaries("f")
    assert sorted(lake.listdir("f")) == ["keep.csv"]


def test_remove_of_a_missing_file_is_silent(lake):
    lake.remove("not/there.csv")


# -- listing ------------------------------------------------------------------------------------------


def test_listdir_and_subdirs_of_a_missing_folder(lake):
    assert lake.listdir("raw") == {}
    assert lake.subdirs("raw") == []
    assert not lake.exists("raw")


def test_listdir_gives_files_and_sizes_only(lake):
    lake.write_bytes("f/one.csv", b"12345")
    lake.write_bytes("f/empty.csv", b"")
    lake.write_bytes("f/sub/deeper.csv", b"x")
    assert lake.listdir("f") == {"one.csv": 5, "empty.csv": 0}


def test_subdirs_gives_folders_only_sorted(lake):
    for name in ("dt=2026-01-06", "dt=2026-01-05"):
        lake.makedirs(f"raw/{name}")
    lake.write_bytes("raw/notes.txt", b"x")
    assert lake.subdirs("raw") == ["dt=2026-01-05", "dt=2026-01-06"]


# -- writability --------------------------------------------------------------------------------------


def test_ensure_writable_on_a_new_lake_leaves_no_probe(lake):
    lake.ensure_writable()
    assert lake.exists("_state")
    assert temporaries(Path(lake.path())) == []


def test_ensure_writable_fails_when_the_parent_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    lake = Lake(str(tmp_path / "afile" / "lake"))
    with pytest.raises(LakeError) as info:
        lake.ensure_writable()
    assert "afile" in str(info.value)
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_write_under_a_file_is_a_lake_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    lake = Lake(str(tmp_path / "afile" / "lake"))
    with pytest.raises(LakeError):
        lake.write_bytes("raw/x.csv", b"x")


def test_ensure_writable_on_a_read_only_folder_says_permission_denied(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(LakeError, match="permission denied"):
            Lake(str(folder / "lake")).ensure_writable()
    finally:
        folder.chmod(0o755)
