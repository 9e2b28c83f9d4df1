"""Tokens per accepted conversation: our constrained selector vs AutoGen's stock LLM selector.

Both runs use the embedded model, the same scenario, seed and conversation count; only the
scenario's `selector` differs (`constrained`: schema-constrained call over the eligible names,
no call with one candidate; `autogen`: SelectorGroupChat's default prompt, the ConvoGen flow).
Reported: total tokens (all roles) and selector tokens per written conversation, and the
ratios constrained / autogen (goal: <= 0.5 for the selector).

    .venv/bin/python -m benchmarks.selector_tokens -n 4 --seed 11
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from orchestrator import RunRequest, execute_run, load_models, load_scenario, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS


def measure(selector: str, args: argparse.Namespace) -> dict[str, object]:
    scenario, scenario_path = load_scenario(args.scenario)
    scenario = scenario.model_copy(update={"selector": selector, "critics": None})
    models, models_path = load_models(None)
    out = Path(tempfile.mkdtemp(prefix=f"symposia-selector-{selector}-")) / "run"
    request = RunRequest(scenario=scenario, scenario_path=scenario_path, models=models, models_path=models_path,
                         num_conversations=args.num_conversations, out_dir=out, seed=args.seed)
    summary = asyncio.run(execute_run(prepare_run(request)))
    written = max(summary.written, 1)

    def tokens(usage: dict[str, object]) -> int:
        return int(usage["prompt_tokens"]) + int(usage["completion_tokens"])  # type: ignore[call-overload]

    selector_usage = summary.usage.get("selector", {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0})
    return {
        "selector": selector,
        "written": summary.written,
        "failed": summary.failed,
        "turns": sum(len(r["turns"]) for r in read_jsonl(out / CONVERSATIONS).records),
        "tokens_per_conversation": round(summary.total_tokens / written, 1),
        "selector_tokens_per_conversation": round(tokens(selector_usage) / written, 1),
        "selector_calls_per_conversation": round(int(selector_usage["calls"]) / written, 2),
        "wall_seconds": round(summary.seconds, 1),
        "run_dir": str(out),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("-n", "--num-conversations", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/selector_tokens.json"))
    args = parser.parse_args()
    constrained = measure("constrained", args)
    stock = measure("autogen", args)
    result = {
        "scenario": args.scenario, "seed": args.seed, "model": "embedded SmolLM2-135M-Instruct",
        "constrained": constrained, "autogen": stock,
        "selector_token_ratio": round(float(constrained["selector_tokens_per_conversation"])  # type: ignore[arg-type]
                                      / max(float(stock["selector_tokens_per_conversation"]), 1e-9), 3),  # type: ignore[arg-type]
        "total_token_ratio": round(float(constrained["tokens_per_conversation"])  # type: ignore[arg-type]
                                   / max(float(stock["tokens_per_conversation"]), 1e-9), 3),  # type: ignore[arg-type]
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
