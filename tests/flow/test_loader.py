"""Loading a flow file by path: the ``airstep`` command, the runtime entrypoint and the
benchmark all find a file's flow this way."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import FLOWS

from provider import AirstepError, FlowSpec
from provider.flow.loader import load_flow_class

FLOW = """
from provider import FlowSpec, step


class {name}(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch, tmp_path) -> Iterator[None]:
    """The loader sets AIRSTEP_IN_TASK, puts the file's folder on sys.path and imports the
    file (and its helpers); the test starts without the variable, and all is undone after."""
    monkeypatch.setenv("AIRSTEP_IN_TASK", "")  # remembered, so that it is restored...
    monkeypatch.delenv("AIRSTEP_IN_TASK")  # ...after the test, which starts without it
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def test_loads_the_one_flow_of_a_file_never_as_main():
    flow = load_flow_class(str(FLOWS / "params_flow.py"))
    assert issubclass(flow, FlowSpec) and flow.__name__ == "ParamsFlow"
    assert flow.__module__ != "__main__"  # so `ParamsFlow()` at the bottom did not run
    assert "count" in flow.parameters()
    assert flow.graph().sorted_steps == ["start", "middle", "end"]


def test_to_dag_in_the_file_does_nothing_while_loading(tmp_path):
    path = write(
        tmp_path / "dag_flow.py",
        FLOW.format(name="DagFlow") + "\ndag = DagFlow.to_dag()\n",
    )
    flow = load_flow_class(str(path))
    assert sys.modules[flow.__module__].dag is None


def test_a_relative_path_works(tmp_path, monkeypatch):
    write(tmp_path / "rel_flow.py", FLOW.format(name="RelFlow"))
    monkeypatch.chdir(tmp_path)
    assert load_flow_class("rel_flow.py").__name__ == "RelFlow"


def test_two_flows_and_no_name_is_an_error_that_names_both_and_the_fix(tmp_path):
    path = write(tmp_path / "two_flows.py", FLOW.format(name="AFlow") + FLOW.format(name="BFlow"))
    with pytest.raises(AirstepError) as error:
        load_flow_class(str(path))
    message = str(error.value)
    assert str(path) in message
    assert "must define exactly one flow (found AFlow, BFlow); name it with --flow" in message
    assert load_flow_class(str(path), "BFlow").__name__ == "BFlow"


def test_a_name_the_file_does_not_define_is_an_error(tmp_path):
    path = write(tmp_path / "one_flow.py", FLOW.format(name="OneFlow"))
    with pytest.raises(AirstepError, match="exactly one flow named Other \\(found none\\)"):
        load_flow_class(str(path), "Other")


def test_a_file_without_a_flow_is_an_error(tmp_path):
    path = write(tmp_path / "no_flow.py", "X = 1\n")
    with pytest.raises(AirstepError, match="must define exactly one flow \\(found none\\)"):
        load_flow_class(str(path))


def test_flows_imported_from_elsewhere_are_not_the_files_own(tmp_path):
    write(tmp_path / "base_flows.py", FLOW.format(name="BaseFlow"))
    path = write(
        tmp_path / "derived_flow.py",
        """
        from base_flows import BaseFlow


        class DerivedFlow(BaseFlow):
            pass
        """,
    )
    assert load_flow_class(str(path)).__name__ == "DerivedFlow"


def test_a_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(AirstepError) as error:
        load_flow_class(str(missing))
    assert str(error.value) == f"There is no flow file at {str(missing)!r}."
    with pytest.raises(AirstepError, match="There is no flow file"):
        load_flow_class(str(tmp_path))  # a folder is not a flow file


def test_a_syntax_error_points_at_the_file_and_line(tmp_path):
    path = write(tmp_path / "broken_flow.py", FLOW.format(name="BrokenFlow") + "\ndef oops(:\n")
    with pytest.raises(SyntaxError) as error:
        load_flow_class(str(path))
    assert error.value.filename == str(path)
    assert error.value.lineno == len(path.read_text().splitlines())


def test_an_error_while_importing_the_file_is_raised_as_is(tmp_path):
    path = write(tmp_path / "raising_flow.py", "raise RuntimeError('no config here')\n")
    with pytest.raises(RuntimeError, match="no config here"):
        load_flow_class(str(path))


def test_helper_modules_beside_the_flow_file_import(tmp_path):
    write(tmp_path / "shapes_helper_lib.py", "def label(i):\n    return f'item-{i}'\n")
    write(tmp_path / "helper_pkg" / "__init__.py", "SCALE = 10\n")
    path = write(
        tmp_path / "helped_flow.py",
        """
        from helper_pkg import SCALE
        from shapes_helper_lib import label

        from provider import FlowSpec, step


        class HelpedFlow(FlowSpec):
            LABEL = label(SCALE)

            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """,
    )
    flow = load_flow_class(str(path))
    assert flow.LABEL == "item-10"
