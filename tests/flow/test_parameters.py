"""Parameter and IncludeFile: types, conversion, errors that name the parameter and the value."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from provider import FlowSpec, IncludeFile, JSONType, Parameter, ParameterError, step

# -- type inference ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "expected_type", "type_name"),
    [
        (3, int, "integer"),
        (0.5, float, "number"),
        (True, bool, "boolean"),
        (False, bool, "boolean"),
        ("text", str, "string"),
        (None, str, "string"),
        ({"a": 1}, JSONType, "JSON"),
        ([1, 2], JSONType, "JSON"),
    ],
)
def test_type_inferred_from_default(default: Any, expected_type: type, type_name: str) -> None:
    param = Parameter("p", default=default)
    assert param.type is expected_type
    assert param.type_name == type_name
    assert param.default == default


@pytest.mark.parametrize(("given", "expected"), [(dict, JSONType), (list, JSONType)])
def test_dict_and_list_types_mean_json(given: type, expected: type) -> None:
    assert Parameter("p", type=given).type is expected


def test_explicit_type_beats_default() -> None:
    param = Parameter("p", default="3", type=int)
    assert param.type is int
    assert param.default == 3


@pytest.mark.parametrize("bad_type", [bytes, tuple, object])
def test_unsupported_type(bad_type: type) -> None:
    with pytest.raises(ParameterError) as excinfo:
        Parameter("epochs", type=bad_type)
    message = str(excinfo.value)
    assert "Parameter *epochs*" in message
    assert repr(bad_type) in message
    assert "use str, int, float, bool or JSONType" in message


def test_default_of_another_class_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"Parameter \*out\* got PosixPath\('x'\).*string"):
        Parameter("out", default=Path("x"))


@pytest.mark.parametrize("name", ["", "-epochs", "--epochs", 3, None])
def test_invalid_parameter_name(name: Any) -> None:
    with pytest.raises(ParameterError) as excinfo:
        Parameter(name)
    message = str(excinfo.value)
    assert f"Parameter name {name!r} is invalid" in message
    assert "'epochs'" in message


# -- conversion -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "given", "expected"),
    [
        (int, "3", 3),
        (int, " 42 ", 42),
        (int, "-7", -7),
        (int, 5, 5),
        (int, 4.0, 4),
        (float, "0.5", 0.5),
        (float, "1e-3", 0.001),
        (float, 2, 2.0),
        (str, "hello", "hello"),
        (str, 3, "3"),
        (str, 0.5, "0.5"),
        (JSONType, '{"a": [1, 2]}', {"a": [1, 2]}),
        (JSONType, "[1, 2]", [1, 2]),
        (JSONType, "3", 3),
        (JSONType, {"a": (1, 2)}, {"a": [1, 2]}),  # a JSON value from Airflow, normalised
    ],
)
def test_conversion(type_: type, given: Any, expected: Any) -> None:
    value = Parameter("p", type=type_).convert(given)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("true", True),
        ("True", True),
        (" TRUE ", True),
        ("yes", True),
        ("y", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("n", False),
        ("off", False),
        ("0", False),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
    ],
)
def test_bool_strings(given: Any, expected: bool) -> None:
    assert Parameter("flag", type=bool).convert(given) is expected


@pytest.mark.parametrize(
    ("type_", "given", "example"),
    [
        (int, "abc", "--epochs 3"),
        (int, "3.5", "--epochs 3"),
        (int, 3.5, "--epochs 3"),
        (int, True, "--epochs 3"),
        (int, "", "--epochs 3"),
        (float, "fast", "--epochs 0.5"),
        (float, False, "--epochs 0.5"),
        (bool, "maybe", "--epochs true"),
        (bool, 2, "--epochs true"),
        (bool, "", "--epochs true"),
        (str, [1], "--epochs text"),
        (str, {"a": 1}, "--epochs text"),
        (JSONType, "{not json", "--epochs '{\"a\": 1}'"),
        (JSONType, {1, 2}, "--epochs '{\"a\": 1}'"),
    ],
)
def test_invalid_value_names_parameter_and_value(type_: type, given: Any, example: str) -> None:
    param = Parameter("epochs", type=type_)
    with pytest.raises(ParameterError) as excinfo:
        param.convert(given)
    message = str(excinfo.value)
    assert f"Parameter *epochs* got {given!r}" in message
    assert f"which is not a valid {param.type_name}" in message
    assert f"give e.g. {example}." in message


def test_invalid_default_fails_at_definition() -> None:
    with pytest.raises(ParameterError, match=r"Parameter \*epochs\* got 'many'.*integer"):
        Parameter("epochs", default="many", type=int)


def test_default_is_converted() -> None:
    assert Parameter("ratio", default="0.25", type=float).default == 0.25
    assert Parameter("flag", default="yes", type=bool).default is True
    assert Parameter("config", default='{"a": 1}', type=JSONType).default == {"a": 1}


# -- resolve: given value, default, required --------------------------------------------------


def test_resolve_uses_given_value_then_default() -> None:
    param = Parameter("epochs", default=3)
    assert param.resolve(None) == 3
    assert param.resolve("5") == 5


def test_resolve_false_default_is_kept() -> None:
    assert Parameter("flag", default=False).resolve(None) is False
    assert Parameter("n", default=0).resolve(None) == 0


def test_optional_without_default_is_none() -> None:
    assert Parameter("tag").resolve(None) is None


def test_required_parameter_missing() -> None:
    param = Parameter("epochs", type=int, required=True)
    with pytest.raises(ParameterError) as excinfo:
        param.resolve(None)
    message = str(excinfo.value)
    assert "Parameter *epochs* is required" in message
    assert "--epochs 3" in message
    assert param.resolve("4") == 4


def test_required_with_default_uses_default() -> None:
    assert Parameter("epochs", default=2, required=True).resolve(None) == 2


def test_resolve_converts_and_fails_with_name() -> None:
    with pytest.raises(ParameterError, match=r"Parameter \*alpha\* got 'x'.*number.*--alpha 0\.5"):
        Parameter("alpha", default=0.1).resolve("x")


def test_dashed_name_attr_and_repr() -> None:
    param = Parameter("learning-rate", default=0.1, help="step size")
    assert param.name == "learning-rate"
    assert param.attr == "learning_rate"
    assert param.help == "step size"
    assert repr(param) == "Parameter('learning-rate', default=0.1, type=number)"


# -- IncludeFile ------------------------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty directory, so relative paths resolve only against base_dir."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tmp_path


def test_include_file_text_relative_to_base_dir(elsewhere: Path) -> None:
    base = elsewhere / "flowdir"
    (base / "data").mkdir(parents=True)
    (base / "data" / "notes.txt").write_text("héllo\n", encoding="utf-8")
    inc = IncludeFile("notes")
    assert inc.type is str and inc.is_text
    assert inc.resolve("data/notes.txt", base_dir=str(base)) == "héllo\n"


def test_include_file_bytes(elsewhere: Path) -> None:
    (elsewhere / "blob.bin").write_bytes(b"\x00\xff\x10")
    inc = IncludeFile("blob", is_text=False)
    value = inc.resolve("blob.bin", base_dir=str(elsewhere))
    assert value == b"\x00\xff\x10" and isinstance(value, bytes)


def test_include_file_encoding(elsewhere: Path) -> None:
    (elsewhere / "latin.txt").write_bytes("café".encode("latin-1"))
    inc = IncludeFile("latin", encoding="latin-1")
    assert inc.resolve("latin.txt", base_dir=str(elsewhere)) == "café"


def test_include_file_not_text(elsewhere: Path) -> None:
    (elsewhere / "blob.bin").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ParameterError) as excinfo:
        IncludeFile("blob").resolve("blob.bin", base_dir=str(elsewhere))
    message = str(excinfo.value)
    assert "IncludeFile *blob*" in message
    assert "'blob.bin'" in message
    assert "is_text=False" in message


def test_include_file_absolute_path(elsewhere: Path) -> None:
    target = elsewhere / "abs.txt"
    target.write_text("absolute")
    assert IncludeFile("f").resolve(str(target), base_dir="/nonexistent") == "absolute"


def test_include_file_relative_to_current_directory(elsewhere: Path) -> None:
    Path("here.txt").write_text("in cwd")
    assert IncludeFile("f").resolve("here.txt") == "in cwd"


def test_include_file_default_path(elsewhere: Path) -> None:
    (elsewhere / "default.txt").write_text("from default")
    inc = IncludeFile("f", default="default.txt")
    assert inc.default == "default.txt"
    assert inc.resolve(None, base_dir=str(elsewhere)) == "from default"


def test_include_file_without_value_is_none() -> None:
    assert IncludeFile("f").resolve(None, base_dir="/") is None


def test_include_file_required(elsewhere: Path) -> None:
    with pytest.raises(
        ParameterError, match=r"Parameter \*config\* is required; give it as --config"
    ):
        IncludeFile("config", required=True).resolve(None, base_dir=str(elsewhere))


@pytest.mark.parametrize("path", ["missing.txt", "sub/missing.txt", "."])
def test_include_file_missing(elsewhere: Path, path: str) -> None:
    with pytest.raises(ParameterError) as excinfo:
        IncludeFile("config").resolve(path, base_dir=str(elsewhere))
    message = str(excinfo.value)
    assert f"IncludeFile *config*: no file at {path!r}" in message
    assert "--config PATH" in message


# -- parameters on a flow ---------------------------------------------------------------------


def _flow_with_parameters() -> type:
    class Params(FlowSpec):
        alpha = Parameter("alpha", default=0.5, help="learning rate")
        epochs = Parameter("num-epochs", default=3)
        notes = IncludeFile("notes", default="notes.txt")

        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    return Params


def test_flow_parameters_in_definition_order() -> None:
    flow = _flow_with_parameters()
    params = flow.parameters()
    assert list(params) == ["alpha", "epochs", "notes"]
    assert params["epochs"].name == "num-epochs"
    assert params["epochs"].attr == "epochs"
    assert isinstance(params["notes"], IncludeFile)
    # the class attribute is the Parameter itself
    assert flow.alpha is params["alpha"]


def test_inherited_parameters_come_first() -> None:
    base = _flow_with_parameters()

    class Child(base):  # type: ignore[misc, valid-type]
        beta = Parameter("beta", default=True)

    assert list(Child.parameters()) == ["alpha", "epochs", "notes", "beta"]


def test_parameter_is_read_only_on_a_flow_instance() -> None:
    flow = _flow_with_parameters()(use_cli=False)
    with pytest.raises(AttributeError) as excinfo:
        flow.alpha = 0.9
    message = str(excinfo.value)
    assert "Parameter *alpha* is read-only" in message
    assert "self.my_alpha" in message
    with pytest.raises(AttributeError, match=r"Parameter \*num-epochs\* is read-only"):
        flow.epochs = 4
    assert "alpha" not in vars(flow)
    # other artifacts can be assigned
    flow.my_alpha = 0.9
    assert flow.my_alpha == 0.9


def test_parameter_value_not_available_outside_a_run() -> None:
    flow = _flow_with_parameters()(use_cli=False)
    with pytest.raises(AttributeError, match=r"no attribute \*alpha\*.*only while a step runs"):
        _ = flow.alpha


def test_steps_cannot_be_assigned_on_an_instance() -> None:
    flow = _flow_with_parameters()(use_cli=False)
    with pytest.raises(AttributeError, match=r"self\.start is a step"):
        flow.start = 1
    with pytest.raises(AttributeError, match=r"self\.next is part of FlowSpec"):
        flow.next = 1


def test_parameters_do_not_touch_the_environment() -> None:
    """Defining parameters reads no files: IncludeFile's default is a path, read at run start."""
    before = set(os.listdir("."))
    _flow_with_parameters()
    assert set(os.listdir(".")) == before
