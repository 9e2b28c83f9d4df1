#!/usr/bin/env python3
"""Symposia command line: parse, load configuration, call the orchestrator.

    python run.py --scenario multiparty [--num-conversations N] [--out DIR] [--seed S]
    python run.py --list-scenarios
    python run.py SUBCOMMAND ...   (see SUBCOMMANDS)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from agents.errors import UserError

# Subcommands live next to the code they drive; each module exposes main(argv) -> exit code
# and raises UserError for user mistakes.
SUBCOMMANDS = {
    "evaluate": "evaluation.cli",
    "personas": "orchestrator.cli.personas",
    "inspect": "evaluation.browse.inspect",
    "report": "evaluation.browse.html_report",
    "export": "evaluation.browse.export",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Generate persona-grounded multi-party conversations with AutoGen agents.",
    )
    parser.add_argument("--scenario", default="multiparty", help="scenario name in scenarios/ or a YAML path (default: multiparty)")
    parser.add_argument("--num-conversations", "-n", type=int,
                        help="conversations to write; with critics, ACCEPTED conversations (default: the scenario's)")
    parser.add_argument("--iterations", type=int,
                        help="Generator-Critic iterations (default: the scenario's critics.iterations)")
    parser.add_argument("--max-candidates", type=int,
                        help="budget: candidate conversations to attempt at most "
                             "(default: critics.budget_per_conversation*K*N)")
    parser.add_argument("--max-tokens", type=int,
                        help="budget: tokens to spend at most, all roles (default: critics.max_tokens)")
    parser.add_argument("--no-critics", action="store_true",
                        help="disable the critic panel: every generated conversation is kept")
    parser.add_argument("--out", type=Path, help="run directory (default: runs/<scenario>-<timestamp>)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    parser.add_argument("--models", help="model configuration YAML (default: scenarios/models/local.yaml)")
    parser.add_argument("--few-shot", choices=("fixed", "iterative"), help="override the scenario's few-shot hub mode")
    parser.add_argument("--concurrency", type=int, default=None, help="conversations in flight (default: 1)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue an interrupted run: keeps its records, hub and seeds; other flags but "
                             "--concurrency are taken from its manifest")
    parser.add_argument("--max-failures", type=int,
                        help="failed conversations are replaced until this many failed (default: max(10, N))")
    parser.add_argument("--executor", choices=("local", "ray"), default=None,
                        help="where jobs run: local (asyncio here, default) or ray (actors on a Ray cluster)")
    parser.add_argument("--workers", type=int, default=None,
                        help="ray: actors, each with its own models and --concurrency jobs in flight (default: 2)")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="ray: join this cluster (e.g. auto, or HOST:6379); default: start a local one")
    parser.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")
    return parser


def list_scenarios() -> int:
    from orchestrator.config import available_scenarios, load_scenario

    for name in available_scenarios():
        scenario, _ = load_scenario(name)
        print(f"{name:<24} {scenario.description}")
    return 0


def generate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from orchestrator.config import load_models, load_scenario
    from orchestrator.cli.console import ProgressDisplay, print_summary
    from orchestrator.driver import execute_run
    from orchestrator.prepare import RunRequest, prepare_run

    if args.num_conversations is not None and args.num_conversations < 1:
        raise UserError(f"--num-conversations: must be at least 1 (got {args.num_conversations})")
    if args.concurrency is not None and args.concurrency < 1:
        raise UserError(f"--concurrency: must be at least 1 (got {args.concurrency})")
    if args.max_failures is not None and args.max_failures < 1:
        raise UserError(f"--max-failures: must be at least 1 (got {args.max_failures})")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: must be at least 1 (got {args.workers})")
    if (args.workers is not None or args.ray_address) and (args.executor or "local") != "ray" and not args.resume:
        raise UserError("--workers/--ray-address: only with --executor ray")
    if args.resume:
        request, hub_mode = resume_request(args)
    else:
        scenario, scenario_path = load_scenario(args.scenario)
        scenario = apply_critic_flags(scenario, args)
        models, models_path = load_models(args.models)
        out = args.out or Path("runs") / f"{scenario.name}-{datetime.now():%Y%m%d-%H%M%S}"
        request = RunRequest(
            scenario=scenario, scenario_path=scenario_path, models=models, models_path=models_path,
            num_conversations=args.num_conversations or scenario.num_conversations, out_dir=out,
            seed=args.seed, concurrency=args.concurrency or 1, command_line=tuple(sys.argv),
            max_failures=args.max_failures, executor=args.executor or "local",
            workers=args.workers or (2 if args.executor == "ray" else 1), ray_address=args.ray_address,
        )
        hub_mode = args.few_shot
    prepared = prepare_run(request, hub_mode=hub_mode)
    console = Console(stderr=True)
    with ProgressDisplay(request.num_conversations, console) as display:
        summary = asyncio.run(execute_run(prepared, display.update))
    print_summary(summary, console)
    return 0 if summary.written else 1


def resume_request(args: argparse.Namespace) -> tuple[Any, Any]:
    """The interrupted run's request, from its manifest; only where and how widely it runs
    (--concurrency, --executor, --workers, --ray-address) may change."""
    from orchestrator.store.resume import resume_settings
    from orchestrator.prepare import RunRequest

    settings = resume_settings(args.resume)
    hub_mode = settings.pop("few_shot_mode")
    overrides = {"concurrency": args.concurrency, "executor": args.executor, "workers": args.workers,
                 "ray_address": args.ray_address}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if args.executor == "local" and args.ray_address is None:
        settings["ray_address"] = None
    return RunRequest(out_dir=args.resume, command_line=tuple(sys.argv), resume=True, **settings), hub_mode


def apply_critic_flags(scenario: Any, args: argparse.Namespace) -> Any:
    """--iterations / --max-candidates / --max-tokens / --no-critics override the scenario's critics."""
    flags = {"iterations": args.iterations, "max_candidates": args.max_candidates, "max_tokens": args.max_tokens}
    for flag, value in flags.items():
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')}: must be at least 1 (got {value})")
    critics = scenario.critics
    if args.no_critics:
        return scenario.model_copy(update={"critics": None})
    overrides = {k: v for k, v in flags.items() if v is not None}
    if overrides and critics is None:
        flag = next(iter(overrides)).replace("_", "-")
        raise UserError(f"--{flag}: scenario '{scenario.name}' has no critics section to run")
    if overrides:
        from orchestrator.config import CriticsConfig

        # Asking for iterations or a budget turns a disabled panel on.
        critics = CriticsConfig.model_validate({**critics.model_dump(), **overrides, "enabled": True})
        return scenario.model_copy(update={"critics": critics})
    return scenario


def run_subcommand(name: str, argv: list[str]) -> int:
    import importlib

    module = importlib.import_module(SUBCOMMANDS[name])
    return int(module.main(argv))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return run_subcommand(argv[0], argv[1:])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        if args.list_scenarios:
            return list_scenarios()
        return generate(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: records written so far are complete and kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
