"""What a code package holds: the flow's own code, never another team's DAGs, never a file
outside its root, within a size limit, less what .airstepignore leaves out."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from provider.datastore.code import code_digest, package_code, upload_code
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.storage import LocalStorage
from provider.exceptions import FlowDefinitionError

OUR_FLOW = """from provider import FlowSpec, step
import helper

class OurFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass

dag = OurFlow.to_dag()
"""
THEIR_FLOW = OUR_FLOW.replace("OurFlow", "TheirFlow")
PLAIN_DAG = """from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("reports", schedule=None):
    EmptyOperator(task_id="noop")
"""
DECORATED_DAG = """from airflow.sdk import dag

@dag(schedule=None)
def nightly():
    pass

nightly()
"""


def write(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def names(package: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as tar:
        return tar.getnames()


def contents(package: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


@pytest.fixture
def dags(tmp_path) -> Path:
    """A shared DAGs folder: our flow at its root, beside other teams' flows and folders."""
    root = tmp_path / "dags"
    write(root / "our_flow.py", OUR_FLOW)
    write(root / "helper.py", "def greet():\n    return 'hi'\n")
    write(root / "settings.json", '{"rate": 0.1}')
    write(root / "their_flow.py", THEIR_FLOW)  # another flow beside ours
    write(root / "lib" / "__init__.py", "")  # a helper package: ours to use
    write(root / "lib" / "text.py", "def shout(s):\n    return s.upper()\n")
    write(root / "sql" / "query.sql", "select 1")  # a data folder, no DAG in it
    write(root / "team_b" / "__init__.py", "")  # another team's package, with its DAG
    write(root / "team_b" / "flows" / "their_flow.py", THEIR_FLOW)
    write(root / "team_b" / "config.yaml", "password: hunter2\n")
    write(root / "team_b" / "utils.py")
    write(root / "team_c" / "reports.py", PLAIN_DAG)  # a plain Airflow DAG's folder
    write(root / "team_c" / "templates" / "report.html", "<p>")
    write(root / "team_d" / "nightly.py", DECORATED_DAG)
    return root


def test_a_flow_at_the_root_of_a_shared_dags_folder_ships_none_of_the_other_dags(dags):
    shipped = names(package_code(str(dags / "our_flow.py")))
    assert shipped == [
        "helper.py",
        "our_flow.py",
        "settings.json",
        "lib/__init__.py",
        "lib/text.py",
        "sql/query.sql",
    ]


def test_the_other_flow_ships_its_own_file_and_not_ours(dags):
    shipped = names(package_code(str(dags / "their_flow.py")))
    assert "their_flow.py" in shipped and "our_flow.py" not in shipped
    assert not [name for name in shipped if name.startswith("team_")]


def test_a_flow_in_its_own_team_folder_ships_that_folder(dags):
    write(dags / "team_b" / "flows" / "shared.py", "RATE = 0.1\n")
    shipped = names(package_code(str(dags / "team_b" / "flows" / "their_flow.py")))
    assert shipped == ["shared.py", "their_flow.py"]


def test_a_helper_that_only_names_dags_is_not_taken_for_one(dags):
    write(
        dags / "tools" / "naming.py",
        '"""Helpers for our DAGs: make_DAG(), @dag_factory."""\n'
        "def make_DAG(name):\n    return name.upper()\n",
    )
    assert "tools/naming.py" in names(package_code(str(dags / "our_flow.py")))


def test_a_link_to_a_credentials_file_outside_the_root_is_not_shipped(dags, tmp_path):
    secret = write(tmp_path / "home" / ".aws" / "credentials", "aws_secret_access_key = s3cr3t\n")
    (dags / "credentials").symlink_to(secret)
    (dags / "lib" / "keys.py").symlink_to(secret)
    (dags / "home").symlink_to(tmp_path / "home")  # a link to a folder outside
    package = package_code(str(dags / "our_flow.py"))
    assert b"s3cr3t" not in b"".join(contents(package).values())
    assert {"credentials", "lib/keys.py"}.isdisjoint(names(package))
    assert not [name for name in names(package) if name.startswith("home")]


def test_a_link_inside_the_root_ships_the_file_it_names_only_when_that_file_is_shipped(dags):
    write(dags / ".env", "TOKEN=abc\n")
    (dags / "alias.py").symlink_to(dags / "helper.py")  # names a shipped file
    (dags / "lib" / "env.py").symlink_to(dags / ".env")  # a dot file, never shipped
    (dags / "their_config.yaml").symlink_to(dags / "team_b" / "config.yaml")  # another team's
    (dags / "sql_link").symlink_to(dags / "sql")  # a folder
    (dags / "gone.py").symlink_to(dags / "nowhere.py")
    files = contents(package_code(str(dags / "our_flow.py")))
    assert files["alias.py"] == (dags / "helper.py").read_bytes()
    for left_out in ("lib/env.py", "their_config.yaml", "sql_link", "gone.py"):
        assert not [name for name in files if name.startswith(left_out)]


