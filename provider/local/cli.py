"""The flow's command line: ``python flow.py run|resume|show``.

``MyFlow()`` under ``if __name__ == "__main__":`` lands here, as in Metaflow.
Parameters become ``--name value`` options of ``run``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from typing import Any, NoReturn

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.ids import check_run_id
from provider.exceptions import AirstepError, FlowDefinitionError, ParameterError, RunFailed
from provider.flow.config import Config, set_config_sources
from provider.flow.parameters import JSONType
from provider.flow.project import BRANCH_ENV, PRODUCTION_ENV, project_info
from provider.flow.spec import FlowSpec
from provider.local.cards import add_card_commands, run_card_command
from provider.local.scheduler import LocalRun, new_run_id
from provider.settings import option

#: ``--max-num-parallel`` overrides this option for the run and its tasks
MAX_NUM_PARALLEL = option("max_num_parallel")


def build_parser(flow_cls: type[FlowSpec], prog: str | None = None) -> argparse.ArgumentParser:
    doc = (flow_cls.__doc__ or "").strip()
    # no abbreviations: a parameter --n must not be read as --not-quiet, nor --max as --max-workers
    parser = argparse.ArgumentParser(
        prog=prog, description=doc or f"The flow {flow_cls.__name__}.", allow_abbrev=False
    )
    for flags in (("--quiet", "--not-quiet"), ("--pylint", "--no-pylint")):
        for flag in flags:  # Metaflow's top-level switches, so its command lines work as-is
            parser.add_argument(flag, action="store_true", help="accepted; has no effect")
    parser.add_argument(
        "--branch", help="@project: run on branch test.BRANCH (prod.BRANCH with --production)"
    )
    parser.add_argument(
        "--production", action="store_true", help="@project: run on the production branch"
    )
    parser.add_argument(
        "--config",
        nargs=2,
        action="append",
        default=[],
        dest="config_files",
        metavar=("NAME", "PATH"),
        help="read Config NAME from the file at PATH (repeatable)",
    )
    parser.add_argument(
        "--config-value",
        nargs=2,
        action="append",
        default=[],
        dest="config_values",
        metavar=("NAME", "JSON"),
        help="give Config NAME as a JSON value (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    names = {p.name for p in flow_cls.parameters().values()}

    def executor_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--max-workers", type=int, default=16, help="tasks running at once (default 16)"
        )
        p.add_argument(
            "--max-num-splits",
            type=int,
            default=100,
            help="the widest foreach allowed (default 100)",
        )
        p.add_argument(
            "--process-per-task",
            action="store_true",
            help="start every task in a fresh process (by default a process of a foreach "
            "body may run more tasks of its step, one after another, until one fails)",
        )
        p.add_argument(
            "--max-num-parallel",
            type=int,
            help="the most nodes a gang (num_parallel) may have (default "
            f"{MAX_NUM_PARALLEL.where}, else {MAX_NUM_PARALLEL.default})",
        )
        if {"tag", "run-id-file"} & names:  # a parameter of that name keeps its option
            p.set_defaults(tags=[], run_id_file=None)
            return
        p.add_argument(
            "--tag",
            dest="tags",
            action="append",
            default=[],
            metavar="TAG",
            help="tag the run (repeatable); read back as Run(...).tags",
        )
        p.add_argument("--run-id-file", metavar="PATH", help="write the run id to this file")

    run = commands.add_parser("run", help="run the flow on this machine", allow_abbrev=False)
    executor_options(run)
    run.add_argument("--run-id", help="use this run id instead of a new one")
    group = run.add_argument_group("parameters")
    for param in flow_cls.parameters().values():
        if isinstance(param, Config):  # given before the command: --config NAME PATH
            continue
        kind = "JSON" if param.type is JSONType else param.type.__name__
        default = f" (default {param.default!r})" if param.show_default else ""
        if param.default_ref is not None:  # known once the configs are read
            kind, default = "value", f" (default {param.default_ref!r})"
        required = " (required)" if param.required and param.default is None else ""
        extra: dict[str, Any] = {"nargs": "?", "const": "true"} if param.type is bool else {}
        group.add_argument(
            f"--{param.name}",
            dest=f"param:{param.name}",
            metavar=kind.upper(),
            help=f"{param.help}{default}{required}",
            **extra,
        )

    resume = commands.add_parser(
        "resume", help="re-run a failed run, reusing its finished tasks", allow_abbrev=False
    )
    executor_options(resume)
    resume.add_argument("step", nargs="?", help="re-run from this step on (default: what failed)")
    resume.add_argument("--origin-run-id", help="the run to resume (default: the latest run)")

    commands.add_parser("show", help="describe the flow's steps", allow_abbrev=False)
    commands.add_parser("check", help="validate the flow without running it", allow_abbrev=False)
    add_card_commands(commands)
    return parser


def main(flow_cls: type[FlowSpec], argv: list[str] | None = None) -> NoReturn:
    sys.exit(run_cli(flow_cls, argv))


def run_cli(
    flow_cls: type[FlowSpec], argv: list[str] | None = None, prog: str | None = None
) -> int:
    parser = build_parser(flow_cls, prog)
    args = parser.parse_args(argv)
    if getattr(args, "max_num_parallel", None) is not None:
        if args.max_num_parallel < 1:
            parser.error("--max-num-parallel must be at least 1")
        # for the graph and the tasks: the variable settings read first, so this flag wins
        os.environ[MAX_NUM_PARALLEL.airflow_env_var] = str(args.max_num_parallel)
    try:
        _choose_deployment(flow_cls, args)
        graph = flow_cls.graph()
        info = project_info(flow_cls) if args.command in ("run", "resume", "check") else None
        if info is not None:
            print(f"Project: {info.project_name}, Branch: {info.branch_name}", file=sys.stderr)
        if args.command == "show":
            print(graph.describe())
            return 0
        if args.command == "check":
            print(f"Flow {flow_cls.__name__} is valid: {len(graph.nodes)} steps.")
            return 0
        if args.command == "card":
            return run_card_command(FlowDataStore(flow_cls.__name__), args)
        if args.max_num_splits < 1 or args.max_workers < 1:
            parser.error("--max-workers and --max-num-splits must be at least 1")
        store = FlowDataStore(flow_cls.__name__)
        options: dict[str, Any] = {}
        if args.command == "run":
            given = {  # by the parameter's name, as the trigger form's values are
                key.split(":", 1)[1]: value
                for key, value in vars(args).items()
                if key.startswith("param:") and value is not None
            }
            params = {**parameters_from_environment(flow_cls), **given}
            for param in flow_cls.parameters().values():  # fail before anything runs
                param.resolve(params.get(param.name), base_dir=_flow_dir(flow_cls))
            options.update(params=params)
        else:
            if args.step and args.step not in graph:
                parser.error(f"resume: the flow has no step {args.step!r}")
            options.update(
                origin_run_id=args.origin_run_id or _latest_run(store), resume_step=args.step
            )
        run_id = check_run_id(
            (args.run_id if args.command == "run" else None) or new_run_id(), flow_cls.__name__
        )
        if args.run_id_file:
            with open(args.run_id_file, "w") as f:
                f.write(run_id)
        LocalRun(
            flow_cls,
            store=store,
            run_id=run_id,
            max_workers=args.max_workers,
            max_num_splits=args.max_num_splits,
            reuse_processes=False if args.process_per_task else None,
            tags=tuple(sorted(set(args.tags))),
            **options,
        ).run()
        return 0
    except RunFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    except AirstepError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


#: where a parameter not given on the command line is looked up, first to last
ENV_PREFIXES = ("AIRSTEP_RUN_", "METAFLOW_RUN_")


def parameters_from_environment(flow_cls: type[FlowSpec]) -> dict[str, str]:
    """Parameters given as ``AIRSTEP_RUN_<NAME>`` or Metaflow's ``METAFLOW_RUN_<NAME>``
    (the name upper-cased, dashes as underscores), by parameter name; airstep's name wins."""
    found = {}
    for param in flow_cls.parameters().values():
        if isinstance(param, Config):
            continue
        for prefix in ENV_PREFIXES:
            var = prefix + param.name.replace("-", "_").upper()
            if var in os.environ:
                try:
                    param.convert(os.environ[var])
                except ParameterError as exc:
                    raise ParameterError(
                        f"{exc} The value comes from ${var}: fix it, or unset it."
                    ) from None
                found[param.name] = os.environ[var]
                break
    return found


