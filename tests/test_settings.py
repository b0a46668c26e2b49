"""Settings: each [airstep] option is read in one module, with or without Airflow in the process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provider.get_provider_info import get_provider_info
from provider.settings import (
    OPTIONS,
    as_environment,
    choice,
    option,
    parse_bool,
    seconds,
    whole_number,
)

REPO = Path(__file__).resolve().parents[1]

READ_ALL = textwrap.dedent(
    """
    import json
    import sys

    {before}
    from provider.datastore import storage_for
    from provider.settings import OPTIONS, flag, setting

    values = {{opt.name: setting(opt.name) for opt in OPTIONS}}
    values["local_override"] = flag("local_override")
    values["storage_root"] = storage_for(None).root
    values["airflow_imported"] = "airflow" in sys.modules
    print(json.dumps(values))
    """
)


def read_settings(env: dict[str, str], *, with_airflow: bool = False, home: Path | None = None):
    """Every setting as a fresh process sees it, with only the given variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AIRSTEP_"))}
    if with_airflow:
        clean["AIRFLOW_HOME"] = str(home)
        clean["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    script = READ_ALL.format(before="import airflow" if with_airflow else "")
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, "HOME": str(home or REPO), **env},
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_airflow_the_defaults_apply_and_nothing_imports_airflow(tmp_path):
    values = read_settings({}, home=tmp_path)
    assert values["airflow_imported"] is False
    assert values["datastore_root"] == "~/.airstep"
    assert values["storage_root"] == str(tmp_path / ".airstep")
    assert values["default_image"] == "airstep-step:latest"
    assert values["default_compute"] == "local"
    assert values["kubernetes_namespace"] == "default"
    assert values["batch_queue"] is None and values["aws_conn_id"] is None
    assert values["local_override"] is False


def test_without_airflow_airflows_variable_wins_over_the_plain_one(tmp_path):
    values = read_settings(
        {
            "AIRSTEP_DATASTORE_ROOT": str(tmp_path / "plain"),
            "AIRFLOW__AIRSTEP__DATASTORE_ROOT": str(tmp_path / "airflow"),
            "AIRSTEP_BATCH_QUEUE": "plain-queue",
            "AIRFLOW__AIRSTEP__BATCH_QUEUE": "",  # empty counts as unset
            "AIRSTEP_LOCAL_OVERRIDE": "yes",
            "AIRFLOW__AIRSTEP__DEFAULT_COMPUTE": "batch",
        }
    )
    assert values["airflow_imported"] is False
    assert values["storage_root"] == str(tmp_path / "airflow")
    assert values["batch_queue"] == "plain-queue"
    assert values["local_override"] is True
    assert values["default_compute"] == "batch"


def test_in_an_airflow_process_airflow_cfg_is_read(tmp_path):
    home = tmp_path / "airflow-home"
    home.mkdir()
    (home / "airflow.cfg").write_text(
        "[airstep]\n"
        f"datastore_root = {tmp_path / 'from-cfg'}\n"
        "kubernetes_namespace = from-cfg\n"
        "local_override = True\n"
    )
    values = read_settings(
        {"AIRSTEP_DATASTORE_ROOT": str(tmp_path / "plain"), "AIRSTEP_BATCH_QUEUE": "plain-queue"},
        with_airflow=True,
        home=home,
    )
    assert values["airflow_imported"] is True
    assert values["storage_root"] == str(tmp_path / "from-cfg")
    assert values["kubernetes_namespace"] == "from-cfg"
    assert values["local_override"] is True
    assert values["batch_queue"] == "plain-queue"  # unset in airflow.cfg: the plain variable
    assert values["default_compute"] == "local"


@pytest.mark.parametrize(
    "text, expected",
    [("True", True), ("t", True), ("1", True), ("yes", True), (" on ", True)]
    + [("False", False), ("f", False), ("0", False), ("no", False), ("false # dev", False)],
)
def test_booleans_read_airflows_words(text, expected):
    assert parse_bool(text, "[airstep] local_override") is expected


