"""`python run.py personas ...`: validate persona files, expand seed attributes, pair profiles.

personas validate [PATH...]      check persona YAML files (default: personas/); exit 2 on problems
personas expand [options]        SPC persona expansion with the configured models
personas pair --profiles FILE    pairs/groups a profile set yields at thresholds 1-4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import ConfigError, UserError
from orchestrator.config import PROJECT_ROOT, load_models
from orchestrator.config.yaml_files import load_model
from orchestrator.personas.library import PERSONAS_DIR, validate_files
from orchestrator.personas.pairing import Profile, pairing_table
from orchestrator.store.jsonl import encode_line, split_lines

HELP = "validate, expand (SPC) and pair personas"

DEFAULT_SEEDS = PROJECT_ROOT / "personas" / "sources" / "seed_attributes.yaml"


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attributes: list[str] = Field(min_length=2)


class ProfileLine(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    categories: list[int]


def _validate(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] or [PERSONAS_DIR]
    personas, problems = validate_files(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s); {len(personas)} valid persona file(s)", file=sys.stderr)
        return 2
    print(f"{len(personas)} persona file(s) OK")
    return 0


def print_table(profiles: list[Profile], *, min_size: int, max_size: int, seed: int) -> list[dict[str, int]]:
    rows = [
        row.__dict__ for row in pairing_table(profiles, (1, 2, 3, 4), min_size=min_size, max_size=max_size, seed=seed)
    ]
    print(
        f"pairing of {len(profiles)} profiles (similarity = shared persona categories; "
        f"groups of {min_size}-{max_size}):"
    )
    print(f"{'k':>2} {'eligible pairs':>15} {'disjoint pairs':>15} {'groups':>7} {'in groups':>10}")
    for r in rows:
        print(
            f"{r['threshold']:>2} {r['eligible_pairs']:>15} {r['disjoint_pairs']:>15} "
            f"{r['groups']:>7} {r['profiles_in_groups']:>10}"
        )
    return rows


def _pair(args: argparse.Namespace) -> int:
    path = Path(args.profiles)
    if not path.is_file():
        raise UserError(f"--profiles: file not found: {path}")
    profiles = []
    for line in split_lines(path.read_bytes()):
        if line.not_utf8 is not None:
            raise ConfigError(f"{path}: line {line.number} {line.not_utf8}")
        try:
            profiles.append(frozenset(ProfileLine.model_validate_json(line.text).categories))
        except ValidationError as exc:
            raise ConfigError(
                f"{path}:{line.number}: not a profile line ({exc.errors()[0]['msg']}); "
                "expected JSON with 'id' and 'categories' as written by `personas expand`"
            ) from None
    print_table(profiles, min_size=args.min_size, max_size=args.max_size, seed=args.seed)
    return 0


def _expand(args: argparse.Namespace) -> int:
    from orchestrator.config.prompt_files import load_prompt
    from orchestrator.models.hub import ModelHub
    from orchestrator.personas.expansion import (
        CONSISTENCY_ROLE,
        EXPANSION_ROLE,
        ExpansionResult,
        ExpansionSettings,
        PersonaExpander,
    )

    seeds = load_model(Path(args.seeds), SeedFile).attributes
    if args.max_seeds and args.max_seeds < len(seeds):
        seeds = random.Random(args.seed).sample(seeds, args.max_seeds)
    settings = ExpansionSettings(
        distance_threshold=args.distance_threshold,
        near_duplicate=args.near_duplicate,
        growth_target=args.growth,
        per_call=args.per_call,
        max_calls=args.max_calls,
        profiles=args.profiles,
        profile_size=args.profile_size,
        consistency=not args.no_consistency,
        consistency_probe=not args.no_probe,
        seed=args.seed,
    )
    template = load_prompt(args.prompt)
    models_config, models_path = load_models(args.models)
    models = ModelHub(models_config, models_path, seed=args.seed)
    models.preflight((EXPANSION_ROLE, CONSISTENCY_ROLE))
    out = Path(args.out or f"runs/personas-expand-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    expander = PersonaExpander(models, template, settings)

    async def go() -> ExpansionResult:
        try:
            return await expander.expand(seeds)
        finally:
            await models.close()

    result = asyncio.run(go())
    bank = result.bank
    with (out / "attributes.jsonl").open("w", encoding="utf-8") as fh:
        for text, cat, origin in zip(bank.texts, bank.categories, bank.origins, strict=True):
            fh.write(encode_line({"text": text, "category": cat, "origin": origin}))
    with (out / "profiles.jsonl").open("w", encoding="utf-8") as fh:
        for profile in result.profiles:
            fh.write(encode_line(profile))
    with (out / "transcript.jsonl").open("w", encoding="utf-8") as fh:
        for event in expander.transcript.events:
            fh.write(encode_line(event))
    report = result.report()
    report["settings"] = settings.__dict__
    report["seeds_file"] = str(args.seeds)
    report["usage"] = {role: u.model_dump() for role, u in expander.transcript.usage_by_role().items()}
    print(
        f"attributes: {report['attributes_before']} -> {report['attributes_after']} "
        f"(+{report['added']}, {report['growth_percent']}%) in {report['seconds']} s"
    )
    print(f"categories found: {len(report['categories'])}")
    for c in report["categories"]:
        print(
            f"  [{c['id']:>2}] {c['label'] or '(no label)'} | "
            f"{c['query'] or '(query induction failed)'} | "
            f"{c['seed_attributes']} -> {c['attributes_after']} | e.g. {c['example']}"
        )
    print(f"rejected: {report['rejections']}; model failures: {len(report['model_failures'])}")
    print(f"bootstrap calls: {report['calls'].get('bootstrap', 0)}; retired categories: {report['retired_categories']}")
    consistency = report["consistency"]
    if "probe" in consistency:
        print(f"consistency agent: {consistency['probe']['finding']}")
    if consistency.get("pairs_checked"):
        print(
            f"consistency checks: {consistency['pairs_checked']} pairs, "
            f"{report['rejections'].get('profile: contradiction', 0)} judged contradictions"
        )
    print(f"profiles: {len(result.profiles)} of {settings.profiles} asked")
    if result.profiles:
        report["pairing"] = print_table(
            [frozenset(p["categories"]) for p in result.profiles],
            min_size=3,
            max_size=5,
            seed=args.seed,
        )
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out}/attributes.jsonl, profiles.jsonl, report.json, transcript.jsonl")
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `personas` (with its own validate/expand/pair) on a command line's subparsers."""
    parser = subparsers.add_parser(
        "personas", help=HELP, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(handler=handle)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check persona YAML files")
    v.add_argument("paths", nargs="*", help="files or directories (default: personas/)")
    e = sub.add_parser("expand", help="SPC persona expansion")
    e.add_argument("--seeds", default=str(DEFAULT_SEEDS), help="YAML file with `attributes: [...]`")
    e.add_argument("--max-seeds", type=int, default=0, help="use a random subset of N seeds (0: all)")
    e.add_argument("--out", help="output directory (default: runs/personas-expand-<timestamp>)")
    e.add_argument("--models", help="model configuration YAML (default: scenarios/models/local.yaml)")
    e.add_argument("--prompt", default="persona_expansion", help="prompt template name in prompts/")
    e.add_argument(
        "--growth",
        type=float,
        default=1.1,
        help="stop at new >= GROWTH x seeds (default 1.1: more than doubles the seed set)",
    )
    e.add_argument("--per-call", type=int, default=8, help="attributes per bootstrap call")
    e.add_argument("--max-calls", type=int, default=400, help="bootstrap call budget")
    e.add_argument("--distance-threshold", type=float, default=0.75, help="clustering cosine distance")
    e.add_argument("--near-duplicate", type=float, default=0.85, help="cosine for near duplicates")
    e.add_argument("--profiles", type=int, default=10, help="user profiles to assemble")
    e.add_argument("--profile-size", type=int, default=4, help="attributes (categories) per profile")
    e.add_argument("--no-consistency", action="store_true", help="skip the consistency agent")
    e.add_argument(
        "--no-probe",
        action="store_true",
        help="skip measuring the consistency agent on known contradicting/compatible pairs",
    )
    e.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("pair", help="pairing/grouping report for a profiles.jsonl")
    p.add_argument("--profiles", required=True, help="profiles.jsonl written by `personas expand`")
    p.add_argument("--min-size", type=int, default=3)
    p.add_argument("--max-size", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The `personas` parser on its own (prog "run.py personas")."""
    return add_parser(argparse.ArgumentParser(prog="run.py").add_subparsers())


def handle(args: argparse.Namespace) -> int:
    # imported here: the expansion agents pull in AutoGen, which building the command line does not need
    from agents.persona_expansion_agents import MAX_PER_CALL

    if args.command == "validate":
        return _validate(args)
    if args.command == "pair":
        return _pair(args)
    for name in ("growth", "per_call", "max_calls", "profile_size"):
        if getattr(args, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')}: must be positive (got {getattr(args, name)})")
    if args.per_call > MAX_PER_CALL:
        raise UserError(f"--per-call: at most {MAX_PER_CALL} attributes a call (got {args.per_call})")
    return _expand(args)


def main(argv: list[str]) -> int:
    return handle(build_parser().parse_args(argv))
