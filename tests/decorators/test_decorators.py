"""Step and flow decorators: bad values fail at import time, naming the step, the value and
the fix; good values are kept as given."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from provider import (
    FlowSpec,
    InvalidDecoratorError,
    batch,
    catch,
    environment,
    kubernetes,
    resources,
    retry,
    schedule,
    step,
    timeout,
)
from provider.decorators.base import StepDecorator


def decorate(deco: Callable[..., Any], name: str = "train", **attributes: Any) -> Any:
    """Apply ``@deco(**attributes)`` above ``@step`` to a fresh step called ``name``."""

    def func(self: Any) -> None:
        pass

    func.__name__ = func.__qualname__ = name
    return deco(**attributes)(step(func))


def attached(func: Any) -> StepDecorator:
    (decorator,) = func.decorators
    return decorator


def decorator_error(deco: Callable[..., Any], name: str = "train", **attributes: Any) -> str:
    with pytest.raises(InvalidDecoratorError) as excinfo:
        decorate(deco, name, **attributes)
    message = str(excinfo.value)
    assert f"@{deco.__name__} on step *{name}*" in message, message
    return message


# -- invalid values: each names the decorator, the step, the attribute and its value ----------


@pytest.mark.parametrize(
    ("deco", "attributes", "parts"),
    [
        (resources, {"gpu": -1}, ["gpu=-1", "whole number >= 0"]),
        (resources, {"gpu": 1.5}, ["gpu=1.5", "whole number"]),
        (resources, {"gpu": "1.5"}, ["gpu='1.5'", "whole number"]),
        (resources, {"cpu": 0}, ["cpu=0", "number > 0"]),
        (resources, {"cpu": -0.5}, ["cpu=-0.5", "number > 0"]),
        (resources, {"cpu": True}, ["cpu=True", "give a number"]),
        (resources, {"memory": "lots"}, ["memory='lots'", "whole number"]),
        (resources, {"memory": 0}, ["memory=0", "whole number > 0"]),
        (resources, {"memory": 1024.5}, ["memory=1024.5", "whole number"]),
        (resources, {"memory": float("inf")}, ["memory=inf", "finite"]),
        (resources, {"cpu": float("nan")}, ["cpu=nan", "finite"]),
        (resources, {"disk": [10]}, ["disk=[10]", "whole number"]),
        (timeout, {"seconds": 0}, ["seconds=0", "longer than 0", "@timeout(minutes=10)"]),
        (timeout, {"seconds": -1}, ["seconds=-1", "number >= 0"]),
        (timeout, {"minutes": "ten"}, ["minutes='ten'", "give a number"]),
        (timeout, {"hours": float("inf")}, ["hours=inf", "finite"]),
        (retry, {"times": -1}, ["times=-1", "whole number >= 0"]),
        (retry, {"times": True}, ["times=True", "whole number"]),
        (retry, {"times": 2.5}, ["times=2.5", "whole number"]),
        (retry, {"times": 1000}, ["times=1000", "at most 100"]),
        (retry, {"times": None}, ["times=None", "give a number"]),
        (retry, {"minutes_between_retries": -2}, ["minutes_between_retries=-2", ">= 0"]),
        (catch, {"var": "not an identifier"}, ["var='not an identifier'", "var='error'"]),
        (catch, {"var": 3}, ["var=3", "artifact name"]),
        (catch, {"print_exception": "yes"}, ["print_exception='yes'", "True or False"]),
        (environment, {"vars": ["A=1"]}, ["vars=['A=1']", "dict of names to values"]),
        (environment, {"vars": {"A=B": "1"}}, ["'A=B' is not a valid variable name"]),
        (environment, {"vars": {"": "1"}}, ["'' is not a valid variable name"]),
        (environment, {"vars": {"A": [1]}}, ["the value of A must be a string", "[1]"]),
        (kubernetes, {"gpu_vendor": "intel"}, ["gpu_vendor='intel'", "'nvidia' or 'amd'"]),
        (
            kubernetes,
            {"image_pull_policy": "Sometimes"},
            ["image_pull_policy='Sometimes'", "'Always', 'IfNotPresent' or 'Never'"],
        ),
        (
            kubernetes,
            {"node_selector": "a=b,c"},
            ["node_selector='a=b,c'", "'key=value,key2=value2' or a dict"],
        ),
        (kubernetes, {"node_selector": {"a": 1}}, ["node_selector={'a': 1}", "dict of strings"]),
        (kubernetes, {"tolerations": "x"}, ["tolerations='x'", "list of dicts"]),
        (kubernetes, {"tolerations": ["x"]}, ["tolerations=['x']", "list of dicts"]),
        (kubernetes, {"secrets": [1]}, ["secrets=[1]", "list of names"]),
        (kubernetes, {"namespace": 5}, ["namespace=5", "a string"]),
        (kubernetes, {"use_tmpfs": "yes"}, ["use_tmpfs='yes'", "True or False"]),
        (kubernetes, {"gpu": -1}, ["gpu=-1", ">= 0"]),
        (kubernetes, {"cpu": 0}, ["cpu=0", "> 0"]),
        (kubernetes, {"image": 3}, ["image=3", "'python:3.11'"]),
        (kubernetes, {"port": 0}, ["port=0", "> 0"]),
        (batch, {"swappiness": 200}, ["swappiness=200", "from 0 to 100"]),
        (batch, {"swappiness": -1}, ["swappiness=-1", ">= 0"]),
        (batch, {"ephemeral_storage": 5}, ["ephemeral_storage=5", "whole number >= 21"]),
        (batch, {"queue": 1}, ["queue=1", "a string"]),
        (batch, {"privileged": "no"}, ["privileged='no'", "True or False"]),
        (batch, {"tags": {"team": 1}}, ["tags={'team': 1}", "dict of strings"]),
        (batch, {"memory": "big"}, ["memory='big'", "whole number"]),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_invalid_value(deco: Callable[..., Any], attributes: dict, parts: list[str]) -> None:
    message = decorator_error(deco, **attributes)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize("deco", [retry, timeout, catch, resources, environment, kubernetes, batch])
def test_unknown_keyword(deco: Callable[..., Any]) -> None:
    message = decorator_error(deco, name="fit", colour="red")
    assert "unknown argument(s) colour" in message
    # the fix: the list of accepted arguments
    accepted = deco.decorator_class.defaults  # type: ignore[attr-defined]
    assert f"it accepts: {', '.join(sorted(accepted))}." in message


def test_unknown_keywords_are_all_named() -> None:
    message = decorator_error(retry, times=2, tims=3, wait=1)
    assert "unknown argument(s) tims, wait" in message


def test_timeout_zero_names_the_given_key() -> None:
    message = decorator_error(timeout, minutes=0)
    assert "minutes=0" in message
    # bare @timeout is 0 seconds: refused as well
    with pytest.raises(InvalidDecoratorError, match=r"\*train\*: seconds=0 is invalid"):

        @timeout
        @step
        def train(self: Any) -> None:
            pass


# -- placement and form -----------------------------------------------------------------------


@pytest.mark.parametrize("deco", [retry, timeout, catch, resources, environment, kubernetes, batch])
def test_decorator_below_step(deco: Callable[..., Any]) -> None:
    name = deco.__name__
    with pytest.raises(InvalidDecoratorError) as excinfo:

        @step
        @deco
        def train(self: Any) -> None:
            pass

    message = str(excinfo.value)
    assert f"@{name} is applied to *train*, which is not a step" in message
    assert f"place @{name} above @step" in message


def test_decorator_on_plain_function_called_form() -> None:
    with pytest.raises(
        InvalidDecoratorError, match=r"@retry is applied to \*helper\*.*above @step"
    ):

        @retry(times=2)
        def helper(self: Any) -> None:
            pass


def test_same_decorator_twice() -> None:
    with pytest.raises(InvalidDecoratorError) as excinfo:

        @retry(times=1)
        @retry(times=2)
        @step
        def train(self: Any) -> None:
            pass

    assert str(excinfo.value) == "@retry is applied twice to step *train*; keep one."


def test_step_twice() -> None:
    with pytest.raises(InvalidDecoratorError, match=r"@step is applied twice to step \*train\*"):

        @step
        @step
        def train(self: Any) -> None:
            pass


def test_step_on_non_function() -> None:
    with pytest.raises(InvalidDecoratorError, match=r"@step must decorate a method, got 3"):
        step(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("deco", "positional", "fix"),
    [
        (retry, 3, "@retry(times=...)"),
        (timeout, 60, "@timeout(seconds=...)"),
        (environment, {"A": "1"}, "@environment(vars=...)"),
        (resources, "2", "@resources(cpu=...)"),
    ],
)
def test_positional_arguments_refused(deco: Callable[..., Any], positional: Any, fix: str) -> None:
    with pytest.raises(InvalidDecoratorError) as excinfo:
        deco(positional)
    message = str(excinfo.value)
    assert f"@{deco.__name__} takes keyword arguments only, got {positional!r}" in message
    assert fix in message


def test_positional_with_keywords_refused() -> None:
    with pytest.raises(InvalidDecoratorError, match="keyword arguments only, got 3"):
        retry(3, minutes_between_retries=1)


# -- valid values -----------------------------------------------------------------------------


def test_bare_retry_uses_defaults() -> None:
    @retry
    @step
    def train(self: Any) -> None:
        pass

    deco = attached(train)
    assert deco.name == "retry"
    assert deco.step_name == "train"
    assert deco.attributes == {"times": 3, "minutes_between_retries": 2}
    assert deco.explicit == frozenset()
    assert repr(deco) == "@retry()"


def test_called_without_arguments_is_like_bare() -> None:
    deco = attached(decorate(retry))
    assert deco.attributes == {"times": 3, "minutes_between_retries": 2}
    assert deco.explicit == frozenset()


def test_explicit_records_only_user_given_keys() -> None:
    deco = attached(decorate(retry, times=5))
    assert deco.explicit == frozenset({"times"})
    assert deco.attributes == {"times": 5, "minutes_between_retries": 2}
    assert repr(deco) == "@retry(times=5)"

    res = attached(decorate(resources, gpu=1, memory=2048))
    assert res.explicit == frozenset({"gpu", "memory"})
    assert res.attributes["cpu"] == 1  # default, not explicit
    # a default given explicitly counts as explicit
    same = attached(decorate(retry, times=3))
    assert same.explicit == frozenset({"times"})


def test_fractional_cpu_stays_fractional() -> None:
    deco = attached(decorate(resources, cpu=0.5))
    assert deco.attributes["cpu"] == 0.5
    assert isinstance(deco.attributes["cpu"], float)
    k8s = attached(decorate(kubernetes, cpu=0.25))
    assert k8s.attributes["cpu"] == 0.25


def test_numeric_strings_are_converted() -> None:
    deco = attached(decorate(resources, cpu="0.5", memory="2048", gpu="1"))
    assert deco.attributes["cpu"] == 0.5
    assert deco.attributes["memory"] == 2048 and isinstance(deco.attributes["memory"], int)
    assert deco.attributes["gpu"] == 1


def test_zero_gpu_allowed() -> None:
    assert attached(decorate(resources, gpu=0)).attributes["gpu"] == 0
    assert attached(decorate(kubernetes, gpu=0)).attributes["gpu"] == 0
    assert attached(decorate(batch, gpu=0)).attributes["gpu"] == 0


def test_retry_zero_times_allowed() -> None:
    assert attached(decorate(retry, times=0)).attributes["times"] == 0


def test_timeout_total_seconds() -> None:
    deco = attached(decorate(timeout, hours=1, minutes=2, seconds=3))
    assert deco.total_seconds == 3723.0  # type: ignore[attr-defined]
    assert attached(decorate(timeout, minutes=0.5)).total_seconds == 30.0  # type: ignore[attr-defined]


def test_catch_values() -> None:
    assert attached(decorate(catch)).attributes == {"var": None, "print_exception": True}
    assert attached(decorate(catch, var="error")).attributes["var"] == "error"


def test_environment_values_become_strings() -> None:
    deco = attached(decorate(environment, vars={"N": 3, "ON": True, "X": 0.5, "S": "s"}))
    assert deco.attributes["vars"] == {"N": "3", "ON": "True", "X": "0.5", "S": "s"}


def test_kubernetes_node_selector_string_is_parsed() -> None:
    deco = attached(decorate(kubernetes, node_selector="a=b, c = d"))
    assert deco.attributes["node_selector"] == {"a": "b", "c": "d"}
    deco = attached(decorate(kubernetes, node_selector="a=b,c=d"))
    assert deco.attributes["node_selector"] == {"a": "b", "c": "d"}
    # a value may itself contain "="
    deco = attached(decorate(kubernetes, node_selector="k=v=w"))
    assert deco.attributes["node_selector"] == {"k": "v=w"}


def test_kubernetes_valid_values() -> None:
    deco = attached(
        decorate(
            kubernetes,
            gpu_vendor="amd",
            image_pull_policy="IfNotPresent",
            secrets="one-secret",
            tolerations=[{"key": "gpu", "operator": "Exists"}],
            labels={"team": "ml"},
        )
    )
    a = deco.attributes
    assert a["gpu_vendor"] == "amd"
    assert a["secrets"] == ["one-secret"]  # a single name becomes a list
    assert a["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert a["use_tmpfs"] is False and a["tmpfs_path"] == "/airstep_tmp"


def test_batch_valid_values() -> None:
    a = attached(decorate(batch, swappiness=60, ephemeral_storage=21, queue="q")).attributes
    assert (a["swappiness"], a["ephemeral_storage"], a["queue"]) == (60, 21, "q")
    assert attached(decorate(batch, swappiness=0)).attributes["swappiness"] == 0
    assert attached(decorate(batch, swappiness=100)).attributes["swappiness"] == 100


def test_several_decorators_stack() -> None:
    @retry(times=1)
    @timeout(minutes=5)
    @resources(cpu=2)
    @step
    def train(self: Any) -> None:
        pass

    assert [d.name for d in train.decorators] == ["resources", "timeout", "retry"]
    assert all(d.step_name == "train" for d in train.decorators)


# -- @schedule --------------------------------------------------------------------------------


def _flow(name: str = "Nightly") -> type:
    def start(self: Any) -> None:
        self.next(self.end)

    def end(self: Any) -> None:
        pass

    return type(name, (FlowSpec,), {"start": step(start), "end": step(end)})


def test_schedule_cron() -> None:
    flow = schedule(cron=" 0 3 * * * ", timezone="Europe/Paris")(_flow())
    assert flow._schedule == {"schedule": "0 3 * * *", "timezone": "Europe/Paris"}


@pytest.mark.parametrize("flag", ["hourly", "daily", "weekly"])
def test_schedule_flags(flag: str) -> None:
    flow = schedule(**{flag: True})(_flow())
    assert flow._schedule == {"schedule": f"@{flag}", "timezone": None}


def test_schedule_bare_and_empty_are_daily() -> None:
    assert schedule(_flow())._schedule["schedule"] == "@daily"
    assert schedule()(_flow())._schedule["schedule"] == "@daily"


def test_schedule_does_not_leak_to_other_flows() -> None:
    schedule(hourly=True)(_flow("Scheduled"))
    assert _flow("Plain")._schedule is None


def test_schedule_two_at_once() -> None:
    with pytest.raises(InvalidDecoratorError) as excinfo:
        schedule(daily=True, cron="0 3 * * *")(_flow())
    message = str(excinfo.value)
    assert "@schedule on flow *Nightly* sets daily, cron" in message
    assert "choose one of cron, hourly, daily, weekly" in message

    with pytest.raises(InvalidDecoratorError, match=r"sets hourly, weekly; choose one"):
        schedule(hourly=True, weekly=True)(_flow())


def test_schedule_unknown_keyword() -> None:
    with pytest.raises(InvalidDecoratorError) as excinfo:
        schedule(monthly=True)(_flow())
    message = str(excinfo.value)
    assert "@schedule on flow *Nightly* got unknown argument(s) monthly" in message
    assert "it accepts: cron, hourly, daily, weekly, timezone" in message


@pytest.mark.parametrize("cron", ["", "   ", 5])
def test_schedule_bad_cron(cron: Any) -> None:
    with pytest.raises(InvalidDecoratorError) as excinfo:
        schedule(cron=cron)(_flow())
    message = str(excinfo.value)
    assert f"@schedule on flow *Nightly*: cron={cron!r} is invalid" in message
    assert "'0 3 * * *'" in message


@pytest.mark.parametrize("positional", ["0 3 * * *", 3])
def test_schedule_positional_refused(positional: Any) -> None:
    with pytest.raises(InvalidDecoratorError, match=re.escape("@schedule(daily=True)")):
        schedule(positional)


def test_schedule_on_a_class_body() -> None:
    @schedule(cron="*/5 * * * *")
    class Every5(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert Every5._schedule == {"schedule": "*/5 * * * *", "timezone": None}
    assert Every5.graph().sorted_steps == ["start", "end"]
