"""Settings: each [airstep] option is read in one module, with or without Airflow in the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provider.get_provider_info import get_provider_info
from provider.settings import OPTIONS, option, parse_bool

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
