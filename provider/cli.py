"""The ``airstep`` command: ``airstep run flow.py [...]``, the same as ``python flow.py run``."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import sys

from provider.flow.spec import FlowSpec

USAGE = """airstep COMMAND FLOW_FILE [options]

  airstep run flow.py [--max-workers N] [--max-num-splits N] [--param value ...]
  airstep resume flow.py [STEP] [--origin-run-id ID]
  airstep show flow.py
  airstep check flow.py
"""


def load_flow(path: str, flow_name: str | None = None) -> type[FlowSpec]:
    """Import a flow file (not as ``__main__``) and return its FlowSpec subclass."""
    if not os.path.isfile(path):
        raise SystemExit(f"airstep: no flow file at {path!r}")
    module_name = "airstep_flow_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, os.path.abspath(path))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(module)
    flows = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, FlowSpec) and obj.__module__ == module_name
    ]
    if flow_name:
        flows = [f for f in flows if f.__name__ == flow_name]
    if len(flows) != 1:
        names = ", ".join(f.__name__ for f in flows) or "none"
        raise SystemExit(
            f"airstep: {path} must define exactly one flow (found {names}); "
            "pick one with --flow NAME"
        )
    return flows[0]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="airstep", usage=USAGE, add_help=False)
    parser.add_argument("command", nargs="?")
    parser.add_argument("file", nargs="?")
    parser.add_argument("--flow")
    parser.add_argument("-h", "--help", action="store_true")
    known, rest = parser.parse_known_args(argv)
    if known.help and not known.file or not known.command or not known.file:
        print(USAGE)
        sys.exit(0 if known.help else 2)
    flow_cls = load_flow(known.file, known.flow)
    from provider.local.cli import run_cli

    extra = ["--help"] if known.help else []
    sys.exit(
        run_cli(
            flow_cls, [known.command, *rest, *extra], prog=f"airstep {known.command} {known.file}"
        )
    )


if __name__ == "__main__":
    main()
