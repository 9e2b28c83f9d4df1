"""`python run.py evaluate RUN_DIR [RUN_DIR ...] [--baseline chitchat] [--out DIR] [--no-judge]
[--judge-limit N] [--models FILE]`: measure runs (or JSONL files of conversation records),
write evaluation/ (report.md, metrics.json, PNG plots) and print one comparison table.

The measuring is evaluation/api.py's; it is imported when the command runs, so building the
command line stays cheap."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.errors import UserError
from evaluation.corpus import BASELINE_NAMES

HELP = "measure runs: statistics, MTLD, diversity, LLM judge"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `evaluate` on a command line's subparsers."""
    parser = subparsers.add_parser(
        "evaluate", help=HELP, description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        help="run directories or JSONL files of conversation records",
    )
    parser.add_argument(
        "--baseline", choices=BASELINE_NAMES, help="also measure a bundled human corpus"
    )
    parser.add_argument(
        "--baseline-limit",
        type=int,
        help="measure a seeded sample of N baseline conversations (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write here instead of RUN_DIR/evaluation (one sub-directory per input if several)",
    )
    parser.add_argument("--no-judge", action="store_true", help="skip the LLM judge")
    parser.add_argument(
        "--judge-limit", type=int, help="judge at most N conversations per input (default: all)"
    )
    parser.add_argument(
        "--models",
        help="model configuration YAML; the judge uses role 'judge' "
        "(default: scenarios/models/local.yaml)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for the judge engine and samples (default: 0)"
    )
    parser.set_defaults(handler=handle)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The `evaluate` parser on its own (prog "run.py evaluate")."""
    return add_parser(argparse.ArgumentParser(prog="run.py").add_subparsers())


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def handle(args: argparse.Namespace) -> int:
    from evaluation.api import evaluate_runs
    from evaluation.outputs import comparison_rows, text_table

    if not args.inputs and not args.baseline:
        raise UserError("evaluate: give at least one RUN_DIR or JSONL file, or --baseline chitchat")
    for flag in ("judge_limit", "baseline_limit"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')}: must be at least 1 (got {value})")
    metrics = evaluate_runs(
        args.inputs, baseline=args.baseline, baseline_limit=args.baseline_limit, judge=not args.no_judge,
        judge_limit=args.judge_limit, models=args.models, seed=args.seed, write=True, out=args.out, log=_log,
    )
    print(text_table(comparison_rows(metrics)))
    return 0


def main(argv: list[str]) -> int:
    return handle(build_parser().parse_args(argv))
