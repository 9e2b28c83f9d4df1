"""The command line, `symposia` (or `python run.py`): generation by default, plus subcommands.

    symposia --scenario multiparty [-n N] [--out DIR] [--seed S]   (= symposia generate ...)
    symposia --list-scenarios
    symposia {generate,evaluate,personas,inspect,report,export} --help

Each subcommand's module registers it with `add_parser(subparsers)`, which sets the `handler`
that runs it; handlers raise UserError for mistakes the user can fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agents.errors import UserError
from orchestrator.cli import generation

TRACEBACK_VARIABLE = "SYMPOSIA_TRACEBACK"


def build_parser(prog: str = "run.py") -> argparse.ArgumentParser:
    # The evaluation layer sits above orchestrator and imports it: its subcommands are imported
    # here, when a command line is built, never when orchestrator itself is imported.
    from evaluation import cli as evaluate
    from evaluation.browse import export, html_report, inspect
    from orchestrator.cli import personas

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Generate persona-grounded multi-party conversations with AutoGen agents, and measure, "
                    "inspect and export them. Without a subcommand, generates (the flags below).",
    )
    subparsers = parser.add_subparsers(title="subcommands (each has its own --help)", dest="subcommand",
                                       metavar="SUBCOMMAND")
    for module in (generation, evaluate, personas, inspect, html_report, export):
        module.add_parser(subparsers)
    generation.add_arguments(parser, title=f"generation (the default; {prog} generate takes the same flags)")
    # set after add_subparsers, which would otherwise make it every subcommand's usage prefix
    parser.usage = "%(prog)s [generation flags]\n       %(prog)s SUBCOMMAND [flags]"
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command line (default: this process's); the exit code: 0 done, 1 a run that ended
    short of its target, 2 a user mistake (one line on stderr), 70 a bug (one line; the traceback
    with SYMPOSIA_TRACEBACK=1), 130 interrupted."""
    if argv is None:
        argv = sys.argv[1:]
    prog = "symposia" if Path(sys.argv[0]).name == "symposia" else "run.py"
    args = build_parser(prog).parse_args(argv)
    handler = getattr(args, "handler", generation.handle)
    try:
        return int(handler(args))
    except UserError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # generation says itself what it kept
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not the user's input: still one line, unless asked for the traceback
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        print(f"error: unexpected {type(exc).__name__}: {one_line(str(exc))} (a bug in Symposia; "
              f"{TRACEBACK_VARIABLE}=1 shows the traceback)", file=sys.stderr)
        return 70  # EX_SOFTWARE


def one_line(message: str) -> str:
    """A message as the command line prints it: one line (a message listing several problems
    puts them on one line, `; `-separated)."""
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())
