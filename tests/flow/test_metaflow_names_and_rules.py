"""Metaflow's exception names, read-only class constants, a foreach over a string, parameters
from the environment, ``@project`` and configs, driven through ``features_flow.py`` as a user
runs it (``test_metaflow_side_by_side.py`` runs the same file on Metaflow and compares)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provider import Flow, FlowSpec, Parameter, step
from provider import exception as metaflow_exception
from provider.exceptions import (
    AirstepError,
    DataStoreError,
    ForeachError,
    InvalidDecoratorError,
    MergeArtifactsError,
    StepTimeout,
)

COMPAT = Path(__file__).parents[1] / "flows" / "compat"
ENV_PARAMS = {
    "METAFLOW_RUN_COUNT": "3",
    "METAFLOW_RUN_MY_WORDS": "a,b",
    "METAFLOW_RUN_FLAG": "true",
    "METAFLOW_RUN_GIVEN": "env",
}


@pytest.fixture
def flow_dir(tmp_path, datastore, monkeypatch) -> Path:
    # the runs are ada's: the client's default namespace is the reader's own runs
    for name in ("AIRSTEP_USER", "METAFLOW_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "ada")
    monkeypatch.setenv("USERNAME", "ada")
    for name in ("features_flow.py", "features_config.json", "other_config.json"):
        shutil.copy(COMPAT / name, tmp_path / name)
    return tmp_path


def run(folder: Path, *args: str, top: tuple[str, ...] = (), env: dict[str, str] | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "AIRSTEP_R"))}
    return subprocess.run(
        [sys.executable, "features_flow.py", *top, "run", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "USER": "ada", "USERNAME": "ada", **(env or {})},
    )


def latest_end():
    run = Flow("FeaturesFlow").latest_run
    assert run.successful
    return run["end"].task.data


# -- exceptions ------------------------------------------------------------------------------
def test_metaflows_exception_names_are_airsteps_classes():
    e = metaflow_exception
    assert e.MetaflowException is AirstepError
    assert e.MetaflowDataMissing is DataStoreError
    assert e.TimeoutException is StepTimeout
    assert issubclass(e.UnhandledInMergeArtifactsException, MergeArtifactsError)
    assert issubclass(e.MissingInMergeArtifactsException, MergeArtifactsError)
    assert issubclass(ForeachError, e.InvalidNextException)
    assert issubclass(e.InvalidDecoratorAttribute, InvalidDecoratorError)
    assert issubclass(e.MetaflowNotFound, KeyError)
    assert issubclass(e.MetaflowInvalidPathspec, ValueError)
    for name in e.__all__:
        assert issubclass(getattr(e, name), AirstepError), name
    error = e.MetaflowException("went wrong", lineno=3)
    assert (str(error), error.message, error.headline) == (
        "line 3: went wrong",
        "line 3: went wrong",
        "Flow failed",
    )


def test_the_client_raises_metaflow_not_found(datastore):
    with pytest.raises(metaflow_exception.MetaflowNotFound, match="has no run 'nope'"):
        Flow("NoSuchFlow")["nope"]
    with pytest.raises(metaflow_exception.MetaflowInvalidPathspec):
        from provider import Run

        Run("only-a-flow")


def test_an_unknown_decorator_argument_is_invalid_decorator_attribute():
    from provider import retry

    with pytest.raises(metaflow_exception.InvalidDecoratorAttribute, match="tims"):

        @retry(tims=3)
        @step
        def start(self):
            pass


# -- one run: everything at once -----------------------------------------------------------
def test_a_run_catches_merge_errors_by_metaflows_names_and_reads_configs_and_env(flow_dir):
    proc = run(flow_dir, "--given", "cli", env=ENV_PARAMS)
    assert proc.returncode == 0, proc.stderr
    assert "Project: compat_demo, Branch: user.ada" in proc.stderr
    end = latest_end()
    # merge_artifacts raised Metaflow's classes, with the names at fault
    assert end.unhandled == ["char"] and end.unhandled_is_metaflow is True
    assert end.missing == ["nope"]
    # a class constant is read-only, with Metaflow's exception type and sentence
    assert end.constant_error == [
        "AttributeError",
        "Flow level attributes and Parameters are not modifiable",
    ]
    assert end.rate_seen == 0.5
    # a foreach over a string runs once per character
    assert end.chars == ["a", "b", "c"]
    # parameters: command line > environment > default; types converted, separator applied
    assert (end.count, end.my_words, end.flag, end.given) == (3, ["a", "b"], True, "cli")
    # @project
    assert end.project == ["compat_demo", "user.ada", False, "compat_demo.user.ada.FeaturesFlow"]
    # the config, in steps and in decorator arguments (@environment(vars=config_expr(...)))
    assert end.greeting == "hello from the config"
    assert end.model_name == "m1" and end.layers == [1, 2]
    assert end.cfg_seen["model"]["name"] == "m1"
    assert end.cfg.model.layers == [1, 2]
    assert end.first_layer == 1  # a parameter's default from config_expr, typed by its value
    assert end.cfg_repr == repr(end.cfg_seen)
    assert end.cfg_immutable == ["TypeError", "ConfigValue is immutable"]


def test_airsteps_environment_name_beats_metaflows(flow_dir):
    proc = run(
        flow_dir, env={**ENV_PARAMS, "AIRSTEP_RUN_GIVEN": "airstep", "AIRSTEP_RUN_COUNT": "5"}
    )
    assert proc.returncode == 0, proc.stderr
    end = latest_end()
    assert (end.given, end.count) == ("airstep", 5)


def test_a_bad_value_in_the_environment_names_the_variable(flow_dir):
    proc = run(flow_dir, env={"METAFLOW_RUN_COUNT": "many"})
    assert proc.returncode == 1
    assert "Parameter *count* got 'many'" in proc.stderr
    assert "$METAFLOW_RUN_COUNT" in proc.stderr
    assert not Flow("FeaturesFlow").runs()


def test_branch_production_and_configs_from_the_command_line(flow_dir):
    value = json.dumps(
        {"timeout": 30, "env": {"GREETING": "given"}, "model": {"name": "v", "layers": [7]}}
    )
    proc = run(flow_dir, top=("--production", "--branch", "feat", "--config-value", "cfg", value))
    assert proc.returncode == 0, proc.stderr
    end = latest_end()
    assert end.project == ["compat_demo", "prod.feat", True, "compat_demo.prod.feat.FeaturesFlow"]
    assert (end.greeting, end.model_name, end.first_layer) == ("given", "v", 7)

    proc = run(flow_dir, top=("--production", "--config", "cfg", "other_config.json"))
    assert proc.returncode == 0, proc.stderr
    end = latest_end()
    assert end.project == ["compat_demo", "prod", True, "compat_demo.prod.FeaturesFlow"]
    assert (end.greeting, end.model_name) == ("other", "m2")


@pytest.mark.parametrize(
    "top, expected",
    [
        (("--config", "cfg", "nowhere.json"), "there is no file at 'nowhere.json'"),
        (("--config-value", "cfg", "{nope"), "is not JSON"),
        (("--config-value", "cfg", "[1]"), "not a JSON object"),
        (("--config", "cgf", "other_config.json"), "has no config 'cgf'; its configs are cfg"),
        (("--branch", "Feat-1"), "lowercase letters, digits and underscores; e.g. 'feat_1'"),
    ],
)
def test_a_bad_config_or_branch_starts_nothing_and_names_the_fix(flow_dir, top, expected):
    proc = subprocess.run(
        [sys.executable, "features_flow.py", *top, "check"],
        cwd=flow_dir,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "USER": "ada"},
    )
    assert proc.returncode == 1
    assert "FeaturesFlow" in proc.stderr and expected in proc.stderr, proc.stderr


def test_a_broken_config_file_names_the_file(flow_dir):
    (flow_dir / "features_config.json").write_text("{'single': 'quotes'}")
    proc = run(flow_dir)
    assert proc.returncode == 1
    assert "Config *cfg* of flow *FeaturesFlow*" in proc.stderr
    assert "features_config.json" in proc.stderr and "is not JSON" in proc.stderr


def test_config_expr_naming_no_config_fails_with_the_step_and_the_fix():
    from provider import config_expr, resources
    from provider.exceptions import ConfigError

    class TypoFlow(FlowSpec):
        @resources(cpu=config_expr("cfgg.cpu"))
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    with pytest.raises(ConfigError) as raised:
        TypoFlow.graph()
    message = str(raised.value)
    assert "@resources on step *start* of flow *TypoFlow*" in message
    assert "'cfgg', which is not a config" in message


def test_a_constant_cannot_be_assigned_outside_a_run_either():
    class ConstFlow(FlowSpec):
        LIMIT = 3
        size = Parameter("size", default=1)

        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    flow = ConstFlow(use_cli=False)
    with pytest.raises(AttributeError) as raised:
        flow.LIMIT = 4
    assert str(raised.value).startswith(
        "Flow level attributes and Parameters are not modifiable: flow *ConstFlow* assigns "
        "self.LIMIT = 4"
    )
    flow.other = 1  # any other name is an artifact


def test_configs_read_again_give_decorators_and_defaults_new_values(tmp_path):
    from provider import Config, config_expr, resources
    from provider.flow.config import set_config_sources

    class ReloadFlow(FlowSpec):
        cfg = Config("cfg", default_value={"cpu": 2, "n": 1})
        n = Parameter("n", default=config_expr("cfg.n"))

        @resources(cpu=cfg.cpu)
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert ReloadFlow.graph()["start"].decorators["resources"].attributes["cpu"] == 2
    assert (ReloadFlow.n.default, ReloadFlow.n.type) == (1, int)
    set_config_sources(ReloadFlow, {}, {"cfg": '{"cpu": 0.5, "n": 4}'})
    assert ReloadFlow.graph()["start"].decorators["resources"].attributes["cpu"] == 0.5
    assert ReloadFlow.n.default == 4
    assert ReloadFlow.cfg.value == {"cpu": 0.5, "n": 4}


def test_project_names_are_not_set_outside_a_project_flow():
    from provider import current

    assert not hasattr(current, "project_name")
    with pytest.raises(AttributeError, match=r"add @project\(name=...\)"):
        _ = current.branch_name


def test_branch_for_a_flow_without_project_is_refused(datastore):
    proc = subprocess.run(
        [sys.executable, str(COMPAT / "nested_flow.py"), "--branch", "x", "run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Flow *NestedFlow* has no @project, so --branch has nothing to choose" in proc.stderr


def test_no_user_name_for_the_default_branch_names_the_fixes(flow_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "USERNAME", "SUDO_USER")}
    proc = subprocess.run(
        [sys.executable, "features_flow.py", "run"],
        cwd=flow_dir,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "USER": "root"},
    )
    assert proc.returncode == 1
    assert "Flow *FeaturesFlow* is in @project 'compat_demo'" in proc.stderr
    assert "--branch NAME, or to_dag(branch=...)" in proc.stderr


def test_a_config_named_apart_from_its_attribute_and_a_project_name_from_a_config(monkeypatch):
    from provider import Config, config_expr, project, resources
    from provider.flow.project import project_info

    monkeypatch.delenv("AIRSTEP_BRANCH", raising=False)
    monkeypatch.delenv("METAFLOW_BRANCH", raising=False)
    monkeypatch.setenv("METAFLOW_OWNER", "ops")

    @project(name=config_expr("settings.project"))
    class NamedFlow(FlowSpec):
        settings = Config("my-settings", default_value='{"project": "shop", "cpu": 3}')

        @resources(cpu=settings.cpu)
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert NamedFlow.graph()["start"].decorators["resources"].attributes["cpu"] == 3
    info = project_info(NamedFlow)
    assert (info.project_name, info.branch_name) == ("shop", "user.ops")
    assert info.project_flow_name == "shop.user.ops.NamedFlow"


def test_a_plain_config_with_a_parser_keeps_what_the_parser_made(tmp_path, monkeypatch):
    from provider import Config
    from provider.exceptions import ConfigError

    (tmp_path / "hosts.txt").write_text("a.example\nb.example\n")
    monkeypatch.chdir(tmp_path)

    def flow_with(plain: bool) -> type[FlowSpec]:
        class PlainFlow(FlowSpec):
            hosts = Config("hosts", default="hosts.txt", parser=str.splitlines, plain=plain)

            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        return PlainFlow

    plain = flow_with(plain=True)
    plain.graph()
    assert plain.hosts.value == ["a.example", "b.example"]
    with pytest.raises(ConfigError, match=r"Config \*hosts\* of flow \*PlainFlow\*.*plain=True"):
        flow_with(plain=False).graph()
