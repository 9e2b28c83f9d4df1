"""Evaluation from Python: what `run.py evaluate` does, without the command line.

`evaluate_run` measures one run directory (or JSONL file of conversation records) and returns its
metrics dict (statistics, MTLD, distinct-n, diversity, judge); `evaluate_runs` measures several
side by side, optionally with a human baseline, and returns one dict per input (the baseline
last); `aevaluate_runs` is `evaluate_runs` for callers inside an event loop. Nothing is written
unless asked: `write=True` writes report.md, metrics.json and plots to RUN_DIR/evaluation (a JSONL
file: NAME-evaluation/ beside it), `out=DIR` writes there instead (one sub-directory per input
when there are several).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agents.errors import UserError
from evaluation.corpus import Dataset, load_baseline, load_path
from evaluation.evaluate import DatasetEvaluation, evaluate_dataset
from evaluation.judge.geval import JudgeItem
from evaluation.outputs import comparison_rows, markdown_table, write_evaluation
from orchestrator.blocking import blocking
from orchestrator.store.layout import EVALUATION_METRICS, EVALUATION_REPORT

__all__ = ["aevaluate_runs", "evaluate_run", "evaluate_runs"]

Log = Callable[[str], None]


def evaluate_run(
    run: str | Path,
    *,
    judge: bool = False,
    judge_limit: int | None = None,
    models: str | Path | None = None,
    seed: int = 0,
    write: bool = False,
    out: str | Path | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """The metrics of one run directory or JSONL file; the arguments are `evaluate_runs`'s."""
    return evaluate_runs([run], judge=judge, judge_limit=judge_limit, models=models, seed=seed, write=write,
                         out=out, log=log)[0]


async def aevaluate_runs(
    runs: str | Path | Sequence[str | Path] = (),
    *,
    baseline: str | None = None,
    baseline_limit: int | None = None,
    judge: bool = False,
    judge_limit: int | None = None,
    models: str | Path | None = None,
    seed: int = 0,
    write: bool = False,
    out: str | Path | None = None,
    log: Log | None = None,
) -> list[dict[str, Any]]:
    """Measure run directories or JSONL files (one path or several) and `baseline`, e.g.
    "chitchat": a bundled human corpus (a seeded sample of `baseline_limit` conversations if given).

    judge: also ask the LLM judge (role `judge` of the `models` YAML; default: the embedded model)
    about at most `judge_limit` conversations per input; seed: the judge's and the samples' seed;
    log: called with each progress line (inputs, notes on skipped lines, judge items, files).
    `evaluate_runs` blocks until done; `aevaluate_runs` is the same for callers inside an event loop.
    """
    if isinstance(runs, str | Path):
        runs = [runs]  # one path is not a sequence of its characters
    if not runs and not baseline:
        raise UserError("evaluate: give at least one run directory or JSONL file, or a baseline")
    for name, value in (("judge_limit", judge_limit), ("baseline_limit", baseline_limit)):
        if value is not None and value < 1:
            raise UserError(f"{name}: must be at least 1 (got {value})")
    say = log or _quiet
    datasets = [load_path(Path(run)) for run in runs]
    for dataset in datasets:
        if not dataset.conversations:
            raise UserError(f"{dataset.source}: no conversations to evaluate")
    if baseline:
        datasets.append(load_baseline(baseline, baseline_limit, seed))
    evaluations = await _measure(datasets, judge=judge, judge_limit=judge_limit, models=models, seed=seed, log=say)
    if write or out is not None:
        _write(evaluations, Path(out) if out is not None else None, say)
    return [e.metrics for e in evaluations]


evaluate_runs = blocking(aevaluate_runs, "evaluate_runs")


async def _measure(datasets: list[Dataset], *, judge: bool, judge_limit: int | None, models: str | Path | None,
                   seed: int, log: Log) -> list[DatasetEvaluation]:
    hub = engine = None
    if judge and any(c.experience for d in datasets for c in d.conversations):
        # the judge's clients, retries, throttling and cache come from the model hub, as every role's
        from orchestrator.config import load_models
        from orchestrator.models.hub import ModelHub

        config, config_path = load_models(models)
        hub = ModelHub(config, config_path, seed=seed)
        hub.preflight(["judge"])
        engine = hub.logprob_client("judge")
        log(f"judge: {engine.description} (LLM cache {'on' if hub.caches('judge') else 'off'})")

    def on_item(item: JudgeItem) -> None:
        shown = f"{item.score:.2f} ({item.method})" if item.score is not None else f"failed: {item.error}"
        log(f"  judge {item.conversation_id}/{item.question_id}: {shown}")

    results = []
    try:
        for d in datasets:
            log(f"evaluating {d.name}: {len(d.conversations)} conversations")
            for note in d.notes:
                log(f"  note: {note}")
            results.append(await evaluate_dataset(d, judge=engine if d.kind != "baseline" else None,
                                                  judge_limit=judge_limit, on_judge_item=on_item))
    finally:
        if hub is not None:
            if engine is not None:
                log(f"judge: {engine.calls} calls, {engine.cached_calls} from the LLM cache; "
                    f"endpoints: {hub.endpoint_stats() or 'embedded model'}")
            await hub.close()
    return results


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


def _write(evaluations: list[DatasetEvaluation], out: Path | None, log: Log) -> None:
    comparison_md = markdown_table(comparison_rows([e.metrics for e in evaluations]))
    dirs = _out_dirs([e.dataset for e in evaluations], out)
    for evaluation, out_dir in zip(evaluations, dirs, strict=True):
        # The baseline alone gets a directory only with `out` (it has no run directory of its own).
        if evaluation.dataset.kind == "baseline" and out is None:
            continue
        written = write_evaluation(evaluation, out_dir, comparison_md, evaluations)
        log(f"wrote {written}/{EVALUATION_REPORT}, {EVALUATION_METRICS}, plots")


def _quiet(line: str) -> None:
    pass
