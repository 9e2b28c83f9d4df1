#!/usr/bin/env python3
"""1,000 conversations with 256 in flight against the simulated endpoint (fixed latency).

Reports wall time against the ideal (LLM calls x latency / concurrency: a perfectly packed
run that only waits on the endpoint), the orchestrator's CPU per LLM call (this process only;
the endpoint runs in its own process) and peak memory. Goals: wall <= 1.25x ideal, CPU per call
<= 2 ms. Not a timed test: run it by hand.

Where the wall time beyond the ideal goes: `mean_call_seconds` (what the orchestrator waited
per call) against the latency, `endpoint.mean_late_ms` (the endpoint's own sleeps ending late:
a busy machine), and the load average (other processes on the machine). `--profile FILE`
writes a cProfile of the run (the CPU figures then include the profiler's overhead).

    .venv/bin/python benchmarks/scale.py -n 1000 --concurrency 256 --latency 1.0
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.config import load_models, load_scenario
from orchestrator.pipeline import RunRequest, execute_run, prepare_run
from tests.sim_endpoint import models_yaml, running_endpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("-n", "--num-conversations", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per LLM call at the endpoint")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/scale.json"))
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the run here")
    args = parser.parse_args()

    os.environ.setdefault("SIM_API_KEY", "benchmark")
    work = Path(tempfile.mkdtemp(prefix="symposia-scale-"))
    budget = str(int(args.num_conversations * 40 / max(args.concurrency, 1) * args.latency + 600))
    with running_endpoint("--latency", str(args.latency), "--fault-rate", str(args.fault_rate),
                          "--max-seconds", budget, "--max-requests", "10000000") as base_url:
        models_file = work / "models.yaml"
        models_file.write_text(models_yaml(base_url, timeout=max(30.0, args.latency * 5), extra="cache: {store: off}\n",
                                           extra_backend=f"    retry: {{max_in_flight: {args.concurrency}}}\n"))
        scenario, scenario_path = load_scenario(args.scenario)
        scenario = scenario.model_copy(update={"critics": None})
        models, models_path = load_models(models_file)
        request = RunRequest(scenario=scenario, scenario_path=scenario_path, models=models, models_path=models_path,
                             num_conversations=args.num_conversations, out_dir=work / "run", seed=args.seed,
                             concurrency=args.concurrency)
        prepared = prepare_run(request)
        load_before = os.getloadavg()
        profile = cProfile.Profile() if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        summary = asyncio.run(execute_run(prepared))
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        served = httpx.get(base_url + "/stats").json()
    if profile is not None:
        profile.dump_stats(args.profile)
    calls = sum(int(u["calls"]) for u in summary.usage.values())
    waited = sum(float(u["seconds"]) for u in summary.usage.values())
    ideal = calls * args.latency / args.concurrency
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "conversations_written": summary.written, "conversations_failed": summary.failed,
        "concurrency": args.concurrency, "latency_seconds": args.latency, "fault_rate": args.fault_rate,
        "llm_calls": calls, "calls_by_role": {r: u["calls"] for r, u in summary.usage.items()},
        "wall_seconds": round(wall, 2), "ideal_seconds": round(ideal, 2), "wall_over_ideal": round(wall / ideal, 3),
        "orchestrator_cpu_seconds": round(cpu, 2), "cpu_ms_per_llm_call": round(cpu / calls * 1000, 3),
        "peak_rss_mib": round(peak_mib, 1), "tokens": summary.total_tokens,
        "mean_call_seconds": round(waited / calls, 4),
        "endpoint": {"cpu_seconds": served["cpu_seconds"],
                     "mean_late_ms": round(served["late_seconds"] / max(served["requests"], 1) * 1000, 2)},
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "cpu_count": os.cpu_count(),
        "goals": {"wall_over_ideal<=1.25": wall / ideal <= 1.25, "cpu_ms_per_call<=2": cpu / calls * 1000 <= 2},
        "run_dir": str(work / "run"),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
