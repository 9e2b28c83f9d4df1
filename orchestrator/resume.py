"""Resuming an interrupted run (`run.py --resume RUN_DIR`): everything comes from the run
directory, so the continuation uses the same scenario, models, seed and per-index seeds.

Complete records are kept (a torn last line is cut off), the few-shot hub and its RNG state
come from hub.json, and the indices that never completed are produced again; ids are never
duplicated because an index completes at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.schemas import Experience
from orchestrator.config import ModelsConfig, Scenario
from orchestrator.errors import UserError
from orchestrator.fewshot_hub import FewShotHub
from orchestrator.records import ConversationRecord, FailureRecord
from orchestrator.run_store import CONVERSATIONS, FAILURES, HUB, MANIFEST, RunStore
from orchestrator.transcript import RoleUsage


@dataclass
class RestoredRun:
    """What an interrupted run had completed."""

    written: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    usage: dict[str, RoleUsage] = field(default_factory=dict)
    failure_reasons: list[str] = field(default_factory=list)
    tokens: int = 0
    experiences: list[tuple[str, Experience]] = field(default_factory=list)  # (id, experience) written


def restore(store: RunStore) -> RestoredRun:
    restored = RestoredRun()
    conversations = store.complete_records(CONVERSATIONS, ConversationRecord)
    failures = store.complete_records(FAILURES, FailureRecord)
    for record in [*conversations, *failures]:
        for role, usage in record.usage.items():
            restored.usage.setdefault(role, RoleUsage()).merge(RoleUsage(**usage.model_dump()))
    restored.written = [r.index for r in conversations]
    restored.experiences = [(r.id, r.experience) for r in conversations]
    restored.failed = [r.index for r in failures]
    restored.failure_reasons = [f"{r.id} ({r.stage}): {r.reason}" for r in failures]
    restored.tokens = sum(u.total_tokens for u in restored.usage.values())
    return restored


def restore_hub(store: RunStore) -> tuple[FewShotHub, dict[int, list[str]]] | None:
    """The hub with its RNG state, and the shot ids already chosen per batch."""
    state = store.load_json(HUB)
    if state is None:
        return None
    batches = {int(k): list(v) for k, v in (state.get("batches") or {}).items()}
    return FewShotHub.from_state(state), batches


def resume_settings(run_dir: Path) -> dict[str, Any]:
    """RunRequest fields of the interrupted run, read from its manifest."""
    manifest = RunStore.open(run_dir).load_json(MANIFEST)
    if manifest.get("generator_critic"):
        raise UserError(f"--resume: {run_dir} is a Generator-Critic run; resuming those is not supported yet")
    try:
        return {
            "scenario": Scenario.model_validate(manifest["scenario"]),
            "scenario_path": Path(manifest["scenario_file"]),
            "models": ModelsConfig.model_validate(manifest["models"]),
            "models_path": Path(manifest["models_file"]),
            "num_conversations": int(manifest["num_conversations_requested"]),
            "seed": int(manifest["seed"]),
            "concurrency": int(manifest.get("concurrency", 1)),
            "max_failures": manifest.get("max_failures"),
            "redis_url": (manifest.get("scale_out") or {}).get("redis_url"),
            "run_id": (manifest.get("scale_out") or {}).get("run_id"),
            "worker_id": (manifest.get("scale_out") or {}).get("worker_id"),
            "few_shot_mode": manifest.get("few_shot_mode"),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--resume: {run_dir / MANIFEST} is not a readable run manifest ({exc})") from None
