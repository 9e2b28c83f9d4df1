"""Embedded-model throughput, A/B in one process on the same seeds: the stock path
(`prefix_reuse: false`: llama-cpp-python's chat completion, measured history layout, grammar on
the whole vocabulary, judge scores on a logits_all sibling) against the extending engine (each
agent's context extended by its new tokens only, append-only layout, grammar on a top-k
shortlist, judge scores from the explanation call's state).

For each path: wall per conversation, seconds per call by role, prompt tokens evaluated vs reused,
decode tok/s with and without grammar, the G-Eval judge's seconds per item on the same
conversations, and the workload's physical limit: completion tokens / decode rate + tokens that
must be read at least once / prompt rate, both rates measured here (benchmarks/engine_rates.py,
before and after the runs), with the ratio of wall time to it. Quality figures (run_quality.py)
show whether the conversations are of the same kind. Since issue 15 the extending path also
decodes with what the stock path lacks (the DRY setting of scenarios/models/local.yaml and the
mask on a reply opening with its speaker's name); the figures in benchmarks/results/ were
measured before that.

    .venv/bin/python -m benchmarks.throughput --scenario multiparty -n 3 --threads 2

`--threads` fixes llama.cpp's threads for the runs and the rate measurements alike, so that the
physical limit is computed at the rates the runs had: the machine's cores when it is quiet, 1 on
a busy 2-core machine (thread_policy.py). Unset, the runs choose per call and the rates use what
the policy chooses when they are measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.engine_rates import measure_rates
from benchmarks.run_quality import run_quality
from evaluation.corpus import load_path
from evaluation.judge.geval import judge_conversations
from orchestrator import RunRequest, execute_run, load_models, load_scenario, prepare_run
from orchestrator.config import ModelsConfig
from orchestrator.models.hub import ModelHub
from orchestrator.models.local import LocalLlamaClient, bundled_model_path
from orchestrator.models.thread_policy import AdaptiveThreads

PATHS = {"stock": False, "extending": True}  # name -> prefix_reuse


def _models(prefix_reuse: bool, threads: int | None) -> ModelsConfig:
    """The default models file with one backend switch; no LLM cache (every call must run)."""
    base, _ = load_models(None)
    data = base.model_dump()
    for backend in data["backends"].values():
        if backend["type"] == "local":
            backend["prefix_reuse"] = prefix_reuse
            if threads:
                backend["n_threads"] = threads
    data["cache"] = {"store": "off"}
    return ModelsConfig.model_validate(data)


def _engine(hub: ModelHub) -> LocalLlamaClient:
    (engine,) = hub.local_engines()
    return engine


def _rounded(data: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in data.items()}


def run_path(name: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    scenario, scenario_path = load_scenario(args.scenario)
    models = _models(PATHS[name], args.threads)
    request = RunRequest(scenario=scenario, scenario_path=scenario_path, models=models,
                         models_path=Path(f"{name}.yaml"), num_conversations=args.num_conversations,
                         out_dir=out / name, seed=args.seed)
    prepared = prepare_run(request)
    engine = prepared.models.backend_client(models.settings_for("persona").backend)
    assert isinstance(engine, LocalLlamaClient) and engine.prefix_reuse == PATHS[name]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    summary = asyncio.run(execute_run(prepared))
    wall = time.perf_counter() - started
    totals = engine.totals.as_dict()
    written = max(summary.written, 1)
    by_role = {}
    for role, usage in summary.usage.items():
        calls = max(int(usage["calls"]), 1)
        reused = int(usage.get("reused_prompt_tokens", 0))
        by_role[role] = {"calls": usage["calls"], "seconds_per_call": round(usage["seconds"] / calls, 2),
                         "prompt_tokens": usage["prompt_tokens"], "evaluated": usage["prompt_tokens"] - reused,
                         "reused": reused, "completion_tokens": usage["completion_tokens"]}
    result = {
        "conversations": summary.written, "failed": summary.failed, "wall_seconds": round(wall, 1),
        "wall_per_conversation": round(wall / written, 1), "engine_busy_fraction": round(engine.busy_seconds / wall, 3),
        "load_average_at_start": round(load, 2), "by_role": by_role, "engine": _rounded(totals),
        "saved_states_peak_mb": round(engine.saved_states_peak_bytes / 2**20, 1),
        "in_run_rates": {
            "prompt_tok_s": (round(totals["evaluated"] / totals["prompt_seconds"], 1)
                             if totals["prompt_seconds"] else None),
            "free_decode_tok_s": (round(totals["free_decode_tokens"] / totals["free_decode_seconds"], 1)
                                  if totals["free_decode_seconds"] else None),
            "grammar_decode_tok_s": (round(totals["grammar_decode_tokens"] / totals["grammar_decode_seconds"], 1)
                                     if totals["grammar_decode_seconds"] else None),
        },
        "quality": run_quality(out / name),
        "run_dir": str(out / name),
    }
    asyncio.run(prepared.models.close())
    return result


async def _judge(name: str, args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    hub = ModelHub(_models(PATHS[name], args.threads), Path(f"{name}.yaml"), seed=0)
    conversations = load_path(run_dir).conversations[: args.judge_conversations]
    try:
        client = hub.logprob_client("judge")
        started = time.perf_counter()
        items = await judge_conversations(client, conversations)
        wall = time.perf_counter() - started
        totals = _engine(hub).totals.as_dict()
    finally:
        await hub.close()
    return {"items": len(items), "seconds_per_item": round(wall / max(len(items), 1), 2),
            "wall_seconds": round(wall, 1), "scores": [None if i.score is None else round(i.score, 3) for i in items],
            "failed": sum(i.score is None for i in items), "engine": _rounded(totals)}


def physical_limit(engine: dict[str, Any], rates: dict[str, float]) -> float:
    """Seconds the workload needs at best: what it generates at the decode rate plus what no
    earlier call had read at the prompt rate."""
    return engine["completion_tokens"] / rates["decode_tok_s"] + engine["first_read"] / rates["prompt_tok_s"]


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    rates = result["rates"]["mean"]
    old, new = result["paths"]["stock"], result["paths"]["extending"]
    for path in (old, new):
        limit = physical_limit(path["engine"], rates)
        path["physical_limit_seconds"] = round(limit, 1)
        path["wall_vs_physical_limit"] = round(path["wall_seconds"] / limit, 2)
    judge_old, judge_new = result["judge"]["stock"], result["judge"]["extending"]
    scored = [(a, b) for a, b in zip(judge_old["scores"], judge_new["scores"], strict=True)
              if a is not None and b is not None]
    return {
        "wall_per_conversation_new_vs_old": round(new["wall_per_conversation"] / old["wall_per_conversation"], 3),
        "new_wall_vs_physical_limit": new["wall_vs_physical_limit"],
        "old_wall_vs_physical_limit": old["wall_vs_physical_limit"],
        "evaluated_prompt_tokens_new_vs_old": round(new["engine"]["evaluated"] / max(old["engine"]["evaluated"], 1), 3),
        "judge_seconds_per_item": {"stock": judge_old["seconds_per_item"], "extending": judge_new["seconds_per_item"]},
        "judge_score_mean_abs_difference": (round(sum(abs(a - b) for a, b in scored) / len(scored), 3)
                                            if scored else None),
        "grammar_vs_free_decode": {k: v for k, v in rates.items() if k.endswith("_vs_free")},
        "goals": {
            "wall_per_conversation <= 1/3 of stock": new["wall_per_conversation"] <= old["wall_per_conversation"] / 3,
            "wall <= 1.5x physical limit": new["wall_vs_physical_limit"] <= 1.5,
            "grammar decode >= 80% of free (persona, experience)":
                min(rates.get("extending_persona_grammar_vs_free", 0.0),
                    rates.get("extending_experience_schema_vs_free", 0.0)) >= 0.8,
            "judge <= 3 s per item": judge_new["seconds_per_item"] <= 3.0,
        },
    }


def _evaluated_reused(usage: dict[str, Any]) -> str:
    return f"{usage.get('evaluated', 0):,} / {usage.get('reused', 0):,}"


def _token_counts(engine: dict[str, Any]) -> str:
    return f"{engine['prompt_tokens']:,} / {engine['evaluated']:,} / {engine['first_read']:,}"


def markdown(result: dict[str, Any]) -> str:
    """The A/B figures as a table, for benchmarks/results and the README."""
    old, new = result["paths"]["stock"], result["paths"]["extending"]
    judge, rates, summary = result["judge"], result["rates"]["mean"], result["summary"]
    rows: list[tuple[str, Any, Any]] = [
        ("wall per conversation, s", old["wall_per_conversation"], new["wall_per_conversation"])]
    for role in sorted(set(old["by_role"]) | set(new["by_role"])):
        a, b = old["by_role"].get(role, {}), new["by_role"].get(role, {})
        rows.append((f"{role}: s per call", a.get("seconds_per_call"), b.get("seconds_per_call")))
        rows.append((f"{role}: prompt tokens evaluated / reused", _evaluated_reused(a), _evaluated_reused(b)))
    rows += [
        ("prompt tokens: all / evaluated / first read", _token_counts(old["engine"]), _token_counts(new["engine"])),
        ("completion tokens", old["engine"]["completion_tokens"], new["engine"]["completion_tokens"]),
        ("decode tok/s under grammar, in the run", old["in_run_rates"]["grammar_decode_tok_s"],
         new["in_run_rates"]["grammar_decode_tok_s"]),
        ("physical limit, s", old["physical_limit_seconds"], new["physical_limit_seconds"]),
        ("wall / physical limit", old["wall_vs_physical_limit"], new["wall_vs_physical_limit"]),
        ("judge: s per item", judge["stock"]["seconds_per_item"], judge["extending"]["seconds_per_item"]),
        ("judge: prompt tokens evaluated", judge["stock"]["engine"]["evaluated"],
         judge["extending"]["engine"]["evaluated"]),
        ("decode tok/s, free", rates.get("stock_free_tok_s"), rates.get("extending_free_tok_s")),
        ("decode tok/s, persona grammar", rates.get("stock_persona_grammar_tok_s"),
         rates.get("extending_persona_grammar_tok_s")),
        ("decode tok/s, experience schema", rates.get("stock_experience_schema_tok_s"),
         rates.get("extending_experience_schema_tok_s")),
        ("persona grammar decode / free decode", rates.get("stock_persona_grammar_vs_free"),
         rates.get("extending_persona_grammar_vs_free")),
        ("experience schema decode / free decode", rates.get("stock_experience_schema_vs_free"),
         rates.get("extending_experience_schema_vs_free")),
    ]
    for key in ("reply_rejections", "persona_calls", "first_replies_leaking", "first_replies", "turns_mean",
                "words_per_turn", "mtld_mean", "experience_rejections"):
        rows.append((f"quality: {key}", old["quality"].get(key), new["quality"].get(key)))
    lines = ["| measure | stock path | extending engine |", "|---|---|---|"]
    lines += [f"| {name} | {a} | {b} |" for name, a, b in rows]
    goals = "; ".join(f"{goal}: {'met' if met else 'not met'}" for goal, met in summary["goals"].items())
    lines += ["", f"Engine rates (mean of before and after, {result['rate_threads']} thread(s)): prompt "
              f"{rates['prompt_tok_s']} tok/s, free decode {rates['decode_tok_s']} tok/s. Wall per conversation, "
              f"extending / stock: {summary['wall_per_conversation_new_vs_old']}. Goals: {goals}."]
    return "\n".join(lines) + "\n"


def _mean_rates(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    return {k: round((before[k] + after[k]) / 2, 3) for k in before
            if isinstance(before[k], float) and isinstance(after.get(k), float)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("-n", "--num-conversations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the models file's)")
    parser.add_argument("--judge-conversations", type=int, default=1, help="conversations judged on both paths")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each engine-rate measurement")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/throughput.json"))
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="symposia-bench-"))
    # the runs' engines choose their threads per call unless --threads fixes them; the rate
    # measurements use what that policy chooses at the time
    threads = AdaptiveThreads(args.threads).choose()
    result: dict[str, Any] = {"command": " ".join(sys.argv), "scenario": args.scenario, "seed": args.seed,
                              "n_threads": args.threads or "adaptive", "rate_threads": threads,
                              "cpus": os.cpu_count(), "paths": {}, "judge": {}, "rates": {}}
    print(f"engine rates before (threads={threads}, load {os.getloadavg()[0]:.1f}) ...", flush=True)
    result["rates"]["before"] = measure_rates(bundled_model_path(), n_threads=threads, repeats=args.repeats)
    for name in PATHS:
        print(f"{name}: {args.num_conversations} conversation(s), seed {args.seed} ...", flush=True)
        result["paths"][name] = run_path(name, args, out)
        print(json.dumps({k: v for k, v in result["paths"][name].items() if k != "quality"}), flush=True)
    judged = Path(result["paths"]["extending"]["run_dir"])  # the same conversations for both judges
    for name in PATHS:
        print(f"judge on the {name} path ...", flush=True)
        result["judge"][name] = asyncio.run(_judge(name, args, judged))
    threads = AdaptiveThreads(args.threads).choose()
    print(f"engine rates after (threads={threads}, load {os.getloadavg()[0]:.1f}) ...", flush=True)
    result["rates"]["after"] = measure_rates(bundled_model_path(), n_threads=threads, repeats=args.repeats)
    result["rates"]["mean"] = _mean_rates(result["rates"]["before"], result["rates"]["after"])
    result["summary"] = summarise(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    table = markdown(result)
    args.json.with_suffix(".md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
