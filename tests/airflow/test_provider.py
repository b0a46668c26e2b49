"""airstep is a registered Airflow provider with a valid provider.yaml-style description."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

from provider.get_provider_info import get_provider_info

pytestmark = pytest.mark.airflow


def test_provider_info_validates_against_airflows_schema():
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    options = info["config"]["airstep"]["options"]
    assert set(options) == {
        "datastore_root",
        "default_image",
        "default_compute",
        "kubernetes_namespace",
        "kubernetes_pod_link",
        "kubernetes_gang",
        "batch_queue",
        "aws_conn_id",
        "max_map_tasks",
        "chunk_processes",
        "process_per_task",
        "local_override",
        "code_package_max_mb",
        "code_package_max_files",
        "max_num_parallel",
        "local_gpus",
        "progress_seconds",
        "spot_metadata_url",
        "spot_poll_seconds",
    }
    for option in options.values():
        assert {"description", "version_added", "type", "example", "default"} <= set(option)
    for entry in info["operators"]:
        for module in entry["python-modules"]:
            importlib.import_module(module)


def test_airflow_lists_the_provider_and_its_config_defaults():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.configuration import conf

    provider = ProvidersManager().providers["airflow-provider-airstep"]
    assert provider.version == "0.1.0"
    assert provider.data["name"] == "airstep"
    assert conf.get("airstep", "default_compute") == "local"
    assert conf.get("airstep", "local_override", fallback=None) is None  # unset: env decides


def _imports(module: str) -> set[str]:
    source = Path(importlib.import_module(module).__file__).read_text()
    return {
        alias.name if isinstance(node, ast.Import) else node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


def test_the_provider_info_module_imports_nothing_heavy():
    # Airflow imports it while it starts: an Airflow import here would be circular
    assert _imports("provider.get_provider_info") == {"__future__", "typing", "provider.settings"}
    # its config section is the settings table, which the Airflow-free runtime reads too
    assert _imports("provider.settings") == {"__future__", "dataclasses", "os", "sys", "typing"}


def test_airflows_config_defaults_are_the_settings_defaults():
    from airflow.sdk.configuration import conf

    from provider.settings import OPTIONS

    for opt in OPTIONS:
        if not opt.env_var:  # an option with a plain variable has no default in Airflow's config
            assert conf.get("airstep", opt.name, fallback=None) == opt.default, opt.name