def test_a_boolean_that_is_neither_names_the_option_the_value_and_the_fix():
    with pytest.raises(ValueError) as raised:
        parse_bool("maybe", "[airstep] local_override (or $AIRSTEP_LOCAL_OVERRIDE)")
    assert str(raised.value) == (
        "[airstep] local_override (or $AIRSTEP_LOCAL_OVERRIDE) is 'maybe', which is neither "
        "true nor false; set it to True or False."
    )


def test_the_provider_metadata_is_the_settings_table():
    options = get_provider_info()["config"]["airstep"]["options"]
    assert list(options) == [opt.name for opt in OPTIONS]
    for opt in OPTIONS:
        described = options[opt.name]
        assert described["type"] == opt.type and described["example"] == opt.example
        if opt.env_var:  # Airflow's config must leave room for the plain variable
            assert described["default"] is None
            assert f"Unset: ${opt.env_var}" in described["description"]
        else:
            assert described["default"] == opt.default
    assert "else ~/.airstep." in options["datastore_root"]["description"]


def test_an_unknown_option_is_named():
    with pytest.raises(LookupError, match=r"\[airstep\] has no option 'datastore'"):
        option("datastore")


def test_an_option_with_values_refuses_another_naming_them(monkeypatch):
    assert choice("kubernetes_gang") == "indexed_job"
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_GANG", "JobSet")
    assert choice("kubernetes_gang") == "jobset"
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_GANG", "mpijob")
    with pytest.raises(ValueError) as raised:
        choice("kubernetes_gang")
    assert str(raised.value) == (
        "[airstep] kubernetes_gang is 'mpijob', which is none of its values; set it to "
        "indexed_job or jobset."
    )


def test_numbers_are_read_once_with_their_default_and_refused_naming_the_variable(monkeypatch):
    for name in ("AIRSTEP_LOCAL_GPUS", "AIRSTEP_SPOT_POLL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    assert whole_number("local_gpus", minimum=0) is None  # unset: the GPUs are counted
    assert seconds("spot_poll_seconds") == 5.0
    monkeypatch.setenv("AIRSTEP_LOCAL_GPUS", "0")
    monkeypatch.setenv("AIRSTEP_SPOT_POLL_SECONDS", "0.05")
    assert whole_number("local_gpus", minimum=0) == 0
    assert seconds("spot_poll_seconds") == 0.05
    monkeypatch.setenv("AIRSTEP_LOCAL_GPUS", "some")
    with pytest.raises(
        ValueError,
        match=r"\[airstep\] local_gpus \(or \$AIRSTEP_LOCAL_GPUS\) "
        r"is 'some'; set it to a whole number of at least 0\.",
    ):
        whole_number("local_gpus", minimum=0)
    monkeypatch.setenv("AIRSTEP_SPOT_POLL_SECONDS", "-1")
    with pytest.raises(ValueError, match=r"spot_poll_seconds .* is '-1'; set it to a number"):
        seconds("spot_poll_seconds")


def test_a_remote_step_gets_the_workers_values_under_their_variables(monkeypatch):
    monkeypatch.delenv("AIRSTEP_SPOT_METADATA_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__AIRSTEP__SPOT_METADATA_URL", "http://127.0.0.1:9000")
    assert as_environment("spot_metadata_url") == {
        "AIRSTEP_SPOT_METADATA_URL": "http://127.0.0.1:9000"
    }


def test_every_option_has_a_type_airflow_knows_and_a_default_among_its_values():
    for opt in OPTIONS:
        assert opt.type in ("string", "integer", "float", "boolean"), opt.name
        assert not opt.choices or opt.default in opt.choices, opt.name


#: variables a process sets for the processes it starts: hand-offs, not settings
HANDOFFS = {"AIRSTEP_IN_TASK"}


def test_no_module_but_settings_reads_an_airstep_variable():
    read = re.compile(r"""environ(?:\.get\(|\[)\s*["'](AIRSTEP_\w+)["']""")
    found = {
        (str(path.relative_to(REPO)), name)
        for path in (REPO / "provider").rglob("*.py")
        if path.name != "settings.py"
        for name in read.findall(path.read_text())
        if name not in HANDOFFS
    }
    assert found == set(), "declare these in provider/settings.py and read them there"
