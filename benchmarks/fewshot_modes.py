#!/usr/bin/env python3
"""ConvoGen's fixed-shot vs iterative-sampling comparison (section IV.C), embedded model.

Same scenario, same seed, same number of conversations; only the few-shot hub mode differs.
Reports MTLD (mean ± std), distinct-n and embedding diversity of both runs side by side, and
writes the figures to OUT/fewshot_modes.json.

    .venv/bin/python benchmarks/fewshot_modes.py [--num 6] [--seed 0] [--scenario multiparty]
        [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation.corpus import load_path
from evaluation.diversity import dataset_diversity
from evaluation.metrics import dataset_statistics, distinct_ns, mtld_per_conversation
from orchestrator.config import load_models, load_scenario
from orchestrator.driver import execute_run
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.layout import CONVERSATIONS


def generate(mode: str, args: argparse.Namespace, out: Path) -> float:
    scenario, scenario_path = load_scenario(args.scenario)
    models, models_path = load_models(args.models)
    request = RunRequest(
        scenario=scenario,
        scenario_path=scenario_path,
        models=models,
        models_path=models_path,
        num_conversations=args.num,
        out_dir=out,
        seed=args.seed,
        command_line=tuple(sys.argv),
    )
    started = time.perf_counter()
    summary = asyncio.run(execute_run(prepare_run(request, hub_mode=mode)))  # type: ignore[arg-type]
    print(
        f"{mode}: {summary.written} written, {summary.failed} failed in {summary.seconds:.0f} s",
        file=sys.stderr,
    )
    return time.perf_counter() - started


def measure(run_dir: Path) -> dict[str, object]:
    data = load_path(run_dir)
    mtld = mtld_per_conversation(data.conversations).summary()
    diversity, _ = dataset_diversity(data.conversations)
    return {
        "conversations": len(data.conversations),
        "mtld": mtld,
        "distinct": distinct_ns(data.conversations),
        "embedding_diversity": diversity["embedding_diversity"],
        "near_duplicate_pairs": (diversity["near_duplicates"] or {}).get("pairs"),
        "topic_diversity": (diversity["topics"] or {}).get("embedding_diversity"),
        "nW_per_T": dataset_statistics(data.conversations)["nW_per_T"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=6, help="conversations per mode (default 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("--models", default=None)
    parser.add_argument(
        "--out", type=Path, default=Path("runs") / f"fewshot-modes-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    for mode in ("fixed", "iterative"):
        run_dir = args.out / mode
        seconds = (
            generate(mode, args, run_dir) if not (run_dir / CONVERSATIONS).exists() else 0.0
        )
        results[mode] = {
            "run_dir": str(run_dir),
            "generation_seconds": round(seconds, 1),
            **measure(run_dir),
        }
    (args.out / "fewshot_modes.json").write_text(json.dumps(results, indent=2, default=str))
    print(
        f"{'mode':<10} {'convs':>5} {'MTLD mean':>10} {'MTLD std':>9} {'short':>5} "
        f"{'dist-2':>7} {'emb div':>8} {'topic div':>9}"
    )
    for mode, r in results.items():
        m: Any = r["mtld"]
        d: Any = r["distinct"]
        fmt = lambda v, p=2: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
        print(
            f"{mode:<10} {r['conversations']:>5} {fmt(m['mean']):>10} "
            f"{fmt(m['std']):>9} {m['short_flagged']:>5} "
            f"{fmt(d['distinct_2'], 3):>7} {fmt(r['embedding_diversity'], 3):>8} "
            f"{fmt(r['topic_diversity'], 3):>9}"
        )
    print(f"figures: {args.out / 'fewshot_modes.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
