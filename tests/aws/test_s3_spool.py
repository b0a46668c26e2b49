"""Large artifacts bound for S3 are spooled in a private folder of this user, never in a
fixed, shared one: a folder another user made, or a symlink planted where it would be, is
not used."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from provider.datastore import load_object, save_object, storage_for
from provider.datastore import s3 as s3_module
from provider.datastore.blobs import SPOOL_LIMIT


@pytest.fixture
def shared_tmp(tmp_path, monkeypatch):
    """A temp folder of its own for the test, as the system's would be, and no spool yet."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.setattr(s3_module, "_spool", None)
    return shared


@pytest.fixture
def spooled(monkeypatch):
    """The path of every file S3Storage uploads, and its folder's state at that moment."""
    seen: list[tuple[str, os.stat_result, bool]] = []
    put_file = s3_module.S3Storage.put_file

    def recording(self, key, path):
        folder = os.path.dirname(path)
        seen.append((path, os.lstat(folder), os.path.realpath(folder) == folder))
        return put_file(self, key, path)

    monkeypatch.setattr(s3_module.S3Storage, "put_file", recording)
    return seen


def plant_symlink(shared, target):
    (shared / "airstep-spool").symlink_to(target, target_is_directory=True)


def plant_open_folder(shared, target):
    folder = shared / "airstep-spool"
    folder.mkdir()
    folder.chmod(0o777)  # as another user's folder would be to us: not ours alone
    return folder


@pytest.mark.parametrize("plant", [plant_symlink, plant_open_folder], ids=["symlink", "folder"])
def test_a_large_artifact_is_spooled_in_a_private_folder_not_a_planted_one(
    s3_bucket, shared_tmp, spooled, tmp_path, plant
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = plant(shared_tmp, elsewhere) or elsewhere
    storage = storage_for(s3_bucket)
    value = os.urandom(SPOOL_LIMIT + 1024)  # over the in-memory limit: spooled to a file

    ref = save_object(storage, "F", value)

    assert load_object(storage, "F", ref.sha) == value
    ((path, folder, direct),) = spooled
    assert direct, "the spool file was reached through a symlink"
    assert os.path.dirname(path) != str(shared_tmp / "airstep-spool")
    assert os.path.basename(os.path.dirname(path)).startswith("airstep-spool-")
    assert stat.S_ISDIR(folder.st_mode) and stat.S_IMODE(folder.st_mode) == 0o700
    assert folder.st_uid == os.getuid()
    assert list(planted.iterdir()) == [] and list(elsewhere.iterdir()) == []


def test_the_spool_folder_is_made_anew_when_a_symlink_replaced_it(
    s3_bucket, shared_tmp, spooled, tmp_path
):
    storage = storage_for(s3_bucket)
    first = storage.temp_dir()
    os.rmdir(first)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, first)

    save_object(storage, "F", os.urandom(SPOOL_LIMIT + 1024))

    ((path, folder, direct),) = spooled
    assert direct and os.path.dirname(path) != first
    assert stat.S_IMODE(folder.st_mode) == 0o700
    assert list(elsewhere.iterdir()) == []
