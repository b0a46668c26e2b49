"""A code package is built once per version of the code, whichever process asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider.datastore import code
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.storage import LocalStorage


@pytest.fixture
def flow_file(tmp_path) -> str:
    base = tmp_path / "project"
    base.mkdir()
    (base / "flow.py").write_text("import util\n")
    (base / "util.py").write_text("def double(x):\n    return 2 * x\n")
    return str(base / "flow.py")


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """The packages built; every call starts as a new worker process would (nothing known)."""
    built: list[str] = []
    package_code = code.package_code

    def counting(flow_file: str) -> bytes:
        built.append(flow_file)
        return package_code(flow_file)

    monkeypatch.setattr(code, "package_code", counting)
    monkeypatch.setattr(code, "_KNOWN", {})
    return built


def test_another_process_finds_the_package_through_the_index_without_building_it(
    flow_file, builds, tmp_path, monkeypatch
):
    store = FlowDataStore("CodeFlow", LocalStorage(str(tmp_path / "datastore")))
    key = code.upload_code(store, flow_file)
    assert code.upload_code(store, flow_file) == key  # this process remembers it
    monkeypatch.setattr(code, "_KNOWN", {})  # a new process reads the index entry
    assert code.upload_code(store, flow_file) == key
    assert len(builds) == 1
    index = Path(store.root) / "CodeFlow" / "code-index" / code.code_digest(flow_file)
    assert index.read_text() == key

    Path(flow_file).with_name("util.py").write_text("def double(x):\n    return x + x\n")
    changed = code.upload_code(store, flow_file)  # same size, new bytes: a new package
    assert changed != key and len(builds) == 2
    assert code.unpack_code(store, changed, str(tmp_path / "unpacked"))
    assert (tmp_path / "unpacked" / "util.py").read_text().endswith("x + x\n")


def test_an_index_entry_that_names_no_package_of_the_flow_is_rebuilt(flow_file, builds, tmp_path):
    store = FlowDataStore("CodeFlow", LocalStorage(str(tmp_path / "datastore")))
    index_key = f"CodeFlow/code-index/{code.code_digest(flow_file)}"
    store.storage.put_bytes(index_key, b"OtherFlow/code/../../etc/passwd")
    key = code.upload_code(store, flow_file)
    assert key.startswith("CodeFlow/code/") and len(builds) == 1
    assert store.storage.get_bytes(index_key) == key.encode()
