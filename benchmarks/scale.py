"""1,000 conversations with 256 in flight against the simulated endpoint (fixed latency), on the
local executor or on Ray actors.

Reports wall time against the ideal (LLM calls x latency / conversations in flight: a perfectly
packed run that only waits on the endpoint), orchestrator CPU per LLM call and peak memory.
`--concurrency` is the total in flight: with `--executor ray --workers W` each actor gets
concurrency / W. CPU and RSS are this process's (the driver; on the local executor it also runs
every job) plus, on Ray, each actor's own CPU and peak RSS as the actors report them; the
endpoint runs in its own process. `--rss-at 1000,10000` samples the driver's current RSS when
that many conversations are done (on a 10,000 run: does memory grow with the run?).
Goals: wall <= 1.25x ideal, CPU per call <= 2 ms. Not a timed test: run it by hand.

Where the wall time beyond the ideal goes: `mean_call_seconds` (what the orchestrator waited
per call) against the latency, `endpoint.mean_late_ms` (the endpoint's own sleeps ending late:
a busy machine), and the load average (other processes on the machine). `--profile FILE`
writes a cProfile of the run (the CPU figures then include the profiler's overhead).

    .venv/bin/python -m benchmarks.scale -n 1000 --concurrency 256 --latency 1.0
    .venv/bin/python -m benchmarks.scale -n 1000 --concurrency 256 --latency 1.0 --executor ray --workers 2
    .venv/bin/python -m benchmarks.scale -n 10000 --concurrency 256 --latency 1.0 --rss-at 1000,10000
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

from orchestrator import RunRequest, execute_run, load_models, load_scenario, prepare_run
from orchestrator.driver import Progress
from tests.sim_endpoint import models_yaml, running_endpoint


def _current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--workers", type=int, default=2, help="ray: actors (concurrency is split among them)")
    parser.add_argument("--rss-at", default="", help="comma-separated conversation counts to sample RSS at")
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
        workers = args.workers if args.executor == "ray" else 1
        request = RunRequest(scenario=scenario, scenario_path=scenario_path, models=models, models_path=models_path,
                             num_conversations=args.num_conversations, out_dir=work / "run", seed=args.seed,
                             concurrency=max(1, args.concurrency // workers), executor=args.executor, workers=workers)
        prepared = prepare_run(request)
        marks = sorted(int(x) for x in args.rss_at.split(",") if x)
        rss_at: dict[str, float] = {}

        def sample_rss(progress: Progress) -> None:
            if marks and progress.done >= marks[0]:
                rss_at[str(marks.pop(0))] = round(_current_rss_mib(), 1)
        load_before = os.getloadavg()
        profile = cProfile.Profile() if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        summary = asyncio.run(execute_run(prepared, sample_rss))
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        served = httpx.get(base_url + "/stats").json()
    if profile is not None:
        profile.dump_stats(args.profile)
    calls = sum(int(u["calls"]) for u in summary.usage.values())
    actors = summary.executor.get("actors", {})
    start = float(summary.executor.get("start_seconds", 0.0))
    cpu += sum(a["cpu_seconds"] for a in actors.values())
    waited = sum(float(u["seconds"]) for u in summary.usage.values())
    ideal = calls * args.latency / (request.concurrency * workers)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "conversations_written": summary.written, "conversations_failed": summary.failed,
        "executor": args.executor, "workers": workers, "concurrency_total": request.concurrency * workers,
        "latency_seconds": args.latency, "fault_rate": args.fault_rate,
        "llm_calls": calls, "calls_by_role": {r: u["calls"] for r, u in summary.usage.items()},
        "wall_seconds": round(wall, 2), "ideal_seconds": round(ideal, 2), "wall_over_ideal": round(wall / ideal, 3),
        # Ray: starting the cluster and its actors, a fixed cost whatever the run's size
        "executor_start_seconds": start,
        "wall_after_start_over_ideal": round((wall - start) / ideal, 3),
        "orchestrator_cpu_seconds": round(cpu, 2), "cpu_ms_per_llm_call": round(cpu / calls * 1000, 3),
        "peak_rss_mib": round(peak_mib, 1), "rss_mib_at_done": rss_at,
        "actors": actors, "tokens": summary.total_tokens,
        "mean_call_seconds": round(waited / calls, 4),
        "endpoint": {"cpu_seconds": served["cpu_seconds"],
                     "mean_late_ms": round(served["late_seconds"] / max(served["requests"], 1) * 1000, 2)},
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "cpu_count": os.cpu_count(),
        "goals": {"wall_over_ideal<=1.25": wall / ideal <= 1.25, "cpu_ms_per_call<=2": cpu / calls * 1000 <= 2},
        "run_dir": str(work / "run"),
    }
    if args.json == Path("benchmarks/results/scale.json") and (args.executor != "local" or args.rss_at):
        args.json = Path(f"benchmarks/results/scale-{args.executor}-{args.num_conversations}.json")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
