"""The same flows on Metaflow itself and on airstep, and what each one's client reads back.

Each flow in ``tests/flows/compat/`` is written once, with airstep's import line; for
Metaflow the line becomes ``from metaflow import``. Both copies run with the same
command line (Metaflow's), locally, and ``tests/flows/compat/read_runs.py`` reads the
runs back through each library's own client, so every expected value here is what
Metaflow did, not what it is remembered to do. What differs on purpose (README:
task ids are index paths rather than counters, the input order of a branch join,
``self.input`` in a join) is neither recorded by the flows nor compared by the reader.

Metaflow lives in a venv of its own (``make metaflow-venv`` makes ``.venv-metaflow/``;
``$AIRSTEP_METAFLOW_PYTHON`` names another python); without it these tests are
skipped, except in CI, where that is a failure.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from provider import exceptions as airstep_exceptions

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "tests" / "flows" / "compat"
READER = TEMPLATES / "read_runs.py"
METAFLOW_PYTHON = Path(
    os.environ.get("AIRSTEP_METAFLOW_PYTHON") or REPO / ".venv-metaflow" / "bin" / "python"
)
AIRSTEP_IMPORT = "from provider import"


@dataclass(frozen=True)
class Scenario:
    flow_name: str
    file: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: options before ``run`` (Metaflow's top-level ones: --branch, --config, ...)
    top: tuple[str, ...] = ()
    #: ``resume`` the run of this (earlier) scenario instead of starting a new run
    resume_of: str | None = None


PARAMS = (
    *("--greeting", "hi", "--count", "4", "--ratio", "0.25", "--untyped", "7"),
    *("--b1", "T", "--b2", "yes", "--b3", "1", "--b4", "f", "--b5", "NO", "--b6", "n"),
    *("--letters", "a;b;c", "--config", '{"b": [1, 2]}', "--token", "t0k"),
    *("--notes", "notes.txt"),
)

FEATURES_ENV = {
    "USER": "ada",
    "USERNAME": "ada",
    "METAFLOW_RUN_COUNT": "3",
    "METAFLOW_RUN_MY_WORDS": "a,b",
    "METAFLOW_RUN_FLAG": "true",
    "METAFLOW_RUN_GIVEN": "env",
}

#: run once on each side with ``run ... --run-id-file``; the runs of one flow in this order
SCENARIOS = {
    "compat": Scenario("CompatFlow", "compat_flow.py", ("--flag", "t", "--tag", "one")),
    "nested": Scenario("NestedFlow", "nested_flow.py"),
    "params": Scenario("ParamsFlow", "params_flow.py", PARAMS),
    "bad_value": Scenario("ParamsFlow", "params_flow.py", ("--count", "many", "--token", "x")),
    "missing_required": Scenario("ParamsFlow", "params_flow.py", ("--count", "3")),
    # every kind of parameter from the environment; the command line still wins
    "params_from_env": Scenario(
        "ParamsFlow",
        "params_flow.py",
        ("--count", "4"),
        {
            "METAFLOW_RUN_COUNT": "9",
            "METAFLOW_RUN_TOKEN": "from-env",
            "METAFLOW_RUN_NOTES": "notes.txt",
            "METAFLOW_RUN_LETTERS": "p;q",
            "METAFLOW_RUN_B1": "yes",
            "METAFLOW_RUN_B4": "0",
            "METAFLOW_RUN_RATIO": "0.75",
            "METAFLOW_RUN_CONFIG": '{"env": [1, 2]}',
        },
    ),
    "step_raises": Scenario("ErrorsFlow", "errors_flow.py", env={"MODE": "raise"}),
    "foreach_over_a_number": Scenario("ErrorsFlow", "errors_flow.py", env={"MODE": "foreach"}),
    "foreach_over_nothing": Scenario("ErrorsFlow", "errors_flow.py", env={"MODE": "empty"}),
    "merge_conflict": Scenario("ErrorsFlow", "errors_flow.py", env={"MODE": "merge"}),
    "switch": Scenario("SwitchFlow", "switch_flow.py"),
    "switch_slow": Scenario("SwitchFlow", "switch_flow.py", ("--mode", "slow")),
    "switch_no_case": Scenario("SwitchFlow", "switch_flow.py", ("--mode", "medium")),
    # parameters from the environment (the command line wins), @project on the user's
    # branch, the config's default file
    "features": Scenario("FeaturesFlow", "features_flow.py", ("--given", "cli"), FEATURES_ENV),
    "features_production": Scenario(
        "FeaturesFlow",
        "features_flow.py",
        env={"USER": "ada", "USERNAME": "ada"},
        top=("--production", "--branch", "feat", "--config", "cfg", "other_config.json"),
    ),
    "missing_config": Scenario(
        "FeaturesFlow", "features_flow.py", top=("--config", "cfg", "nowhere.json")
    ),
    "user_decorators": Scenario("UserDecoratorsFlow", "user_decorators_flow.py"),
    "lineage": Scenario("LineageFlow", "lineage_flow.py", ("--tag", "t1", "--tag", "t2")),
    "lineage_fails": Scenario("LineageFlow", "lineage_flow.py", env={"MODE": "fail"}),
    "lineage_resumed": Scenario("LineageFlow", "lineage_flow.py", resume_of="lineage_fails"),
}
#: scenarios that start no run
NO_RUN = ("bad_value", "missing_required", "missing_config")
FLOWS = sorted({s.flow_name for s in SCENARIOS.values()})
NOTES = "some notes\non two lines\n"

#: where airstep raises a subclass of Metaflow's exception, or its own class (README)
AIRSTEP_EXCEPTION = {
    "InvalidNextException": "ForeachError",
    "TimeoutException": "StepTimeout",
    # a switch's condition has a value with no case: Metaflow raises a RuntimeError
    "RuntimeError": "StepError",
    "MetaflowNamespaceMismatch": "NamespaceMismatch",
    "MetaflowTaggingError": "TaggingError",
}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    run_id: str | None


@dataclass
class Side:
    """One implementation's runs of every scenario, and what its client read back."""

    outcomes: dict[str, Outcome]
    read: dict[str, Any]

    def run(self, scenario: str) -> dict[str, Any]:
        outcome = self.outcomes[scenario]
        assert outcome.run_id, f"{scenario} started no run:\n{outcome.stderr[-3000:]}"
        return self.read[f"{SCENARIOS[scenario].flow_name}/{outcome.run_id}"]

    def scenario_of(self, run_id: str | None) -> str | None:
        """Run ids differ between the sides; the scenario that made a run does not."""
        if run_id is None:
            return None
        (name,) = [n for n, o in self.outcomes.items() if o.run_id == run_id]
        return name


