"""Generation on the command line: `run.py [generate] --scenario multiparty -n N ...`, the default
when no subcommand is given, and `--list-scenarios`.

Its flags sit both on the root parser (so `run.py --scenario X` keeps working) and on the
`generate` subcommand. The work is imported when it runs, so building the command line is cheap.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from agents.errors import UserError

HELP = "generate conversations (the default subcommand)"


def add_arguments(parser: argparse.ArgumentParser, *, title: str | None = None) -> None:
    """The generation flags, in an argument group called `title` when one is given."""
    group: Any = parser.add_argument_group(title) if title else parser
    group.add_argument("--scenario", default="multiparty",
                       help="scenario name in scenarios/ or a YAML path (default: multiparty)")
    group.add_argument("--num-conversations", "-n", type=int,
                       help="conversations to write; with critics, ACCEPTED conversations (default: the scenario's)")
    group.add_argument("--iterations", type=int,
                       help="Generator-Critic iterations (default: the scenario's critics.iterations)")
    group.add_argument("--max-candidates", type=int,
                       help="budget: candidate conversations to attempt at most (default: 2*K*N)")
    group.add_argument("--max-tokens", type=int,
                       help="budget: tokens to spend at most, all roles (default: critics.max_tokens)")
    group.add_argument("--no-critics", action="store_true",
                       help="disable the critic panel: every generated conversation is kept")
    group.add_argument("--out", type=Path, help="run directory (default: runs/<scenario>-<timestamp>)")
    group.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    group.add_argument("--models", help="model configuration YAML (default: scenarios/models/local.yaml)")
    group.add_argument("--few-shot", choices=("fixed", "iterative"), help="override the scenario's few-shot hub mode")
    group.add_argument("--concurrency", type=int, default=None, help="conversations in flight (default: 1)")
    group.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue an interrupted run: keeps its records, hub and seeds; other flags but "
                            "--concurrency are taken from its manifest")
    group.add_argument("--retry-failed", action="store_true",
                       help="with --resume: run the failed conversations' indices again (their failure records move "
                            "to failures.retried.jsonl), with a fresh failure budget")
    group.add_argument("--max-failures", type=int,
                       help="failed conversations are replaced until this many failed (default: max(10, N))")
    group.add_argument("--executor", choices=("local", "ray"), default=None,
                       help="where jobs run: local (asyncio here, default) or ray (actors on a Ray cluster)")
    group.add_argument("--workers", type=int, default=None,
                       help="ray: actors, each with its own models and --concurrency jobs in flight (default: 2)")
    group.add_argument("--ray-address", metavar="ADDR",
                       help="ray: join this cluster (e.g. auto, or HOST:6379); default: start a local one")
    group.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `generate` on a command line's subparsers."""
    parser = subparsers.add_parser(
        "generate", help=HELP,
        description="Generate persona-grounded multi-party conversations with AutoGen agents.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=handle)
    return parser


def handle(args: argparse.Namespace) -> int:
    if args.list_scenarios:
        return list_scenarios()
    try:
        return generate(args)
    except KeyboardInterrupt:
        print("interrupted: records written so far are complete and kept", file=sys.stderr)
        return 130


def list_scenarios() -> int:
    from orchestrator.config import available_scenarios, load_scenario

    for name in available_scenarios():
        scenario, _ = load_scenario(name)
        print(f"{name:<24} {scenario.description}")
    return 0


def generate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from orchestrator.cli.console import ProgressDisplay, print_summary
    from orchestrator.config import load_models, load_scenario
    from orchestrator.driver import execute_run
    from orchestrator.prepare import RAY_WORKERS, RunRequest, default_out_dir, prepare_run

    check_numbers(args)
    if (args.workers is not None or args.ray_address) and (args.executor or "local") != "ray" and not args.resume:
        raise UserError("--workers/--ray-address: only with --executor ray")
    if args.retry_failed and not args.resume:
        raise UserError("--retry-failed: only with --resume RUN_DIR")
    if args.resume:
        request, hub_mode = resume_request(args)
    else:
        scenario, scenario_path = load_scenario(args.scenario)
        scenario = apply_critic_flags(scenario, args)
        models, models_path = load_models(args.models)
        request = RunRequest(
            scenario=scenario, scenario_path=scenario_path, models=models, models_path=models_path,
            num_conversations=args.num_conversations or scenario.num_conversations,
            out_dir=args.out or default_out_dir(scenario.name),
            seed=args.seed, concurrency=args.concurrency or 1, command_line=tuple(sys.argv),
            max_failures=args.max_failures, executor=args.executor or "local",
            workers=args.workers or (RAY_WORKERS if args.executor == "ray" else 1), ray_address=args.ray_address,
        )
        hub_mode = args.few_shot
    prepared = prepare_run(request, hub_mode=hub_mode)
    console = Console(stderr=True)
    with ProgressDisplay(request.num_conversations, console) as display:
        summary = asyncio.run(execute_run(prepared, display.update))
    print_summary(summary, console)
    if summary.missing:
        retry = ""
        if summary.failed and not summary.stop_reason:  # plain runs: the failure budget was spent
            retry = f"; `run.py --resume {request.out_dir} --retry-failed` runs the failed ones again"
        print(f"error: the run ended short of its target: {summary.written} of {summary.target} conversation(s) "
              f"written, {summary.missing} missing{retry}", file=sys.stderr)
        return 1
    return 0


def check_numbers(args: argparse.Namespace) -> None:
    """Every numeric flag within its range (orchestrator/config/limits.py)."""
    from orchestrator.config.limits import (
        MAX_CANDIDATES,
        MAX_CONCURRENCY,
        MAX_CONVERSATIONS,
        MAX_SEED,
        MAX_TOKEN_BUDGET,
        MAX_WORKERS,
        check_number,
    )

    check_number("--num-conversations", args.num_conversations, 1, MAX_CONVERSATIONS)
    check_number("--concurrency", args.concurrency, 1, MAX_CONCURRENCY)
    check_number("--max-failures", args.max_failures, 1, MAX_CONVERSATIONS)
    check_number("--workers", args.workers, 1, MAX_WORKERS)
    check_number("--seed", args.seed, 0, MAX_SEED)
    check_number("--max-candidates", args.max_candidates, 1, MAX_CANDIDATES)
    check_number("--max-tokens", args.max_tokens, 1, MAX_TOKEN_BUDGET)


def resume_request(args: argparse.Namespace) -> tuple[Any, Any]:
    """The interrupted run's request, from its manifest; only where and how widely it runs
    (--concurrency, --executor, --workers, --ray-address) may change."""
    from orchestrator.prepare import RunRequest
    from orchestrator.store.resume import resume_settings

    settings = resume_settings(args.resume)
    hub_mode = settings.pop("few_shot_mode")
    overrides = {"concurrency": args.concurrency, "executor": args.executor, "workers": args.workers,
                 "ray_address": args.ray_address}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if args.executor == "local" and args.ray_address is None:
        settings["ray_address"] = None
    return RunRequest(out_dir=args.resume, command_line=tuple(sys.argv), resume=True, retry_failed=args.retry_failed,
                      **settings), hub_mode


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
        from pydantic import ValidationError

        from orchestrator.config import CriticsConfig
        from orchestrator.config.yaml_files import describe_validation_error

        # Asking for iterations or a budget turns a disabled panel on.
        try:
            critics = CriticsConfig.model_validate({**critics.model_dump(), **overrides, "enabled": True})
        except ValidationError as exc:
            raise UserError(describe_validation_error("command line", exc, model=CriticsConfig)) from None
        return scenario.model_copy(update={"critics": critics})
    return scenario
