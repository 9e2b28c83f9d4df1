"""Do persona replies copy the scene or start with a speaker label, under the measured history
layout (stock path) and the append-only one (extending engine)? The probe behind the layout
choice in orchestrator/models/chat_layout.py.

The same experiences (the seed shots, plus the experiences of any run directories given) are
talked through by fresh persona agents on both paths, with the same seeds, for a few turns. By
default without the persona grammar, as when the layout was first measured (the grammar forbids
every colon, so no "Name:" label could appear with it; `--grammar` keeps it). Each reply is
checked once (reply_attempts 1), so every first attempt is counted: first replies (each persona's
first line, what the original 0-of-18 measure counted) and all replies.

    .venv/bin/python -m benchmarks.layout_leaks --runs RUN_DIR --turns 6 --threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agents.reply_check import leak_problems
from agents.schemas import Experience
from agents.speaker_ids import speaker_ids
from orchestrator.config import ModelsConfig, load_models, load_scenario
from orchestrator.config.prompt_files import load_prompt, load_seed_shots
from orchestrator.models.hub import ModelHub
from orchestrator.stages.conversation import ConversationPrompts, run_group_chat
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS
from orchestrator.store.transcript import Transcript

PATHS = {"stock (measured layout)": False, "extending (append-only layout)": True}


def _models(prefix_reuse: bool, threads: int | None, grammar: bool) -> ModelsConfig:
    base, _ = load_models(None)
    data = base.model_dump()
    for backend in data["backends"].values():
        if backend["type"] == "local":
            backend["prefix_reuse"] = prefix_reuse
            if threads:
                backend["n_threads"] = threads
    if not grammar:
        data["roles"]["persona"]["grammar"] = None
    data["cache"] = {"store": "off"}
    return ModelsConfig.model_validate(data)


def experiences(runs: list[Path], scenario_shots: str) -> list[Experience]:
    found = list(load_seed_shots(scenario_shots))
    for run in runs:
        found += [Experience.model_validate(r["experience"]) for r in read_jsonl(run / CONVERSATIONS).records]
    return found


async def probe(prefix_reuse: bool, args: argparse.Namespace, cases: list[Experience]) -> dict[str, Any]:
    scenario, _ = load_scenario(args.scenario)
    scenario = scenario.model_copy(update={"reply_attempts": 1})
    prompts = ConversationPrompts(load_prompt("persona_agent"), load_prompt("group_chat"))
    hub = ModelHub(_models(prefix_reuse, args.threads, args.grammar), Path("probe.yaml"), seed=args.seed)
    first = first_leaks = replies = reply_leaks = 0
    examples: list[str] = []
    try:
        for index, experience in enumerate(cases):
            transcript = Transcript()
            await run_group_chat(experience, scenario=scenario, prompts=prompts, models=hub, num_turns=args.turns,
                                 transcript=transcript, seed=args.seed * 1000 + index)
            names = [p.name for p in experience.participants]
            labels = [*names, *speaker_ids(names).values()]
            spoken: set[str] = set()
            for event in transcript.events:
                if event["event"] != "model_call" or event["role"] != "persona":
                    continue
                problems = leak_problems(event["reply"], labels)
                replies += 1
                reply_leaks += bool(problems)
                if event["agent"] not in spoken:
                    spoken.add(event["agent"])
                    first += 1
                    first_leaks += bool(problems)
                if problems and len(examples) < 8:
                    examples.append(f"{event['agent']}: {event['reply'][:70]!r} ({'; '.join(problems)})")
    finally:
        await hub.close()
    return {"first_replies": first, "first_replies_leaking": first_leaks, "replies": replies,
            "replies_leaking": reply_leaks, "examples": examples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="run directories whose experiences to add")
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--grammar", action="store_true", help="keep the persona grammar")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/layout_leaks.json"))
    args = parser.parse_args()
    scenario, _ = load_scenario(args.scenario)
    cases = experiences(args.runs, scenario.few_shot.seed_shots)
    result: dict[str, Any] = {"command": " ".join(sys.argv), "experiences": len(cases), "turns": args.turns,
                              "persona_grammar": args.grammar, "paths": {}}
    for name, prefix_reuse in PATHS.items():
        print(f"{name} ...", flush=True)
        result["paths"][name] = asyncio.run(probe(prefix_reuse, args, cases))
        print(json.dumps(result["paths"][name]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
