"""The ``airstep`` command: ``airstep run flow.py [...]``, the same as ``python flow.py run``."""

from __future__ import annotations

import argparse
import sys

from provider.exceptions import AirstepError
from provider.flow.loader import load_flow_class

USAGE = """airstep COMMAND FLOW_FILE [options]

  airstep run flow.py [--max-workers N] [--max-num-splits N] [--param value ...]
  airstep resume flow.py [STEP] [--origin-run-id ID]
  airstep show flow.py
  airstep check flow.py
"""


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="airstep", usage=USAGE, add_help=False, allow_abbrev=False
    )
    parser.add_argument("command", nargs="?")
    parser.add_argument("file", nargs="?")
    parser.add_argument("--flow")
    parser.add_argument("-h", "--help", action="store_true")
    known, rest = parser.parse_known_args(argv)
    if known.help and not known.file or not known.command or not known.file:
        print(USAGE)
        sys.exit(0 if known.help else 2)
    try:
        flow_cls = load_flow_class(known.file, known.flow)
    except AirstepError as exc:
        raise SystemExit(f"airstep: {exc}") from None
    from provider.local.cli import run_cli

    extra = ["--help"] if known.help else []
    sys.exit(
        run_cli(
            flow_cls, [known.command, *rest, *extra], prog=f"airstep {known.command} {known.file}"
        )
    )


if __name__ == "__main__":
    main()
