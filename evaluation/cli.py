"""`python run.py evaluate RUN_DIR [RUN_DIR ...] [--baseline chitchat] [--out DIR] [--no-judge]
[--judge-limit N] [--models FILE]`: measure runs (or JSONL files of conversation records),
write evaluation/ (report.md, metrics.json, PNG plots) and print one comparison table."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from agents.errors import UserError
from evaluation.corpus import BASELINE_NAMES, Dataset, load_baseline, load_path
from evaluation.evaluate import DatasetEvaluation, evaluate_dataset
from evaluation.judge.geval import JudgeItem
from evaluation.outputs import comparison_rows, markdown_table, text_table, write_evaluation
from orchestrator.store.layout import EVALUATION_METRICS, EVALUATION_REPORT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py evaluate", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        help="run directories or JSONL files of conversation records",
    )
    parser.add_argument(
        "--baseline", choices=BASELINE_NAMES, help="also measure a bundled human corpus"
    )
    parser.add_argument(
        "--baseline-limit",
        type=int,
        help="measure a seeded sample of N baseline conversations (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write here instead of RUN_DIR/evaluation (one sub-directory per input if several)",
    )
    parser.add_argument("--no-judge", action="store_true", help="skip the LLM judge")
    parser.add_argument(
        "--judge-limit", type=int, help="judge at most N conversations per input (default: all)"
    )
    parser.add_argument(
        "--models",
        help="model configuration YAML; the judge uses role 'judge' "
        "(default: scenarios/models/local.yaml)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for the judge engine and samples (default: 0)"
    )
    return parser


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _out_dirs(datasets: list[Dataset], out: Path | None) -> list[Path]:
    if out is None:
        return [d.out_dir or Path("evaluation") / d.name for d in datasets]
    if len(datasets) == 1:
        return [out]
    used: set[str] = set()
    dirs = []
    for d in datasets:
        name = "baseline-chitchat" if d.kind == "baseline" else d.name
        while name in used:
            name += "_"
        used.add(name)
        dirs.append(out / name)
    return dirs


async def _evaluate_all(
    args: argparse.Namespace, datasets: list[Dataset]
) -> list[DatasetEvaluation]:
    hub = engine = None
    if not args.no_judge and any(c.experience for d in datasets for c in d.conversations):
        from orchestrator.config import load_models
        from orchestrator.models.hub import ModelHub

        models, models_path = load_models(args.models)
        hub = ModelHub(models, models_path, seed=args.seed)
        hub.preflight(["judge"])
        engine = hub.logprob_client("judge")
        cache = "on" if hub.caches("judge") else "off"
        _log(f"judge: {engine.description} (LLM cache {cache})")

    def on_item(item: JudgeItem) -> None:
        shown = (
            f"{item.score:.2f} ({item.method})"
            if item.score is not None
            else f"failed: {item.error}"
        )
        _log(f"  judge {item.conversation_id}/{item.question_id}: {shown}")

    results = []
    try:
        for d in datasets:
            _log(f"evaluating {d.name}: {len(d.conversations)} conversations")
            for note in d.notes:
                _log(f"  note: {note}")
            judge = engine if d.kind != "baseline" else None
            results.append(
                await evaluate_dataset(
                    d, judge=judge, judge_limit=args.judge_limit, on_judge_item=on_item
                )
            )
    finally:
        if hub is not None:
            if engine is not None:
                _log(f"judge: {engine.calls} calls, {engine.cached_calls} from the LLM cache; "
                     f"endpoints: {hub.endpoint_stats() or 'embedded model'}")
            await hub.close()
    return results


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not args.inputs and not args.baseline:
        raise UserError("evaluate: give at least one RUN_DIR or JSONL file, or --baseline chitchat")
    for flag in ("judge_limit", "baseline_limit"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')}: must be at least 1 (got {value})")
    datasets = [load_path(p) for p in args.inputs]
    for d in datasets:
        if not d.conversations:
            raise UserError(f"{d.source}: no conversations to evaluate")
    if args.baseline:
        datasets.append(load_baseline(args.baseline, args.baseline_limit, args.seed))
    evaluations = asyncio.run(_evaluate_all(args, datasets))
    rows = comparison_rows([e.metrics for e in evaluations])
    comparison_md = markdown_table(rows)
    # The baseline alone gets a directory only with --out (it has no run directory of its own).
    for evaluation, out_dir in zip(evaluations, _out_dirs(datasets, args.out), strict=True):
        if evaluation.dataset.kind == "baseline" and args.out is None:
            continue
        written = write_evaluation(evaluation, out_dir, comparison_md, evaluations)
        _log(f"wrote {written}/{EVALUATION_REPORT}, {EVALUATION_METRICS}, plots")
    print(text_table(rows))
    return 0