def test_a_flow_reached_through_a_linked_dags_folder_ships_the_same_package(dags, tmp_path):
    linked = tmp_path / "current"
    linked.symlink_to(dags)  # as git-sync publishes a checkout
    assert package_code(str(linked / "our_flow.py")) == package_code(str(dags / "our_flow.py"))


def test_only_regular_files_are_shipped(dags):
    os.mkfifo(dags / "events.pipe")  # reading it would block the build
    assert "events.pipe" not in names(package_code(str(dags / "our_flow.py")))


def test_the_ignore_file_leaves_out_names_paths_and_folders(dags):
    write(dags / "data" / "big.csv", "a,b\n")
    write(dags / "lib" / "sample.csv", "a,b\n")
    write(dags / "notes.md", "todo")
    write(dags / "lib" / "notes.md", "kept: the pattern is anchored")
    write(dags / "docs" / "build" / "index.html", "<p>")
    write(dags / "docs" / "guide.md", "kept")
    write(dags / "lib" / "cache" / "x.bin", "x")
    write(
        dags / ".airstepignore",
        "# data the steps read from S3\n\n*.csv\n/notes.md\ndocs/build/\n**/cache/\nsql\n",
    )
    shipped = names(package_code(str(dags / "our_flow.py")))
    assert shipped == [
        "helper.py",
        "our_flow.py",
        "settings.json",
        "docs/guide.md",
        "lib/__init__.py",
        "lib/notes.md",
        "lib/text.py",
    ]


def test_a_folder_with_a_dag_is_shipped_when_the_ignore_file_leaves_its_dag_out(dags):
    write(dags / "lib" / "example_flow.py", THEIR_FLOW)
    assert "lib/text.py" not in names(package_code(str(dags / "our_flow.py")))
    write(dags / ".airstepignore", "lib/example_flow.py\n")
    shipped = names(package_code(str(dags / "our_flow.py")))
    assert "lib/text.py" in shipped and "lib/example_flow.py" not in shipped


def test_a_negated_ignore_pattern_is_refused_with_its_line(dags):
    write(dags / ".airstepignore", "*.json\n!settings.json\n")
    with pytest.raises(FlowDefinitionError) as refused:
        package_code(str(dags / "our_flow.py"))
    assert f"line 2 of {dags / '.airstepignore'} is '!settings.json'" in str(refused.value)


def test_an_ignore_file_that_leaves_out_the_flow_itself_is_refused(dags, tmp_path):
    write(dags / ".airstepignore", "*.py\n")
    store = FlowDataStore("OurFlow", LocalStorage(str(tmp_path / "datastore")))
    with pytest.raises(FlowDefinitionError, match=r"^Flow OurFlow: .* would not hold the flow"):
        upload_code(store, str(dags / "our_flow.py"))


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setenv("AIRFLOW__AIRSTEP__CODE_PACKAGE_MAX_MB", "1")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__CODE_PACKAGE_MAX_FILES", "20")


def test_a_package_over_the_size_limit_is_refused_naming_its_largest_files(
    dags, small_limits, tmp_path
):
    (dags / "sql" / "dump.sql").write_bytes(b"x" * 1_500_000)
    (dags / "model.bin").write_bytes(b"x" * 300_000)
    store = FlowDataStore("OurFlow", LocalStorage(str(tmp_path / "datastore")))
    with pytest.raises(FlowDefinitionError) as refused:
        upload_code(store, str(dags / "our_flow.py"))
    message = str(refused.value)
    assert message.startswith(
        f"Flow OurFlow: its code package from {dags} would hold 8 files, 1.8 MB, more than "
        "[airstep] code_package_max_mb (1 MB) allows; the largest are sql/dump.sql (1.5 MB), "
        "model.bin (300.0 kB), "
    )
    assert message.endswith(
        f"Leave what the flow's steps do not need out with lines such as 'data/' or '*.csv' in "
        f"{dags / '.airstepignore'}, or raise [airstep] code_package_max_mb."
    )
    assert not (tmp_path / "datastore").exists()  # nothing was uploaded
    write(dags / ".airstepignore", "*.sql\n*.bin\n")
    assert upload_code(store, str(dags / "our_flow.py"))


def test_a_package_with_too_many_files_is_refused_on_the_fast_path_too(dags, small_limits):
    for i in range(20):
        write(dags / "fixtures" / f"case_{i:02}.json", "{}")
    with pytest.raises(FlowDefinitionError) as refused:
        code_digest(str(dags / "our_flow.py"))  # the fast path checks as well
    assert "would hold 26 files" in str(refused.value)
    assert "[airstep] code_package_max_files (20 files) allows" in str(refused.value)
    assert str(refused.value).endswith("or raise [airstep] code_package_max_files.")
