"""ConvoGen's fixed-shot vs iterative-sampling comparison (section IV.C), embedded model.

Same scenario, same seed, same number of conversations; only the few-shot hub mode differs.
Reports MTLD (mean ± std), distinct-n and embedding diversity of both runs side by side, and
writes the figures to OUT/fewshot_modes.json.

    .venv/bin/python -m benchmarks.fewshot_modes [--num 6] [--seed 0] [--scenario multiparty]
        [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import evaluation
import orchestrator
from orchestrator.store.layout import CONVERSATIONS


def generate(mode: str, args: argparse.Namespace, out: Path) -> float:
    started = time.perf_counter()
    result = orchestrator.generate(args.scenario, n=args.num, out=out, models=args.models, seed=args.seed,
                                   few_shot=mode)  # type: ignore[arg-type]
    summary = result.summary
    print(
        f"{mode}: {summary.written} written, {summary.failed} failed in {summary.seconds:.0f} s",
        file=sys.stderr,
    )
    return time.perf_counter() - started


def measure(run_dir: Path) -> dict[str, object]:
    metrics = evaluation.evaluate_run(run_dir)
    diversity = metrics["diversity"]
    return {
        "conversations": metrics["statistics"]["conversations"],
        "mtld": metrics["mtld"],
        "distinct": metrics["distinct"],
        "embedding_diversity": diversity["embedding_diversity"],
        "near_duplicate_pairs": (diversity["near_duplicates"] or {}).get("pairs"),
        "topic_diversity": (diversity["topics"] or {}).get("embedding_diversity"),
        "nW_per_T": metrics["statistics"]["nW_per_T"],
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