def _metaflow_python() -> Path:
    if METAFLOW_PYTHON.exists():
        return METAFLOW_PYTHON
    message = (
        f"Metaflow's side venv is missing ({METAFLOW_PYTHON} does not exist): "
        "`make metaflow-venv` makes it, or set AIRSTEP_METAFLOW_PYTHON"
    )
    if os.environ.get("CI"):
        pytest.fail(message)  # `make test` makes it: a CI run must not skip this
    pytest.skip(message)


def _run_scenario(
    python: str, folder: Path, env: dict[str, str], name: str, earlier: dict[str, Outcome]
) -> Outcome:
    scenario = SCENARIOS[name]
    run_id_file = folder / f"{name}.run-id"
    command = ["run"]
    if scenario.resume_of is not None:
        origin = earlier[scenario.resume_of].run_id
        assert origin, f"{scenario.resume_of} started no run to resume"
        command = ["resume", "--origin-run-id", origin]
    proc = subprocess.run(
        [python, scenario.file, "--no-pylint", *scenario.top, *command, *scenario.args]
        + ["--run-id-file", str(run_id_file)],
        cwd=folder,
        env={**env, **scenario.env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    run_id = run_id_file.read_text().strip() if run_id_file.exists() else None
    return Outcome(proc.returncode, proc.stdout, proc.stderr, run_id or None)


def _run_side(library: str, python: str, folder: Path, env: dict[str, str]) -> Side:
    """Run every scenario (the runs of different flows at once), then read them all back."""
    folder.mkdir()
    for template in TEMPLATES.glob("*_flow.py"):
        text = template.read_text()
        assert AIRSTEP_IMPORT in text, template
        # ``from provider.exception import`` is ``from metaflow.exception import`` too
        (folder / template.name).write_text(text.replace("from provider", f"from {library}"))
    for config in TEMPLATES.glob("*.json"):
        (folder / config.name).write_text(config.read_text())
    (folder / "notes.txt").write_text(NOTES)

    def run_group(names: list[str]) -> dict[str, Outcome]:
        done: dict[str, Outcome] = {}
        for name in names:
            done[name] = _run_scenario(python, folder, env, name, done)
        return done

    groups = [list(g) for _, g in groupby(SCENARIOS, key=lambda n: SCENARIOS[n].flow_name)]
    outcomes: dict[str, Outcome] = {}
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        for done in pool.map(run_group, groups):
            outcomes.update(done)
    wanted = [f"{SCENARIOS[n].flow_name}/{o.run_id}" for n, o in outcomes.items() if o.run_id]
    tagged = f"LineageFlow/{outcomes['lineage'].run_id}"
    reader = subprocess.run(
        [python, str(READER), library, *wanted, *FLOWS, f"tags:{tagged}", "namespaces:LineageFlow"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reader.returncode == 0, reader.stderr
    return Side(outcomes, json.loads(reader.stdout))


def _environ() -> dict[str, str]:
    strip = ("METAFLOW_", "AIRSTEP_", "AIRFLOW__AIRSTEP__")
    return {k: v for k, v in os.environ.items() if not k.startswith(strip)}


@pytest.fixture(scope="module")
def sides(tmp_path_factory) -> tuple[Side, Side]:
    """(Metaflow, airstep): both sides run at once."""
    python = _metaflow_python()
    tmp = tmp_path_factory.mktemp("side-by-side")
    metaflow_env = {
        **_environ(),
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp / "metaflow-datastore"),
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_HOME": str(tmp / "metaflow-home"),  # no user configuration
        "USERNAME": "test",
    }
    airstep_env = {
        **_environ(),
        "AIRSTEP_DATASTORE_ROOT": str(tmp / "airstep-datastore"),
        "USERNAME": "test",  # the same user on both sides: namespaces are compared
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        metaflow = pool.submit(_run_side, "metaflow", str(python), tmp / "metaflow", metaflow_env)
        airstep = pool.submit(_run_side, "provider", sys.executable, tmp / "airstep", airstep_env)
        return metaflow.result(), airstep.result()


# -- where the two differ, made comparable -----------------------------------------------------


def _comparable(run: dict[str, Any], *, metaflow: bool) -> dict[str, Any]:
    run = copy.deepcopy(run)
    # Metaflow's Run.finished is True once end ran; airstep's once the run stopped,
    # failed or not
    run.pop("finished")
    for tasks in run["steps"].values():
        for task in tasks:
            if not task["finished"]:
                # the class maps; str() is the traceback, which ends with the message
                kind, message, ends_with_message = task["exception"]
                short = _short_type(kind, metaflow=metaflow)
                # airstep's own exceptions (Metaflow's names among them) word their
                # messages their own way (README)
                own = short in AIRSTEP_EXCEPTION.values() or hasattr(airstep_exceptions, short)
                task["exception"] = [short, None if own else message]
                assert ends_with_message, task
    for artifacts in _all_artifacts(run):
        for name, value in artifacts.items():
            if metaflow and name == "conflict_error":  # type(e).__name__ in the flow
                artifacts[name] = AIRSTEP_EXCEPTION.get(value, value)
            if name == "timeout_error":
                # the class maps; the message is each library's own wording
                artifacts[name] = _short_type(value["type"], metaflow=metaflow)
    return run


def _all_artifacts(run: dict[str, Any]) -> list[dict[str, Any]]:
    found = [t["artifacts"] for tasks in run["steps"].values() for t in tasks if "artifacts" in t]
    return found + ([run["data"]] if run["data"] is not None else [])


def _short_type(dotted: str, *, metaflow: bool) -> str:
    name = dotted.rsplit(".", 1)[-1]
    return AIRSTEP_EXCEPTION.get(name, name) if metaflow else name


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_same_runs_start_succeed_and_fail(sides, scenario):
    metaflow, airstep = (side.outcomes[scenario] for side in sides)
    assert (airstep.returncode == 0) == (metaflow.returncode == 0), (
        f"Metaflow exited {metaflow.returncode}, airstep {airstep.returncode}:\n{airstep.stderr}"
    )
    assert (airstep.run_id is None) == (metaflow.run_id is None)


@pytest.mark.parametrize("scenario", [n for n in SCENARIOS if n not in NO_RUN])
def test_the_client_reads_the_same_steps_tasks_and_artifacts(sides, scenario):
    metaflow, airstep = (side.run(scenario) for side in sides)
    assert metaflow["steps"], "Metaflow's run has no steps: nothing would be compared"
    expected = _comparable(metaflow, metaflow=True)
    got = _comparable(airstep, metaflow=False)
    if SCENARIOS[scenario].flow_name == "SwitchFlow":
        # Metaflow 2.19 gives a switch case inside a foreach no child tasks; its child is
        # the foreach's join, which is what airstep gives
        for step in {"half", "triple"} & set(expected["steps"]):
            for mine, theirs in zip(got["steps"][step], expected["steps"][step], strict=True):
                assert theirs["children"] == [] and mine["children"] == ["{task of collect}"]
                theirs["children"] = mine["children"]
    assert sorted(got["steps"]) == sorted(expected["steps"])
    for step, tasks in expected["steps"].items():
        assert got["steps"][step] == tasks, f"step {step}"
    assert got == expected


def test_parameters_parse_the_same(sides):
    metaflow, airstep = (side.run("params")["steps"]["start"][0]["artifacts"] for side in sides)
    assert metaflow["letters"] == ["a", "b", "c"]  # the run really got its command line
    assert airstep == metaflow


def test_current_gives_the_same_facts(sides):
    metaflow, airstep = (side.run("params")["data"] for side in sides)
    assert metaflow["end_facts"]["is_running_flow"] is True
    for facts in ("start_facts", "end_facts"):
        assert airstep[facts] == metaflow[facts]


@pytest.mark.parametrize("scenario", ["bad_value", "missing_required"])
def test_a_bad_command_line_starts_nothing_and_names_the_option(sides, scenario):
    metaflow, airstep = (side.outcomes[scenario] for side in sides)
    assert metaflow.returncode != 0 and metaflow.run_id is None
    assert airstep.returncode != 0 and airstep.run_id is None
    options = re.findall(r"'(--\w+)'", metaflow.stderr)
    assert options, metaflow.stderr
    for option in options:
        assert option in airstep.stderr
    # nothing ran: the runs of the flow are the good ones
    for side in sides:
        runs = [side.scenario_of(r) for r in side.read["ParamsFlow"]["runs"]]
        assert sorted(runs) == ["params", "params_from_env"]


@pytest.mark.parametrize(
    "scenario",
    [
        "step_raises",
        "foreach_over_a_number",
        "foreach_over_nothing",
        "merge_conflict",
        "switch_no_case",
    ],
)
def test_a_failed_run_names_the_same_exception(sides, scenario):
    metaflow, airstep = sides
    run = metaflow.run(scenario)
    failed = [
        (step, task)
        for step, tasks in run["steps"].items()
        for task in tasks
        if not task["finished"]
    ]
    assert len(failed) == 1, failed
    step, task = failed[0]
    name = _short_type(task["exception"][0], metaflow=True)
    assert not run["successful"]
    assert not airstep.run(scenario)["successful"]
    assert re.search(rf"^(\w+\.)*{name}: ", airstep.outcomes[scenario].stderr, re.M), (
        f"{name} (Metaflow: {task['exception']} in step {step}) not in:\n"
        + airstep.outcomes[scenario].stderr
    )


def test_tags_change_the_same_way(sides):
    metaflow, airstep = (
        side.read[f"tags:LineageFlow/{side.outcomes['lineage'].run_id}"] for side in sides
    )
    assert metaflow[0] == ["added", "t1", "t2"]  # the change really happened
    airstep = [
        {"raises": AIRSTEP_EXCEPTION.get(a["raises"], a["raises"])} if isinstance(a, dict) else a
        for a in airstep
    ]
    metaflow = [
        {"raises": AIRSTEP_EXCEPTION[a["raises"]]} if isinstance(a, dict) else a for a in metaflow
    ]
    assert airstep == metaflow


def test_namespaces_show_the_same_runs(sides):
    metaflow, airstep = (
        {
            key: _scenarios(side, value)
            if isinstance(value, list | str) and key not in ("default", "get", "get_other")
            else value
            for key, value in side.read["namespaces:LineageFlow"].items()
        }
        for side in sides
    )
    for seen in (metaflow, airstep):
        # Metaflow lists a flow's runs in no fixed order once their tags changed
        seen["none"], seen["mine"] = sorted(seen["none"]), sorted(seen["mine"])
    assert metaflow["default"] == "user:test"
    assert metaflow["t1"] == ["lineage"]
    other = metaflow["other_user"]
    metaflow["other_user"] = {"raises": AIRSTEP_EXCEPTION[other["raises"]]}
    assert airstep == metaflow


def test_current_names_the_user_namespace_and_tags(sides):
    metaflow, airstep = (side.run("lineage")["steps"]["start"][0]["artifacts"] for side in sides)
    assert metaflow["who"] == {"username": "test", "namespace": "user:test", "tags": ["t1", "t2"]}
    assert airstep["who"] == metaflow["who"]


def test_flows_list_their_runs_the_same(sides):
    for flow in FLOWS:
        metaflow, airstep = (
            {key: _scenarios(side, value) for key, value in side.read[flow].items()}
            for side in sides
        )
        assert airstep == metaflow, flow


def _scenarios(side: Side, value: str | list[str] | None) -> str | list[str | None] | None:
    if isinstance(value, list):
        return [side.scenario_of(v) for v in value]
    return side.scenario_of(value)


def test_a_missing_config_file_starts_nothing(sides):
    for side in sides:
        outcome = side.outcomes["missing_config"]
        assert outcome.returncode != 0 and outcome.run_id is None
        assert "nowhere.json" in outcome.stderr
