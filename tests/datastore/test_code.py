"""Code packages: the flow's own code as deterministic, content-addressed bytes, checked
on unpack."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from provider.datastore import code
from provider.datastore.code import package_code, unpack_code, upload_code
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.storage import LocalStorage
from provider.exceptions import DataStoreError


@pytest.fixture
def project(tmp_path) -> Path:
    """A flow file with a helper module, a helper package and a data file beside it."""
    base = tmp_path / "project"
    (base / "helpers").mkdir(parents=True)
    (base / "flow.py").write_text("from helpers.text import shout\nimport util\n")
    (base / "util.py").write_text("def double(x):\n    return 2 * x\n")
    (base / "helpers" / "__init__.py").write_text("")
    (base / "helpers" / "text.py").write_text("def shout(s):\n    return s.upper()\n")
    (base / "config.json").write_text('{"rate": 0.1}')
    return base


@pytest.fixture
def store(tmp_path) -> FlowDataStore:
    return FlowDataStore("CodeFlow", LocalStorage(str(tmp_path / "datastore")))


def names(package: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as tar:
        return tar.getnames()


def tree(base: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
    }


def test_the_package_holds_the_flow_and_every_helper_beside_it(project):
    assert sorted(names(package_code(str(project / "flow.py")))) == [
        "config.json",
        "flow.py",
        "helpers/__init__.py",
        "helpers/text.py",
        "util.py",
    ]


def test_same_content_same_bytes_whatever_the_times_modes_and_place(project, tmp_path):
    first = package_code(str(project / "flow.py"))
    assert package_code(str(project / "flow.py")) == first
    os.utime(project / "util.py", (1_000_000_000, 1_000_000_000))
    (project / "flow.py").chmod(0o755)
    assert package_code(str(project / "flow.py")) == first
    moved = project.rename(tmp_path / "elsewhere")
    assert package_code(str(moved / "flow.py")) == first


def test_a_changed_file_changes_the_package(project):
    before = package_code(str(project / "flow.py"))
    (project / "helpers" / "text.py").write_text("def shout(s):\n    return s.upper() + '!'\n")
    assert package_code(str(project / "flow.py")) != before


@pytest.mark.parametrize(
    "skipped",
    [
        ".git/config",
        "__pycache__/util.cpython-311.pyc",
        "helpers/__pycache__/text.cpython-311.pyc",
        ".venv/lib/site.py",
        "venv/lib/site.py",
        "node_modules/x/index.js",
        ".mypy_cache/x.json",
        ".pytest_cache/v/cache",
        ".env",
        ".hidden/notes.txt",
        "helpers/.secret",
    ],
)
def test_caches_environments_and_dotfiles_are_left_out(project, skipped):
    before = package_code(str(project / "flow.py"))
    path = project / skipped
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not code")
    assert package_code(str(project / "flow.py")) == before


def test_upload_stores_the_package_under_its_hash(project, store):
    key = upload_code(store, str(project / "flow.py"))
    data = store.storage.get_bytes(key)
    assert key == f"CodeFlow/code/{hashlib.sha256(data).hexdigest()}.tar.gz"
    assert data == package_code(str(project / "flow.py"))


def test_unchanged_code_is_uploaded_once(project, store):
    key = upload_code(store, str(project / "flow.py"))
    stored = Path(store.root) / key
    os.utime(stored, ns=(1, 1))  # a put would give it a new modification time
    assert upload_code(store, str(project / "flow.py")) == key
    assert stored.stat().st_mtime_ns == 1
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]

    (project / "util.py").write_text("def double(x):\n    return x + x\n")
    changed = upload_code(store, str(project / "flow.py"))
    assert changed != key
    assert sorted(p.name for p in stored.parent.iterdir()) == sorted(
        [stored.name, Path(changed).name]
    )


def test_unpack_gives_back_the_packaged_files(project, store, tmp_path):
    (project / "__pycache__").mkdir()
    (project / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0")
    key = upload_code(store, str(project / "flow.py"))
    dest = tmp_path / "unpacked"
    assert unpack_code(store, key, str(dest)) == str(dest)
    expected = {k: v for k, v in tree(project).items() if "__pycache__" not in k}
    assert tree(dest) == expected


def put_package(store: FlowDataStore, data: bytes) -> str:
    """Store ``data`` under the key a package with these bytes has."""
    key = f"CodeFlow/code/{hashlib.sha256(data).hexdigest()}.tar.gz"
    store.storage.put_bytes(key, data)
    return key


def test_unpack_refuses_a_package_that_writes_outside_its_folder(store, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    key = put_package(store, buffer.getvalue())
    with pytest.raises(tarfile.FilterError):
        unpack_code(store, key, str(tmp_path / "dest"))
    assert not (tmp_path / "escaped.py").exists()


def test_a_damaged_package_is_refused_and_nothing_is_extracted(project, store, tmp_path):
    key = upload_code(store, str(project / "flow.py"))
    stored = Path(store.root) / key
    damaged = bytearray(stored.read_bytes())
    damaged[-12] ^= 0xFF  # one flipped byte in the compressed data
    stored.write_bytes(bytes(damaged))
    dest = tmp_path / "unpacked"
    with pytest.raises(DataStoreError) as refused:
        unpack_code(store, key, str(dest))
    message = str(refused.value)
    assert message.startswith(f"The code package {key} of flow CodeFlow in {store.root} is damaged")
    assert f"Delete {key} from the datastore" in message
    assert not dest.exists() or not any(dest.iterdir())


def test_a_damaged_package_deleted_as_the_error_says_is_uploaded_again(project, store, tmp_path):
    key = upload_code(store, str(project / "flow.py"))
    (Path(store.root) / key).unlink()  # the fix the error names
    code._KNOWN.clear()  # the next attempt is a new process
    assert upload_code(store, str(project / "flow.py")) == key
    assert unpack_code(store, key, str(tmp_path / "unpacked"))
    assert (tmp_path / "unpacked" / "flow.py").exists()


def test_a_key_that_names_no_package_of_the_flow_is_refused(project, store, tmp_path):
    key = upload_code(store, str(project / "flow.py"))
    other = FlowDataStore("OtherFlow", store.storage)
    with pytest.raises(DataStoreError, match=r"is not a code package of flow OtherFlow"):
        unpack_code(other, key, str(tmp_path / "unpacked"))


def test_a_link_that_leads_nowhere_is_left_out_and_a_link_to_a_file_is_packaged(project):
    (project / "gone.py").symlink_to(project / "nowhere.py")
    (project / "alias.py").symlink_to(project / "util.py")
    packaged = names(package_code(str(project / "flow.py")))
    assert "gone.py" not in packaged
    assert "alias.py" in packaged and "util.py" in packaged
