"""Embedded-model throughput: conversations per minute, LLM-busy fraction, tokens by role.

LLM-busy fraction = seconds the llama.cpp engine spent inside model calls ÷ wall time of the
run, with model loading excluded (the model is loaded before the clock starts). The goal is
>= 95%: the orchestrator (AutoGen, validation, I/O) must not keep the engine waiting.

    .venv/bin/python -m benchmarks.throughput --scenario multiparty -n 4 --concurrency 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from orchestrator import RunRequest, execute_run, load_models, load_scenario, prepare_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("-n", "--num-conversations", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/throughput.json"))
    args = parser.parse_args()

    scenario, scenario_path = load_scenario(args.scenario)
    models, models_path = load_models(None)
    out = Path(tempfile.mkdtemp(prefix="symposia-bench-")) / "run"
    request = RunRequest(
        scenario=scenario, scenario_path=scenario_path, models=models, models_path=models_path,
        num_conversations=args.num_conversations, out_dir=out, seed=args.seed, concurrency=args.concurrency,
    )
    prepared = prepare_run(request)
    load_started = time.perf_counter()
    engine = prepared.models.backend_client(models.settings_for("persona").backend)
    load_seconds = time.perf_counter() - load_started

    started = time.perf_counter()
    summary = asyncio.run(execute_run(prepared))
    wall = time.perf_counter() - started
    busy = getattr(engine, "busy_seconds", 0.0)
    written = max(summary.written, 1)
    result = {
        "scenario": scenario.name,
        "conversations_written": summary.written,
        "conversations_failed": summary.failed,
        "concurrency": args.concurrency,
        "model_load_seconds": round(load_seconds, 3),
        "wall_seconds": round(wall, 2),
        "engine_busy_seconds": round(busy, 2),
        "llm_busy_fraction": round(busy / wall, 4),
        "conversations_per_minute": round(summary.written / (wall / 60), 3),
        "tokens_per_conversation_by_role": {
            role: round((u["prompt_tokens"] + u["completion_tokens"]) / written, 1)
            for role, u in summary.usage.items()
        },
        "calls_per_conversation_by_role": {role: round(u["calls"] / written, 2) for role, u in summary.usage.items()},
        "run_dir": str(out),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
