"""Compute every figure for one dataset: statistics, MTLD, distinct-n, diversity, judge."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from evaluation.corpus import Dataset
from evaluation.diversity import Encoder, dataset_diversity, minilm_encode
from evaluation.judge.geval import JudgeItem, item_dicts, judge_conversations, summarise
from evaluation.metrics import (
    dataset_statistics,
    distinct_ns,
    mtld_per_conversation,
    words_per_turn,
)
from orchestrator.models.logprobs import LogprobClient


@dataclass
class DatasetEvaluation:
    dataset: Dataset
    metrics: dict[str, Any]
    mtld_values: list[float]
    words_per_turn: list[int]
    judge_items: list[JudgeItem] = field(default_factory=list)


async def evaluate_dataset(
    dataset: Dataset,
    *,
    encode: Encoder = minilm_encode,
    judge: LogprobClient | None = None,
    judge_limit: int | None = None,
    on_judge_item: Any = None,
) -> DatasetEvaluation:
    started = time.perf_counter()
    convs = dataset.conversations
    mtld = mtld_per_conversation(convs)
    diversity, _ = dataset_diversity(convs, encode=encode)
    metrics: dict[str, Any] = {
        "name": dataset.name,
        "source": dataset.source,
        "kind": dataset.kind,
        "notes": list(dataset.notes),
        "statistics": dataset_statistics(convs),
        "mtld": mtld.summary(),
        "mtld_per_conversation": {k: round(v, 3) for k, v in mtld.per_conversation.items()},
        "distinct": distinct_ns(convs),
        "diversity": diversity,
    }
    if dataset.manifest:
        metrics["run"] = {
            k: dataset.manifest.get(k) for k in ("status", "few_shot_mode", "seed", "model_by_role")
        }
        metrics["run"]["persona_source"] = (
            (dataset.manifest.get("scenario") or {}).get("personas") or {}
        ).get("source", "generated")
    items: list[JudgeItem] = []
    if judge is not None and any(c.experience for c in convs):
        items = await judge_conversations(judge, convs, limit=judge_limit, on_item=on_judge_item)
        metrics["judge"] = summarise(items, judge.description)
        metrics["judge_items"] = item_dicts(items)
    else:
        metrics["judge"] = None
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    return DatasetEvaluation(
        dataset, metrics, list(mtld.per_conversation.values()), words_per_turn(convs), items
    )