def _choose_deployment(flow_cls: type[FlowSpec], args: argparse.Namespace) -> None:
    """Configs and the @project branch from the command line, before the graph is built."""
    set_config_sources(flow_cls, dict(args.config_files), dict(args.config_values))
    project = getattr(flow_cls, "_project", None)
    if project is None and (args.branch or args.production):
        option = "--branch" if args.branch else "--production"
        raise FlowDefinitionError(
            f"Flow *{flow_cls.__name__}* has no @project, so {option} has nothing to choose; "
            "add @project(name=...) to the flow, or drop the option."
        )
    fixed = project or {}
    for option, given in (("branch", args.branch), ("production", args.production or None)):
        if given is not None and fixed.get(option) not in (None, given):
            raise FlowDefinitionError(
                f"Flow *{flow_cls.__name__}* sets @project({option}={fixed[option]!r}) and the "
                f"command line gives --{option}{' ' + given if option == 'branch' else ''}; "
                "drop one of them."
            )
    # the environment carries the choice to every task process of the run
    if args.branch:
        os.environ[BRANCH_ENV[0]] = args.branch
    if args.production:
        os.environ[PRODUCTION_ENV[0]] = "1"


def _flow_dir(flow_cls: type[FlowSpec]) -> str:
    return os.path.dirname(os.path.abspath(inspect.getfile(flow_cls)))


def _latest_run(store: FlowDataStore) -> str:
    runs = [(r.created_at, run_id) for run_id in store.list_runs() if (r := store.read_run(run_id))]
    if not runs:
        raise AirstepError(
            f"There is no earlier run of {store.flow_name} in {store.root} to resume; "
            "start one with `run`."
        )
    return max(runs)[1]
